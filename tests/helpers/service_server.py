"""A real ``batchwright serve`` in a subprocess on a free port, for the service's tests
and benchmarks: its own artifacts dir and store, a write key and a read key, its log
captured to a file (so a test can check no key ever reaches it)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from batch.store import ManifestStore, default_store_path
from batch.store._api_keys import ApiKeyStore

__all__ = ["ServiceProcess", "StartService", "free_port", "server_env", "start_service"]

READY_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(settings: dict[str, Any]) -> dict[str, str]:
    """The environment of a server: ours without BATCH_*, then ``settings`` as BATCH_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCH_")}
    env |= {f"BATCH_{name.upper()}": str(value) for name, value in settings.items()}
    return env


@dataclass
class ServiceProcess:
    """A running server: where it is, its keys, its files."""

    base_url: str
    write_key: str
    read_key: str
    workdir: Path
    artifacts: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    env: dict[str, str]

    def client(self, key: str | None = None, **options: Any) -> httpx.Client:
        """An httpx client on the server, with ``key`` as its Bearer token."""
        headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30, **options)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``batchwright --artifacts <its artifacts> ARGS`` on the same store."""
        return subprocess.run(
            [sys.executable, "-m", "batch", "--artifacts", str(self.artifacts), *args],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.process.send_signal(signum)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then wait; killed if it does not exit in time. Its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


StartService = Callable[..., ServiceProcess]
"""The ``start_server`` fixture: ``start(**settings)`` -> a running server."""


def start_service(workdir: Path, **settings: Any) -> ServiceProcess:
    """Start ``batchwright serve`` in ``workdir`` (its base_dir), artifacts under it."""
    artifacts = workdir / "artifacts"
    with ManifestStore(default_store_path(artifacts)) as store:
        keys = ApiKeyStore(store)
        _, write_key = keys.create("test-writer", "write")
        _, read_key = keys.create("test-reader", "read")
    port = free_port()
    env = server_env({"base_dir": workdir, **settings})
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "batch",
                "--artifacts",
                str(artifacts),
                "serve",
                "--port",
                str(port),
            ],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    running = ServiceProcess(
        f"http://127.0.0.1:{port}", write_key, read_key, workdir, artifacts, log_path, process, env
    )
    _wait_ready(running)
    return running


def _wait_ready(service: ServiceProcess) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(
                f"the server exited ({service.process.returncode}):\n{service.log()}"
            )
        try:
            if httpx.get(f"{service.base_url}/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    service.stop()
    raise RuntimeError(f"the server was not ready in {READY_TIMEOUT_S:g} s:\n{service.log()}")
