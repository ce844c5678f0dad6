"""``python -m benchmarks service``: the same batch started through the HTTP API and
through the CLI, interleaved (each once per repetition), medians over repetitions;
then SSE clients following a running batch.

The CLI contender is ``batchwright run`` (wall time of the command: start, creation,
rows, reports). The API contender is ``POST /api/v1/batches`` (paths under the
server's base_dir) on a warm ``batchwright serve``, then ``GET /api/v1/batches``
polled every 50 ms until the batch is finished: wall time from the POST to seeing it
finished. The goal is API >= 0.95x the CLI's rows/s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from batch.store import ManifestStore, default_store_path
from batch.store._api_keys import ApiKeyStore
from benchmarks.measure import median, percentile
from benchmarks.site import serve_site, write_rows

__all__ = ["Server", "run_service", "run_sse", "serve"]

FLOW = Path(__file__).with_name("form_flow.yaml")
POLL_S = 0.05
_DONE = frozenset({"finished", "interrupted"})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCH_")}
    return env | {"BATCH_BASE_DIR": str(workdir)}


@dataclass
class Server:
    """A running ``batchwright serve``: its URL, a write key, its process."""

    url: str
    key: str
    process: subprocess.Popen[bytes]

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.key}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


@contextlib.contextmanager
def serve(workdir: Path, artifacts: Path) -> Iterator[Server]:
    """``batchwright serve`` on a free port over ``artifacts``' store, ready."""
    with ManifestStore(default_store_path(artifacts)) as store:
        _, key = ApiKeyStore(store).create("benchmark", "write")
    port = _free_port()
    argv = [sys.executable, "-m", "batch", "--artifacts", str(artifacts), "serve",
            "--port", str(port)]  # fmt: skip
    log = (workdir / "server.log").open("wb")
    proc = subprocess.Popen(argv, cwd=workdir, env=_env(workdir), stdout=log, stderr=log)
    server = Server(f"http://127.0.0.1:{port}", key, proc)
    try:
        for _ in range(300):
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{server.url}/api/v1/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError("the server did not start: see " + str(workdir / "server.log"))
        yield server
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        log.close()


def _cli_run(workdir: Path, artifacts: Path, url: str, concurrency: int) -> float:
    argv = [sys.executable, "-m", "batch", "--artifacts", str(artifacts), "run", "rows.csv",
            "--flow", FLOW.name, "--base-url", url, "--concurrency", str(concurrency),
            "--progress", "quiet"]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(argv, cwd=workdir, env=_env(workdir), check=True, capture_output=True)
    return time.perf_counter() - started


def api_run(client: httpx.Client, url: str, concurrency: int) -> tuple[str, float]:
    """Start the batch through the API and wait until it is finished; its id, wall s."""
    body = {"csv_path": "rows.csv", "flow_path": FLOW.name, "base_url": url,
            "concurrency": concurrency}  # fmt: skip
    started = time.perf_counter()
    created = client.post("/api/v1/batches", json=body)
    created.raise_for_status()
    batch_id = str(created.json()["batch_id"])
    while True:
        page = client.get("/api/v1/batches", params={"limit": 1}).json()
        newest = page["items"][0]
        if newest["batch_id"] == batch_id and newest["status"] in _DONE:
            return batch_id, time.perf_counter() - started
        time.sleep(POLL_S)


def run_service(rows: int, reps: int, concurrency: int) -> list[str]:
    """The API-vs-CLI table (Markdown lines)."""
    cli: list[float] = []
    api: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, serve_site() as url:
        workdir = Path(tmp)
        artifacts = workdir / "artifacts"
        write_rows(workdir / "rows.csv", rows)
        shutil.copy(FLOW, workdir / FLOW.name)
        with serve(workdir, artifacts) as server, server.client() as client:
            for rep in range(reps):
                cli.append(rows / _cli_run(workdir, artifacts, url, concurrency))
                api.append(rows / api_run(client, url, concurrency)[1])
                print(f"rep {rep + 1}: CLI {cli[-1]:.2f} rows/s, API {api[-1]:.2f} rows/s")
    base = median(cli)
    return [
        f"{rows} rows, concurrency {concurrency}, {reps} reps (interleaved), medians",
        "",
        "| contender | rows/s | ratio to CLI |",
        "| --- | ---: | ---: |",
        f"| `batchwright run` (CLI) | {base:.2f} | 1.00x |",
        f"| `POST /api/v1/batches` on `batchwright serve` | {median(api):.2f} | "
        f"{median(api) / base:.2f}x |",
    ]


@dataclass
class _Received:
    """What one SSE client saw: when it connected; (receipt time, event, data) each."""

    connected_at: float
    events: list[tuple[float, str, dict[str, Any]]]


async def _follow(server: Server, batch_id: str) -> _Received:
    """One SSE client reading the batch's stream to its end."""
    headers = {"Authorization": f"Bearer {server.key}", "Accept": "text/event-stream"}
    url = f"{server.url}/api/v1/batches/{batch_id}/events"
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(60, read=120)) as client,
        client.stream("GET", url, headers=headers) as response,
    ):
        response.raise_for_status()
        seen = _Received(time.time(), [])
        name, data = "message", ""
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
            elif not line and data:
                seen.events.append((time.time(), name, json.loads(data)))
                name, data = "message", ""
    return seen


