"""The memory benchmark's child: a batchwright batch that samples its own process
tree every ``--every`` finished rows and prints the curve as JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from pathlib import Path

import psutil

from batch.engine import BatchEngine
from batch.models import ProgressEvent
from batch.settings import load_settings
from runtime.browser import tree_rss_bytes
from runtime.run_context import RunContext

__all__ = ["main"]

FLOW = Path(__file__).with_name("form_flow.yaml")
_MB = 1024 * 1024


def _rss(proc: psutil.Process) -> tuple[float, float]:
    """(whole tree, this process alone) in MB."""
    return tree_rss_bytes(proc) / _MB, proc.memory_info().rss / _MB


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--csv", "--url", "--isolation", "--workdir"):
        parser.add_argument(name, required=True)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--recycle", type=int, default=500)
    parser.add_argument("--every", type=int, default=250)
    args = parser.parse_args()
    logging.getLogger("batchwright").setLevel(logging.WARNING)
    csv = Path(args.csv)
    settings = load_settings(
        {
            "base_dir": csv.parent,
            "artifacts_dir": Path(args.workdir) / "artifacts",
            "base_url": args.url,
            "concurrency": args.concurrency,
            "isolation": args.isolation,
            "browser_recycle_jobs": args.recycle,
        },
        read_env=False,
    )
    me = psutil.Process()
    curve: list[tuple[int, float, float]] = [(0, *_rss(me))]

    def progress(event: ProgressEvent) -> None:
        if event.done % args.every == 0:
            curve.append((event.done, *_rss(me)))

    engine = BatchEngine(RunContext(settings=settings))
    summary = asyncio.run(engine.start_batch(csv, FLOW, progress))
    engine.close()
    if summary.counts.get("completed") != summary.total:
        raise SystemExit(f"not every row completed: {summary.counts}")
    print(json.dumps({"curve": curve}))


if __name__ == "__main__":
    main()
