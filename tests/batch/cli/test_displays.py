"""Progress sinks write what their readers expect: JSON lines, plain lines, a bar, nothing."""

from __future__ import annotations

import io
import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from batch.cli.displays import (
    JsonLinesProgress,
    LineProgress,
    QuietProgress,
    RichProgress,
    final_line,
    make_progress,
)
from batch.models import (
    AttemptRecord,
    BatchJob,
    BatchManifest,
    CsvDialect,
    JobStatus,
    ProgressEvent,
)
from batch.reports.summary import build_summary


def event(done: int, total: int = 10, **kw: object) -> ProgressEvent:
    values: dict[str, object] = {
        "batch_id": "b-prog",
        "total": total,
        "done": done,
        "completed": done,
        "failed": 0,
        "skipped": 0,
        "flaky": 0,
        "running": 2,
        "elapsed_s": float(done),
        "rate_per_s": 1.0,
        "eta_s": float(total - done),
        "concurrency": 4,
    }
    return ProgressEvent(**(values | kw))  # type: ignore[arg-type]


class FakeClock:
    """A clock the test moves by hand, so time-based printing needs no sleeping."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_json_lines_are_one_parseable_object_per_event() -> None:
    out = io.StringIO()
    with JsonLinesProgress(out) as sink:
        sink(event(1))
        sink(event(2, failed=1, last_job_id="j2", last_status=JobStatus.FAILED))
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(records) == 2
    assert records[0]["event"] == "progress"
    assert records[0]["done"] == 1
    assert records[0]["last_status"] is None
    assert records[1]["last_status"] == "failed"
    assert records[1]["eta_s"] == 8.0


def test_quiet_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with QuietProgress() as sink:
        for done in range(11):
            sink(event(done))
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "")


def test_lines_every_n_rows_every_few_seconds_and_at_the_end() -> None:
    out = io.StringIO()
    clock = FakeClock()
    sink = LineProgress(out, every_rows=3, every_s=5.0, clock=clock)
    with sink:
        sink(event(1))
        sink(event(2))
        assert out.getvalue() == ""
        sink(event(3))  # 3 rows since the last line
        clock.now = 6.0
        sink(event(4))  # 6 seconds since the last line
        sink(event(5))  # held back, printed by close()
    lines = out.getvalue().splitlines()
    assert [line.split(":")[1].split()[0] for line in lines] == ["3/10", "4/10", "5/10"]
    assert lines[0] == (
        "batch b-prog: 3/10 done (3 completed, 0 failed, 0 flaky, 0 skipped) · 1.0 rows/s"
        " · ETA 7s · 2 running of 4"
    )


def test_lines_print_the_last_row_at_once() -> None:
    out = io.StringIO()
    sink = LineProgress(out, every_rows=100, every_s=60.0, clock=FakeClock())
    sink(event(10, eta_s=0.0))
    assert "10/10 done" in out.getvalue()
    sink.close()
    assert out.getvalue().count("\n") == 1


def test_rich_bar_shows_counts_rate_and_concurrency() -> None:
    out = io.StringIO()
    with RichProgress(out) as sink:
        sink(event(4, total=8, completed=3, failed=1, flaky=2, rate_per_s=2.5, eta_s=125.0))
    text = out.getvalue()
    assert "4/8" in text
    assert "3 ok" in text
    assert "1 failed" in text
    assert "2 flaky" in text
    assert "2.5 rows/s" in text
    assert "ETA 2m05s" in text
    assert "2/4 running" in text


def test_make_progress_picks_by_mode_and_terminal() -> None:
    out = io.StringIO()
    assert isinstance(make_progress("auto", out), LineProgress)
    assert isinstance(make_progress("json", out), JsonLinesProgress)
    assert isinstance(make_progress("quiet", out), QuietProgress)
    assert isinstance(make_progress("lines", out), LineProgress)
    assert isinstance(make_progress("rich", out), RichProgress)
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as tty:
        assert isinstance(make_progress("auto", tty), RichProgress)
    os.close(leader)


def test_final_line_summarises_the_run() -> None:
    manifest = BatchManifest(
        batch_id="b-prog",
        run_id="r",
        csv_path="c.csv",
        csv_sha256="0",
        encoding="utf-8",
        dialect=CsvDialect(delimiter=","),
        headers=["a"],
        flow_ref="f.yaml",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert final_line(build_summary(manifest, [])) == (
        "batch b-prog: 0/0 completed (0.0%), 0 failed, 0 flaky, 0 skipped in 0.0 s (0.0 rows/s)"
    )
    t0 = manifest.created_at
    tries = [
        AttemptRecord(number=1, started_at=t0, duration_s=1.0, ok=False),
        AttemptRecord(number=2, started_at=t0, duration_s=1.0, ok=True),
    ]
    jobs = [
        BatchJob(
            job_id=f"j{i}",
            batch_id="b-prog",
            row_index=i,
            source_line=i + 2,
            row_data={"a": "x"},
            status=status,
            attempts=tries if status is JobStatus.COMPLETED else [],
            created_at=t0,
            started_at=t0,
            finished_at=t0 + timedelta(seconds=4),
        )
        for i, status in enumerate(
            [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.SKIPPED, JobStatus.NEEDS_REVIEW]
        )
    ]
    assert final_line(build_summary(manifest, jobs)) == (
        "batch b-prog: 1/4 completed (33.3%), 1 failed, 1 flaky, 1 skipped, 1 needs review"
        " in 4.0 s (1.0 rows/s)"
    )
