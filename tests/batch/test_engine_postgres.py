"""The engine on a PostgreSQL store end to end: create, execute, stop, resume from a
second engine (as another machine would), report. Real Chromium, the local site."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from paths import REPO

from batch.engine import BatchEngine
from batch.models import BatchStatus, JobStatus, ProgressEvent
from runtime.outcome import ErrorCategory

pytestmark = pytest.mark.browser

FORM_FLOW = REPO / "examples" / "add_customer.yaml"


async def test_a_batch_runs_stops_resumes_and_reports_on_postgresql(
    make_engine: Callable[..., BatchEngine], pg_url: str, tmp_path: Path, site: Any
) -> None:
    rows = [f"P{n},p{n}@example.com,basic," for n in range(11)] + ["Bad,not-an-email,basic,"]
    csv_path = tmp_path / "people.csv"
    csv_path.write_text("name,email,plan,notes\n" + "\n".join(rows) + "\n", encoding="utf-8")
    engine = make_engine(concurrency=2, store_url=pg_url)
    assert engine.store.url.backend == "postgresql"
    manifest = engine.create_batch_jobs(csv_path, FORM_FLOW)

    def stop_after_three(event: ProgressEvent) -> None:
        if event.done == 3:
            engine.stop()

    await engine.execute_batch_jobs(manifest.batch_id, stop_after_three)
    halfway = engine.store.get_manifest(manifest.batch_id)
    assert halfway.status is BatchStatus.INTERRUPTED
    assert 3 <= halfway.completed + halfway.failed < 12
    assert halfway.count(JobStatus.RUNNING) == 0

    second = make_engine(concurrency=2, store_url=pg_url)  # another machine, same database
    summary = await second.resume_batch(manifest.batch_id)
    final = second.store.get_manifest(manifest.batch_id)
    assert final.status is BatchStatus.FINISHED
    assert (final.completed, final.failed) == (11, 1)
    emails = sorted(c["email"] for c in site.state.customers)
    assert emails == sorted(f"p{n}@example.com" for n in range(11)), "each row entered once"
    bad = next(j for j in second.store.iter_jobs(manifest.batch_id) if j.row_data["name"] == "Bad")
    assert bad.error_category is ErrorCategory.BUSINESS
    assert summary.total == 12

    second.write_reports(manifest.batch_id)
    batch_dir = second.batch_dir(manifest.batch_id)
    with (batch_dir / "results.csv").open(encoding="utf-8", newline="") as handle:
        statuses = [row["status"] for row in csv.DictReader(handle)]
    assert sorted(statuses) == ["completed"] * 11 + ["failed"]
    assert json.loads((batch_dir / "manifest.json").read_text(encoding="utf-8"))["total"] == 12
    assert (batch_dir / "report.html").is_file()
    assert not (tmp_path / "artifacts" / "batchwright.db").exists(), "no SQLite store on the side"
