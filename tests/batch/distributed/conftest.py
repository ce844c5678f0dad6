"""Real parts for the distributed tests: a redis-server on a free port and two
``batchwright worker`` processes sharing one store and artifacts root."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from workers_cluster import Cluster, RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """redis-server on a free port, nothing persisted, in a temp dir."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed: run scripts/setup")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


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
