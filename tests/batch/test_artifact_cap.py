"""The artifact cap reached mid-batch: rows still run and are recorded as they should,
later attempts write no evidence and say why, and the reports say the cap was reached."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from paths import EXAMPLES

from batch.engine import BatchEngine
from batch.models import JobStatus
from batch.settings import load_settings

FLOW = EXAMPLES / "add_customer.yaml"


@pytest.mark.browser
async def test_past_the_cap_attempts_write_no_evidence_and_the_reports_say_so(
    make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    rows = ["good-1", "bad-1", "bad-2", "good-2", "bad-3"]
    lines = [f"{r},{r}@example.com" if "good" in r else f"{r},{r}-no-at-sign" for r in rows]
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text(
        "name,email,plan,notes\n" + "".join(f"{line},pro,\n" for line in lines), encoding="utf-8"
    )
    engine = make_engine(concurrency=1, max_artifacts_mb=1 / 1024)  # 1 KiB: one failure's

    summary = await engine.start_batch(csv_path, FLOW)

    jobs = {j.row_data["name"]: j for j in engine.store.iter_jobs(summary.batch_id)}
    assert [jobs[r].status for r in rows] == [
        JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.FAILED, JobStatus.COMPLETED,
        JobStatus.FAILED,
    ]  # fmt: skip
    first = jobs["bad-1"].attempts[-1]
    assert {a["kind"] for a in first.artifacts} >= {"screenshot", "html", "console"}
    assert first.note == ""
    for name in ("bad-2", "bad-3"):
        later = jobs[name].attempts[-1]
        assert later.artifacts == []
        assert "artifact cap is reached" in later.note
        assert 'expected to contain "Saved' in jobs[name].error_message, "its failure is kept"
    assert jobs["good-2"].attempts[-1].note == "", "a passing row had nothing to skip"
    assert (summary.evidence_skipped, summary.artifact_cap_reached) == (2, True)

    batch_dir = engine.batch_dir(summary.batch_id)
    assert not (batch_dir / "jobs" / f"000002-{summary.batch_id}-000002").exists()
    document = json.loads((batch_dir / "summary.json").read_text(encoding="utf-8"))
    assert document["artifact_cap"] == {
        "max_mb": pytest.approx(1 / 1024),
        "reached": True,
        "attempts_without_evidence": 2,
    }
    assert 'id="artifact-cap"' in (batch_dir / "report.html").read_text(encoding="utf-8")
    assert "artifact cap reached" in (batch_dir / "summary.md").read_text(encoding="utf-8")

    # the cap is the batch's: a retry by an engine configured without one keeps it
    retried = await make_engine(concurrency=1).retry_batch_jobs(summary.batch_id)
    again = {j.row_data["name"]: j for j in engine.store.iter_jobs(summary.batch_id)}
    assert [len(again[name].attempts) for name in ("bad-1", "bad-2", "bad-3")] == [2, 2, 2]
    assert all("artifact cap" in again[n].attempts[-1].note for n in ("bad-1", "bad-2", "bad-3"))
    assert retried.evidence_skipped == 5


def test_the_cap_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCH_MAX_ARTIFACTS_MB", "250")
    assert load_settings().max_artifacts_mb == 250
    monkeypatch.delenv("BATCH_MAX_ARTIFACTS_MB")
    assert load_settings().max_artifacts_mb == 0, "off by default"
