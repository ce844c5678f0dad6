"""One scheduler process for tests/batch/schedule/test_two_processes.py: it waits for
the go file, ticks the 02:00 slot of each of N days at the same injected times as its
rival, and prints the slots it fired as JSON.

    python schedule_contender.py STORE_URL BASE_DIR GO_FILE DAYS
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from batch.engine import BatchEngine
from batch.schedule import Launch, Scheduler
from batch.store import ManifestStore

FIRST = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)


async def keep(launch: Launch) -> None:
    """Run nothing: the test counts fired slots and created batches."""
    launch.engine.close()


async def contend(store: ManifestStore, store_url: str, base: Path, days: int) -> list[str]:
    config = {"artifacts_dir": base / "artifacts", "base_dir": base, "store_url": store_url}
    scheduler = Scheduler(store, keep, lambda options: BatchEngine(config={**config, **options}))
    fired = []
    for day in range(days):
        for result in await scheduler.tick(FIRST + timedelta(days=day)):
            fired.append(result.slot.isoformat())
    return fired


def main() -> None:
    store_url, base, go, days = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
    with ManifestStore(store_url) as store:
        while not go.exists():
            time.sleep(0.005)
        fired = asyncio.run(contend(store, store_url, base, int(days)))
    print(json.dumps(fired))


if __name__ == "__main__":
    main()
