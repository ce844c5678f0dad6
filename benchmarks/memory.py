"""Memory over a long run: the process tree's RSS (Chromium included) every few
hundred rows of a batchwright batch, which stays flat thanks to browser recycling."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from benchmarks.measure import run_measured
from benchmarks.site import serve_site, write_rows

__all__ = ["run_memory"]


def run_memory(rows: int, concurrency: int, isolation: str, recycle: int) -> list[str]:
    """One batch of ``rows``; the curve comes from the child (``memory_child``)."""
    with tempfile.TemporaryDirectory(prefix="bench-mem-") as tmp, serve_site() as url:
        csv = write_rows(Path(tmp) / "rows.csv", rows)
        argv = [
            sys.executable, "-m", "benchmarks.memory_child", "--csv", str(csv), "--url", url,
            "--concurrency", str(concurrency), "--isolation", isolation,
            "--recycle", str(recycle), "--workdir", tmp,
        ]  # fmt: skip
        result = run_measured(argv, rows)
    curve: list[list[float]] = result.extra["curve"]  # type: ignore[assignment]
    lines = [
        f"Memory: {rows:,} rows, {isolation} isolation, concurrency {concurrency}, browser "
        f"recycled every {recycle} jobs; {result.rows_per_s:.1f} rows/s, "
        f"peak tree {result.peak_mb:.0f} MB",
        "",
        "| rows done | tree RSS MB | Python RSS MB |",
        "| ---: | ---: | ---: |",
    ]
    lines += [f"| {int(done):,} | {tree:.0f} | {own:.0f} |" for done, tree, own in curve]
    return lines
