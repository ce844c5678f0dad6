"""The store fixture, on each backend: every test taking ``store`` runs on both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from batch.store import ManifestStore, StoreUrl


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> StoreUrl:
    """Where each backend's store lives: a SQLite file, or a database of the test's own."""
    if request.param == "sqlite":
        return StoreUrl.parse(tmp_path / "nested" / "batchwright.db")
    return StoreUrl.parse(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(store_url: StoreUrl) -> Iterator[ManifestStore]:
    with ManifestStore(store_url) as opened:
        yield opened
