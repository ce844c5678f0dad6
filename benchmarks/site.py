"""The local form site (examples/demo_site.py) in its own process, and the row data."""

from __future__ import annotations

import contextlib
import csv
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from benchmarks.measure import REPO

__all__ = ["serve_site", "write_rows"]

PLANS = ("basic", "pro", "enterprise")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve_site() -> Iterator[str]:
    """Serve the demo CRM on 127.0.0.1 in a child process; yields its base URL."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "examples" / "demo_site.py"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(url + "/", timeout=1).close()  # noqa: S310  # our own loopback URL
                break
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait()


def write_rows(path: Path, rows: int, *, notes_len: int = 20, start: int = 0) -> Path:
    """``rows`` distinct customers (name, email, plan, notes)."""
    filler = "x" * notes_len
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "email", "plan", "notes"])
        for n in range(start, start + rows):
            writer.writerow([f"Customer {n}", f"c{n}@example.com", PLANS[n % 3], f"{n} {filler}"])
    return path
