"""The progress of a group: the group's counts over its files, and each file by name."""

from __future__ import annotations

import io

from batch.cli.displays import (
    GroupLineProgress,
    GroupRichProgress,
    JsonLinesProgress,
    make_group_progress,
)
from batch.models import ProgressEvent

LABELS = {"b-1": "north.csv", "b-2": "south.csv"}
TOTALS = {"b-1": 3, "b-2": 2}


def event(batch_id: str, done: int, total: int, failed: int = 0) -> ProgressEvent:
    return ProgressEvent(
        batch_id=batch_id, total=total, done=done, completed=done - failed, failed=failed,
        skipped=0, flaky=0, running=1, elapsed_s=1.0, rate_per_s=1.0, eta_s=1.0, concurrency=2,
    )  # fmt: skip


def test_lines_name_each_file_and_add_up_the_group() -> None:
    out = io.StringIO()
    with GroupLineProgress(out, "group-x", LABELS, TOTALS, every_rows=1) as sink:
        sink(event("b-1", 1, 3))
        sink(event("b-2", 2, 2, failed=1))
        sink(event("b-1", 3, 3))
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("north.csv · batch b-1: 1/3 done")
    assert lines[1] == "group group-x: 1/5 done (1 completed, 0 failed)"
    assert lines[2].startswith("south.csv · batch b-2: 2/2 done")
    assert lines[-1] == "group group-x: 5/5 done (4 completed, 1 failed)"


def test_lines_held_back_are_printed_at_the_end() -> None:
    out = io.StringIO()
    with GroupLineProgress(out, "group-x", LABELS, TOTALS, every_rows=10, every_s=60) as sink:
        sink(event("b-1", 1, 3))
        sink(event("b-1", 2, 3))
    assert "north.csv · batch b-1: 2/3 done" in out.getvalue()


def test_the_bar_shows_the_group_and_each_file() -> None:
    out = io.StringIO()
    with GroupRichProgress(out, "group-x", LABELS, TOTALS) as sink:
        sink(event("b-1", 2, 3))
        sink(event("b-2", 1, 2))
    text = out.getvalue()
    assert "group group-x" in text
    assert "3/5" in text, "the group's bar counts every file's rows"
    assert "north.csv" in text
    assert "south.csv" in text


def test_make_group_progress_falls_back_to_the_single_modes() -> None:
    out = io.StringIO()
    assert isinstance(make_group_progress("lines", out, "g", LABELS, TOTALS), GroupLineProgress)
    assert isinstance(make_group_progress("json", out, "g", LABELS, TOTALS), JsonLinesProgress)
