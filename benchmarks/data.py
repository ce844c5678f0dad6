"""Ingestion (1M rows, ~100 MB, against raw ``csv.reader``) and report generation
(10k and 100k rows): each in a fresh child process, medians of repetitions."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from benchmarks.measure import median, run_measured
from benchmarks.site import write_rows

__all__ = ["run_ingest", "run_report"]

_CHILD = [sys.executable, "-m", "benchmarks.data_child"]


def _child(
    task: str, csv: Path, workdir: Path, rows: int, store_url: str | None = None
) -> dict[str, float | dict[str, int]]:
    workdir.mkdir(parents=True, exist_ok=True)
    argv = [*_CHILD, task, "--csv", str(csv), "--workdir", str(workdir)]
    if store_url:
        argv += ["--store-url", store_url]
    result = run_measured(argv, rows)
    return {**result.extra, "wall_s": result.wall_s}  # type: ignore[dict-item]


_INGEST_TASKS = {
    "raw": "raw csv.reader",
    "sqlite": "SQLite floor: reader into executemany, bare table",
    "ingest": "batchwright create_batch_jobs",
}
_POSTGRES_TASKS = {
    "pg": "PostgreSQL floor: reader into COPY, bare table",
    "pg-ingest": "batchwright create_batch_jobs, PostgreSQL store",
}
_FLOORS = {"ingest": "sqlite", "pg-ingest": "pg"}


def run_ingest(rows: int, reps: int, store_url: str | None = None) -> list[str]:
    """rows/s and peak RSS of ``create_batch_jobs`` vs ``csv.reader`` and vs the least
    any store of its backend costs (SQLite; PostgreSQL too with ``store_url``),
    interleaved."""
    tasks = _INGEST_TASKS | (_POSTGRES_TASKS if store_url else {})
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        csv = write_rows(Path(tmp) / "big.csv", rows, notes_len=62)
        size_mb = csv.stat().st_size / 1024 / 1024
        speed: dict[str, list[float]] = {task: [] for task in tasks}
        rss: dict[str, list[float]] = {task: [] for task in tasks}
        for rep in range(reps):
            for task in tasks:
                out = _child(task, csv, Path(tmp) / f"w{rep}-{task}", rows, store_url)
                speed[task].append(rows / float(out["seconds"]))  # type: ignore[arg-type]
                rss[task].append(float(out["max_rss_mb"]))  # type: ignore[arg-type]
                print(f"  rep {rep + 1} {task}: {speed[task][-1]:,.0f} rows/s", flush=True)
    raw_speed = median(speed["raw"])
    lines = [
        f"Ingestion: {rows:,} rows, {size_mb:.0f} MB, median of {reps}",
        "",
        "| reader | rows/s | ratio to raw | ratio to its floor | peak RSS MB |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for task, label in tasks.items():
        task_speed = median(speed[task])
        floor = _FLOORS.get(task)
        to_floor = f"{task_speed / median(speed[floor]):.2f}x" if floor else ""
        lines.append(
            f"| {label} | {task_speed:,.0f} | {task_speed / raw_speed:.2f}x"
            f" | {to_floor} | {median(rss[task]):.0f} |"
        )
    return lines


def run_report(sizes: list[int], reps: int) -> list[str]:
    """Seconds to write every report, and the files' sizes, per batch size."""
    lines = [
        f"Reports: write_reports on a finished batch (2 % failed), median of {reps}",
        "",
        "| rows | seconds | peak RSS MB | files (KB) |",
        "| ---: | ---: | ---: | --- |",
    ]
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        for rows in sizes:
            csv = write_rows(Path(tmp) / f"r{rows}.csv", rows)
            runs = [_child("report", csv, Path(tmp) / f"w{rows}-{r}", rows) for r in range(reps)]
            seconds = median([float(r["seconds"]) for r in runs])  # type: ignore[arg-type]
            rss = median([float(r["max_rss_mb"]) for r in runs])  # type: ignore[arg-type]
            files: dict[str, int] = runs[0]["sizes"]  # type: ignore[assignment]
            listed = ", ".join(f"{name} {size / 1024:,.0f}" for name, size in sorted(files.items()))
            lines.append(f"| {rows:,} | {seconds:.1f} | {rss:.0f} | {listed} |")
            print(f"  report {rows}: {seconds:.1f} s", flush=True)
    return lines
