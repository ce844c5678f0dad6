"""``python -m benchmarks``: every benchmark, or one (``python -m benchmarks service``,
or ``--only service``); prints Markdown tables (and writes them to
``benchmarks/results/latest.md``)."""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import psutil

from benchmarks.data import run_ingest, run_report
from benchmarks.memory import run_memory
from benchmarks.service import run_service, run_sse
from benchmarks.throughput import run_throughput

RESULTS = Path(__file__).with_name("results")


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    memory_gb = psutil.virtual_memory().total / 1024**3
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"Machine: {os.cpu_count()} cores ({cpu}), {memory_gb:.0f} GB, {platform.platform()}, "
        f"Python {platform.python_version()}; load average at start {load}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    names = ["throughput", "ingest", "report", "memory", "service"]
    parser.add_argument("name", nargs="?", choices=names, help="only this benchmark")
    parser.add_argument("--only", choices=names)
    parser.add_argument("--rows", type=int, default=40, help="throughput: rows per run")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (medians reported)")
    parser.add_argument("--concurrency", type=int, default=4, help="throughput: jobs at once")
    parser.add_argument("--no-naive", action="store_true", help="throughput: skip (a)")
    parser.add_argument(
        "--contenders",
        nargs="+",
        default=[],
        metavar="WORD",
        help="throughput: only contenders whose name has one of these words (b always runs)",
    )
    parser.add_argument("--sse-clients", type=int, default=50, help="service: SSE clients")
    parser.add_argument("--ingest-rows", type=int, default=1_000_000)
    parser.add_argument("--data-reps", type=int, default=1, help="ingest/report repetitions")
    parser.add_argument(
        "--store-url",
        help="ingest: also a PostgreSQL store and its COPY floor (a scratch database: "
        "postgresql://user@host:5432/db)",
    )
    parser.add_argument("--report-rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--memory-rows", type=int, default=1000, help="5000 for the full curve")
    parser.add_argument("--memory-isolation", default="context")
    parser.add_argument("--recycle", type=int, default=200, help="memory: browser_recycle_jobs")
    args = parser.parse_args()

    sections = [_machine()]
    print(sections[0], flush=True)
    only = args.only or args.name
    wanted = [only] if only else names
    for name in wanted:
        started = time.monotonic()
        print(f"== {name}", flush=True)
        if name == "throughput":
            lines = run_throughput(
                args.rows,
                args.reps,
                args.concurrency,
                naive=not args.no_naive,
                only=args.contenders,
            )
        elif name == "ingest":
            lines = run_ingest(args.ingest_rows, args.data_reps, args.store_url)
        elif name == "report":
            lines = run_report(args.report_rows, args.data_reps)
        elif name == "service":
            lines = run_service(args.rows, args.reps, args.concurrency)
            lines += ["", *run_sse(args.rows, args.sse_clients, args.reps, args.concurrency)]
        else:
            lines = run_memory(
                args.memory_rows, args.concurrency, args.memory_isolation, args.recycle
            )
        text = "\n".join(lines) + f"\n\n({name} took {time.monotonic() - started:.0f} s)"
        print(text, flush=True)
        sections.append(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.md").write_text("\n\n".join(sections) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
