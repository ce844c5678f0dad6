"""``scripts/demo`` as a newcomer runs it: set up, serve the demo CRM, run the example
batch in Chromium. Real subprocesses, a real port taken by another server."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from paths import REPO

pytestmark = pytest.mark.browser

OLD_DEMO_PORT = 8765
"""The port scripts/demo always used: whatever held it got the batch."""


class NotTheDemo(BaseHTTPRequestHandler):
    """Some other web server: 404 for everything."""

    def do_GET(self) -> None:
        self.send_error(HTTPStatus.NOT_FOUND)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@contextlib.contextmanager
def another_server(port: int) -> Iterator[int]:
    """Another HTTP server on ``port`` (0: any); a port already taken is taken enough."""
    try:
        server = HTTPServer(("127.0.0.1", port), NotTheDemo)
    except OSError:
        yield port
        return
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def demo(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """scripts/demo with the artifacts in tmp_path, using this interpreter's venv."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("BATCH_", "PORT"))}
    if sys.prefix != sys.base_prefix:  # a venv: scripts/setup only checks it
        environ["BATCHWRIGHT_VENV"] = sys.prefix
    return subprocess.run(
        [str(REPO / "scripts" / "demo"), "--artifacts", str(tmp_path), "--progress", "lines"],
        env=environ | env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_demo_completes_while_its_old_port_is_taken(tmp_path: Path) -> None:
    with another_server(OLD_DEMO_PORT):
        result = demo(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8/8 completed" in result.stdout, result.stdout + result.stderr
    assert "demo site on http://127.0.0.1:" in result.stdout


def test_demo_stops_clearly_when_the_port_it_is_given_is_taken(tmp_path: Path) -> None:
    with another_server(0) as port:
        result = demo(tmp_path, PORT=str(port))
    assert result.returncode != 0, result.stdout + result.stderr
    assert f"port {port} is taken" in result.stderr, result.stderr
    assert not any(tmp_path.iterdir()), "no batch ran against the other server"
