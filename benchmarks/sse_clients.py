"""Many SSE clients on one running batch: the delay from a row's commit to its event at
each client (p50, p95) and the server's CPU, for 1 and for 50 clients.

    python -m benchmarks.sse_clients [--clients 50] [--rows 300] [--rate 30]

A real ``batchwright serve`` in a child process; the rows are finished in this process
straight into the server's store (as workers on other machines would), at ``--rate``
rows/s, so the figure is the service's alone (no browser competing for the CPU).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil

from batch.models import AttemptRecord, BatchManifest, BatchStatus, CsvDialect, JobStatus, NewJob
from batch.store import ManifestStore, default_store_path
from batch.store._api_keys import ApiKeyStore
from benchmarks.measure import percentile

__all__ = ["main"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCH_")}
    env |= {"BATCH_BASE_DIR": str(workdir), "BATCH_EVENTS_POLL_S": "0.25"}
    argv = [sys.executable, "-m", "batch", "--artifacts", str(workdir / "artifacts")]
    process = subprocess.Popen(
        [*argv, "serve", "--port", str(port)], cwd=workdir, env=env, stdout=subprocess.DEVNULL
    )
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).raise_for_status()
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the server did not start")


def _new_batch(store: ManifestStore, batch_id: str, rows: int) -> None:
    manifest = BatchManifest(
        batch_id=batch_id,
        run_id="bench",
        csv_path="/bench.csv",
        csv_sha256="ab" * 32,
        encoding="utf-8",
        dialect=CsvDialect(delimiter=","),
        headers=["n"],
        flow_ref="bench.yaml",
        flow_name="bench",
        created_at=datetime.now(UTC),
    )
    jobs = (
        NewJob(f"{batch_id}-{i}", batch_id, i, i + 2, {"n": str(i)}, "", JobStatus.PENDING, "")
        for i in range(rows)
    )
    store.create_batch(manifest, jobs)
    store.set_batch_status(batch_id, BatchStatus.RUNNING)


def _finish_rows(
    store: ManifestStore, batch_id: str, rows: int, rate: float, committed: dict[str, float]
) -> None:
    record = AttemptRecord(number=1, started_at=datetime.now(UTC), duration_s=0.1, ok=True)
    start = time.monotonic()
    for i in range(rows):
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        job_id = f"{batch_id}-{i}"
        token = store.claim_job(job_id, "bench", 60)
        assert token is not None
        store.finish_job(job_id, token, record, JobStatus.COMPLETED)
        committed[job_id] = time.time()
    store.set_batch_status(batch_id, BatchStatus.FINISHED)


async def _client(base: str, key: str, batch_id: str, received: dict[str, float]) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as http,
        http.stream("GET", f"/api/v1/batches/{batch_id}/events") as response,
    ):
        event, data = "", ""
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
            elif not line and event == "row":
                received.setdefault(json.loads(data)["job_id"], time.time())
            elif not line and event == "finished":
                return


@dataclass(frozen=True)
class _Server:
    store: ManifestStore
    base: str
    key: str
    pid: int


async def _run(server: _Server, clients: int, rows: int, rate: float) -> str:
    batch_id = f"sse-{clients}"
    store = server.store
    _new_batch(store, batch_id, rows)
    received: list[dict[str, float]] = [{} for _ in range(clients)]
    tasks = [asyncio.create_task(_client(server.base, server.key, batch_id, r)) for r in received]
    await asyncio.sleep(1.0)  # all connected
    process = psutil.Process(server.pid)
    cpu_before = sum(process.cpu_times()[:2])
    committed: dict[str, float] = {}
    writer = threading.Thread(target=_finish_rows, args=(store, batch_id, rows, rate, committed))
    started = time.monotonic()
    writer.start()
    await asyncio.gather(*tasks)
    writer.join()
    elapsed = time.monotonic() - started
    cpu = sum(process.cpu_times()[:2]) - cpu_before
    delays = [r[j] - committed[j] for r in received for j in r]
    missing = clients * rows - len(delays)
    return (
        f"| {clients} | {len(delays):,} | {missing} | {percentile(delays, 50) * 1000:.0f} "
        f"| {percentile(delays, 95) * 1000:.0f} | {cpu:.2f} | {100 * cpu / elapsed:.0f} % |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--rate", type=float, default=30.0, help="rows finished per second")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sse-") as tmp:
        workdir = Path(tmp)
        with ManifestStore(default_store_path(workdir / "artifacts")) as store:
            _, key = ApiKeyStore(store).create("bench", "read")
            port = _free_port()
            process = _serve(workdir, port)
            server = _Server(store, f"http://127.0.0.1:{port}", key, process.pid)
            try:
                lines = [
                    f"SSE: {args.rows} rows finished at {args.rate:g}/s, poll 0.25 s",
                    "",
                    "| clients | events | missed | p50 delay ms | p95 delay ms | server CPU s "
                    "| server CPU |",
                    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
                ]
                for clients in (1, args.clients):
                    lines.append(asyncio.run(_run(server, clients, args.rows, args.rate)))
            finally:
                process.terminate()
                process.wait(30)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
