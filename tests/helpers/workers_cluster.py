"""Helpers for the distributed tests: free ports, waiting, the workers' environment and
the two-worker ``Cluster`` (fixtures in tests/batch/distributed/conftest.py)."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

WORKER_CONCURRENCY = 3
LEASE_S = 5.0
"""Short, so lost-lease tests stay quick. Workers renew from a thread every ``LEASE_S / 6``
(0.83 s), whatever blocks their event loop (a loop task was seen stalled past 6 s at
load 12 on 2 cores): at load 9-15 on 2 cores the longest gap measured between two
renewals was 1.1 s for a 0.67 s period (526 renewals, LEASE_S 4), far inside the lease."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(check: Callable[[], object], timeout: float, what: str, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def worker_env(redis_url: str, store_url: str | None = None) -> dict[str, str]:
    """The workers' (and CLI's) environment: this broker, short leases, no retry delay;
    the store at ``store_url`` if given, else the artifacts root's SQLite file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCH_")}
    env |= {
        "BATCH_BROKER_URL": redis_url,
        "BATCH_LEASE_S": str(LEASE_S),
        "BATCH_RETRY_DELAY": "0",
        "BATCH_JITTER": "0",
        "BATCH_STEP_TIMEOUT_S": "5",
        "COLUMNS": "200",
    }
    if store_url is not None:
        env["BATCH_STORE_URL"] = store_url
    return env


@dataclass
class RedisServer:
    """redis-server on a fixed free port, nothing persisted: stop and start it again
    (a restart loses every queued message, as a broker without persistence would)."""

    directory: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url)
        wait_until(lambda: pings(client), 10, "redis-server to answer")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@dataclass
class Cluster:
    """Two worker processes on one store (``store_url``, else the artifacts root's SQLite
    file); ``ensure`` restarts any that died."""

    artifacts: Path
    redis_url: str
    store_url: str | None = None
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: dict[int, Path] = field(default_factory=dict)

    def start_worker(self, index: int) -> subprocess.Popen[bytes]:
        log = self.artifacts.parent / f"worker-{index}-{time.monotonic_ns()}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "batch", "--artifacts", str(self.artifacts), "worker",
             "--concurrency", str(WORKER_CONCURRENCY)],
            env=worker_env(self.redis_url, self.store_url), stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.logs[proc.pid] = log
        return proc

    def ready(self, proc: subprocess.Popen[bytes]) -> bool:
        log = self.logs[proc.pid]
        assert proc.poll() is None, f"worker exited: {log.read_text(errors='replace')}"
        return "ready" in log.read_text(errors="replace")

    def ensure(self) -> None:
        """Both workers running and ready; dead ones are started again (in parallel)."""
        for index in range(2):
            if index >= len(self.procs):
                self.procs.append(self.start_worker(index))
            elif self.procs[index].poll() is not None:
                self.procs[index] = self.start_worker(index)
        wait_until(lambda: all(self.ready(p) for p in self.procs), 90, "the workers to start")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


FLOW = """\
name: add-customer-slowly
key: [email]
idempotent: %(idempotent)s
steps:
  - goto: "{{ base_url }}/slow?ms=%(ms)d"
  - goto: "{{ base_url }}/customers/new"
  - fill: { selector: "#name", value: "{{ row.name }}" }
  - fill: { label: "Email", value: "{{ row.email }}" }
  - select: { selector: "#plan", value: "pro" }
  - check: "#terms"
  - click: { role: button, name: "Save customer" }
    commit: true
  - expect_text: { selector: ".flash", text: "Saved {{ row.name }}" }
"""


def write_batch(
    directory: Path, rows: int, *, ms: int = 100, tag: str = "", idempotent: bool = False
) -> tuple[Path, Path]:
    data = directory / f"customers{tag}.csv"
    with data.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "email"])
        for n in range(rows):
            writer.writerow([f"Customer {tag}{n}", f"c{tag}{n}@example.com"])
    flow = directory / f"flow{tag}.yaml"
    flow.write_text(FLOW % {"ms": ms, "idempotent": str(idempotent).lower()}, encoding="utf-8")
    return data, flow


def run_cli(cluster: Cluster, *args: str) -> list[str]:
    return [sys.executable, "-m", "batch", "--artifacts", str(cluster.artifacts), *args]


def submitted_emails(site: Any) -> Counter[str]:
    with site.state.lock:
        return Counter(record["email"] for record in site.state.customers)


def batch_id_of(output: str) -> str:
    return output.split("batch ", 1)[1].split(":", 1)[0].strip()
