"""Schedules' fixtures: the example CSV and flow in the test's folder, engines built
the way the service builds them (the schedule's options over the host's settings),
and a launcher that records what it is handed."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from paths import EXAMPLES

from batch.engine import BatchEngine
from batch.schedule import Launch
from batch.store import ManifestStore
from runtime.run_context import RunContext


async def no_sleep(seconds: float) -> None:
    """Retries never wait for real here."""


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    """Two customers of the example CSV, and the example flow beside them."""
    lines = (EXAMPLES / "customers.csv").read_text(encoding="utf-8").splitlines()
    target = tmp_path / "customers.csv"
    target.write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    shutil.copy(EXAMPLES / "add_customer.yaml", tmp_path)
    return target


@pytest.fixture
def engine_factory(
    make_settings: Any, site_url: str
) -> Iterator[Callable[[Mapping[str, Any]], BatchEngine]]:
    """Engines on the test's store, aimed at the local site; closed at the end."""
    made: list[BatchEngine] = []

    def make(options: Mapping[str, Any]) -> BatchEngine:
        values = {"base_url": site_url, "step_timeout_s": 5.0, **options}
        engine = BatchEngine(RunContext(settings=make_settings(**values)), sleep=no_sleep)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.close()


@pytest.fixture
def store(make_settings: Any) -> Iterator[ManifestStore]:
    with ManifestStore.for_settings(make_settings()) as opened:
        yield opened


class Recorder:
    """A launcher that runs nothing: it keeps each launch (and closes its engine)."""

    def __init__(self) -> None:
        self.launches: list[Launch] = []

    async def __call__(self, launch: Launch) -> None:
        self.launches.append(launch)
        launch.engine.close()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
