"""The benchmark's own logic (which contenders run, how the table reads the engine's
concurrency); the measurements themselves are in ``python -m benchmarks``."""

from __future__ import annotations

from benchmarks.measure import Result
from benchmarks.throughput import _table, contenders


def test_contenders_filter_keeps_the_baseline_first() -> None:
    chosen = [c.name for c in contenders(4, pwtest=False, only=["recycled", "page"])]
    assert chosen == [
        "b. minimal loop, 4 at once",
        "c. batchwright recycled, 4",
        "c. batchwright page, 4",
    ]


def test_every_contender_runs_without_a_filter() -> None:
    names = [c.name for c in contenders(2, pwtest=False)]
    assert names[0] == "b. minimal loop, 2 at once"
    assert "a. naive: a browser per row" in names
    assert sum(name.startswith("c. batchwright") for name in names) == 4


def test_table_shows_the_final_limit_auto_reached() -> None:
    def run(rows_per_s: float, concurrency: str) -> Result:
        return Result(10, 10 / rows_per_s, 1.0, 100.0, [0.5], {"concurrency": concurrency})

    lines = _table(
        {
            "b": [run(5.0, "4")],
            "c auto": [run(4.0, "auto (start 2, peak 3, final 3)")],
        },
        rows=10,
        reps=1,
    )
    auto = next(line for line in lines if line.startswith("| c auto"))
    assert "(final limit 3)" in auto
    assert "| 0.80x |" in auto
