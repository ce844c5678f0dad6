"""The service under test: a real ``batchwright serve`` subprocess on a free port with a
fresh artifacts dir and store, and a write key and a read key (``service_server.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from service_server import ServiceProcess, StartService, start_service


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartService]:
    """Start servers with settings of the test's choosing (``max_queued_batches=0``...);
    each is stopped (SIGTERM) after the test."""
    started: list[ServiceProcess] = []

    def start(**settings: Any) -> ServiceProcess:
        workdir = tmp_path / f"server{len(started)}"
        workdir.mkdir()
        server = start_service(workdir, **settings)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def service(start_server: StartService) -> ServiceProcess:
    """A server with the default settings; ``.base_url``, ``.write_key``, ``.read_key``."""
    return start_server()
