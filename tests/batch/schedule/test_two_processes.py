"""Two scheduler processes on one store (two ``batchwright serve`` instances) tick
the same slots at the same moments: each slot fires exactly once, on SQLite and on
PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from paths import REPO

from batch.schedule import add_schedule
from batch.store import ManifestStore
from batch.store._schedules import ScheduleStore

CONTENDER = REPO / "tests" / "helpers" / "schedule_contender.py"
DAYS = 12


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'artifacts' / 'batchwright.db'}"
    return str(request.getfixturevalue("pg_url"))


def test_two_processes_fire_each_slot_once(
    store_url: str, tmp_path: Path, csv_file: Path, make_settings: Any
) -> None:
    with ManifestStore(store_url) as store:
        add_schedule(
            store,
            "nightly",
            "0 2 * * *",
            "UTC",
            csv_file,
            "add_customer.yaml",
            {},
            make_settings(),
            datetime(2026, 12, 1, 12, tzinfo=UTC),
        )
    go = tmp_path / "go"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{REPO / 'src'}:{REPO / 'tests' / 'helpers'}"}
    processes = [
        subprocess.Popen(
            [sys.executable, str(CONTENDER), store_url, str(tmp_path), str(go), str(DAYS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    go.touch()
    fired = []
    for process in processes:
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, err
        fired.append(set(json.loads(out)))
    assert not fired[0] & fired[1], "a slot fired twice"
    assert len(fired[0] | fired[1]) == DAYS
    with ManifestStore(store_url) as store:
        batches = store.list_batches()
        assert len(batches) == DAYS
        slots = {b.settings["schedule"]["slot"] for b in batches}
        assert slots == fired[0] | fired[1]
        runs = ScheduleStore(store).runs("nightly", limit=100)
        assert len(runs) == DAYS
        assert {r.outcome for r in runs} == {"fired"}