def _event_delays(received: list[_Received], artifacts: Path, batch_id: str) -> list[float]:
    """Per row event and client: receipt time minus the row's move in the store
    (finished_at for a final status, started_at for running). Moves from before the
    client connected (replayed to it) are left out."""
    with ManifestStore(default_store_path(artifacts)) as store:
        jobs = {job.job_id: job for job in store.iter_jobs(batch_id)}
    delays = []
    for client in received:
        for at, name, data in client.events:
            job = jobs.get(str(data.get("job_id")))
            if name != "row" or job is None:
                continue
            moved = job.started_at if data.get("status") == "running" else job.finished_at
            if moved is not None and moved.timestamp() >= client.connected_at:
                delays.append(at - moved.timestamp())
    return delays


def _cpu_s(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _finished(artifacts: Path, batch_id: str) -> bool:
    """Read from the store file, not through the API: waiting costs the server nothing."""
    with ManifestStore(default_store_path(artifacts)) as store:
        return store.get_manifest(batch_id).status.value in _DONE


async def _sse_run(
    server: Server, clients: int, url: str, concurrency: int, artifacts: Path
) -> tuple[str, float, list[_Received]]:
    """Start a batch, attach ``clients`` SSE clients at once, wait for its end."""
    body = {"csv_path": "rows.csv", "flow_path": FLOW.name, "base_url": url,
            "concurrency": concurrency}  # fmt: skip
    headers = {"Authorization": f"Bearer {server.key}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as http:
        cpu_before = _cpu_s(server.process.pid)
        created = await http.post("/api/v1/batches", json=body)
        created.raise_for_status()
        batch_id = str(created.json()["batch_id"])
    received = list(await asyncio.gather(*(_follow(server, batch_id) for _ in range(clients))))
    for _ in range(int(3600 / POLL_S)):  # with 0 clients nothing signals the end
        if await asyncio.to_thread(_finished, artifacts, batch_id):
            break
        await asyncio.sleep(POLL_S)
    return batch_id, _cpu_s(server.process.pid) - cpu_before, received


def run_sse(rows: int, clients: int, reps: int, concurrency: int) -> list[str]:
    """The SSE table: a batch with 0 and with ``clients`` clients following it."""
    table: dict[int, list[tuple[float, list[float]]]] = {0: [], clients: []}
    with tempfile.TemporaryDirectory() as tmp, serve_site() as url:
        workdir = Path(tmp)
        artifacts = workdir / "artifacts"
        write_rows(workdir / "rows.csv", rows)
        shutil.copy(FLOW, workdir / FLOW.name)
        with serve(workdir, artifacts) as server:
            with server.client() as http:
                paths = http.get("/api/v1/openapi.json").json()["paths"]
            if "/api/v1/batches/{batch_id}/events" not in paths:
                return ["(no SSE: this server has no GET /api/v1/batches/{batch_id}/events)"]
            for rep in range(reps):
                for n, runs in table.items():
                    batch_id, cpu, received = asyncio.run(
                        _sse_run(server, n, url, concurrency, artifacts)
                    )
                    delays = _event_delays(received, artifacts, batch_id)
                    runs.append((cpu, delays))
                    p95 = percentile(delays, 95)
                    print(f"rep {rep + 1}, {n} clients: server CPU {cpu:.1f} s, p95 {p95:.3f} s")
    lines = [
        f"{rows} rows, concurrency {concurrency}, {reps} reps (interleaved), medians; delay ="
        " receipt of a row event minus the row's move in the store (moves after the client"
        " connected); server CPU: the server process alone (not its Chromium), POST to end",
        "",
        "| SSE clients | server CPU s | row events timed | p50 delay s | p95 delay s |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for n, runs in table.items():
        cpu = median([c for c, _ in runs])
        count = median([float(len(d)) for _, d in runs])
        p50 = median([percentile(d, 50) for _, d in runs]) if n else 0.0
        p95 = median([percentile(d, 95) for _, d in runs]) if n else 0.0
        shown = f"{p50:.3f} | {p95:.3f}" if n else "- | -"
        lines.append(f"| {n} | {cpu:.1f} | {count:.0f} | {shown} |")
    return lines


def main() -> None:
    import argparse  # noqa: PLC0415 - only when run as a script

    parser = argparse.ArgumentParser(prog="python -m benchmarks.service", description=__doc__)
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--sse-clients", type=int, default=50)
    parser.add_argument("--part", choices=["api", "sse", "both"], default="both")
    args = parser.parse_args()
    if args.part in {"api", "both"}:
        print("\n".join(run_service(args.rows, args.reps, args.concurrency)))
    if args.part in {"sse", "both"}:
        print("\n".join(run_sse(args.rows, args.sse_clients, args.reps, args.concurrency)))


if __name__ == "__main__":
    main()
