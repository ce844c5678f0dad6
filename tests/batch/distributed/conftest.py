"""Real parts for the distributed tests: a redis-server on a free port and two
``batchwright worker`` processes sharing one store and artifacts root."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest
import redis
from workers_cluster import Cluster, free_port, pings, wait_until


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """redis-server on a free port, nothing persisted, in a temp dir."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed: run scripts/setup")
    directory = tmp_path_factory.mktemp("redis")
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    wait_until(lambda: pings(client), 10, "redis-server to answer")
    yield url
    server.terminate()
    server.wait(10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("cluster")
    running = Cluster(root / "artifacts", redis_url)
    running.artifacts.mkdir()
    try:
        running.ensure()
        yield running
    finally:
        running.stop()


@pytest.fixture
def workers(cluster: Cluster) -> Cluster:
    """Both workers up (one killed by an earlier test is started again)."""
    cluster.ensure()
    return cluster
