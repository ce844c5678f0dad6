"""``python -m benchmarks.workers``: the form flow through the in-process engine and
through 1 and 2 local workers, interleaved (each contender once per repetition),
medians over repetitions. The workers are started (warm) before the first run; the
"1 worker" runs go to a queue only the first worker takes, "2 workers" to one both
take. Rows/s is over the ``run`` command's wall time (creation, dispatch, follow,
reports); latencies are the attempts' durations from the store. Peak memory is the
RSS of the whole process tree: the ``run`` command's, plus the trees of the workers
its queue reaches (their Chromium included). Needs redis-server.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from batch.store import ManifestStore
from benchmarks.measure import REPO, Result, median, percentile, run_measured
from benchmarks.site import serve_site, write_rows

FLOW = Path(__file__).with_name("form_flow.yaml")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _redis(directory: Path) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(0.5)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait()


def _env(broker: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCH_")}
    return env | ({"BATCH_BROKER_URL": broker} if broker else {})


@contextlib.contextmanager
def _workers(artifacts: Path, broker: str, concurrency: int) -> Iterator[list[int]]:
    """Worker 1 takes queues ``one`` and ``two``; worker 2 only ``two``. Yields their pids."""
    procs = []
    for queues in ("one,two", "two"):
        log = (artifacts.parent / f"worker-{queues}.log").open("wb")
        argv = [sys.executable, "-m", "batch", "--artifacts", str(artifacts), "worker",
                "--concurrency", str(concurrency), "--queues", queues]  # fmt: skip
        procs.append(
            subprocess.Popen(argv, env=_env(broker), stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        )
    time.sleep(8)  # Chromium launched, consumers connected
    try:
        yield [proc.pid for proc in procs]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)


def _latencies(artifacts: Path) -> list[float]:
    with ManifestStore(artifacts / "batchwright.db") as store:
        batch_id = store.list_batches(1)[0].batch_id
        return [a.duration_s for job in store.iter_jobs(batch_id) for a in job.attempts]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.workers", description=__doc__)
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    results: dict[str, list[Result]] = {"in-process": [], "1 worker": [], "2 workers": []}
    with tempfile.TemporaryDirectory() as tmp, serve_site() as url, _redis(Path(tmp)) as broker:
        artifacts = Path(tmp) / "artifacts"
        csv = write_rows(Path(tmp) / "rows.csv", args.rows)
        base = [sys.executable, "-m", "batch", "--artifacts", str(artifacts), "run", str(csv),
                "--flow", str(FLOW), "--base-url", url, "--progress", "quiet"]  # fmt: skip
        argv = {
            "in-process": ([*base, "--concurrency", str(args.concurrency)], None, 0),
            "1 worker": ([*base, "--workers", "--queue", "one"], broker, 1),
            "2 workers": ([*base, "--workers", "--queue", "two"], broker, 2),
        }
        with _workers(artifacts, broker, args.concurrency) as pids:
            for rep in range(args.reps):
                for name, (command, broker_url, used) in argv.items():
                    result = run_measured(
                        command, args.rows, env=_env(broker_url), cwd=Path(tmp),
                        also_watch=pids[:used],
                    )  # fmt: skip
                    result.latencies_s = _latencies(artifacts)
                    results[name].append(result)
                    print(f"rep {rep + 1} {name}: {result.rows_per_s:.2f} rows/s", flush=True)
    base_rate = median([r.rows_per_s for r in results["in-process"]])
    print(f"\n{args.rows} rows, concurrency {args.concurrency} per process, {args.reps} reps")
    print("| contender | rows/s | ratio | p50 job s | p95 job s | peak tree MB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, runs in results.items():
        rate = median([r.rows_per_s for r in runs])
        p50 = median([percentile(r.latencies_s, 50) for r in runs])
        p95 = median([percentile(r.latencies_s, 95) for r in runs])
        peak = median([r.peak_mb for r in runs])
        print(
            f"| {name} | {rate:.2f} | {rate / base_rate:.2f} | {p50:.2f} | {p95:.2f} | {peak:.0f} |"
        )


if __name__ == "__main__":
    main()
