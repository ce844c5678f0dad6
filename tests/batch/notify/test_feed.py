"""The progress stream as an async iterator over a real store: rows as they finish,
progress, the end; a reconnect misses nothing and repeats nothing; many clients share
one poller; a client too slow for its queue catches up from the store."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from tests.batch.store.test_store import jobs, manifest

from batch.exceptions import BatchNotFoundError
from batch.models import AttemptRecord, BatchStatus, JobStatus
from batch.notify.feed import ProgressHub
from batch.notify.progress import StreamEvent, format_event_id, parse_event_id
from batch.store import ManifestStore
from batch.store._events import END_OF_SEQ

ROWS = 12


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ManifestStore]:
    with ManifestStore(tmp_path / "store.db") as opened:
        opened.create_batch(manifest("b1"), jobs("b1", ROWS))
        opened.set_batch_status("b1", BatchStatus.RUNNING)
        yield opened


def run_batch(store: ManifestStore, pause_s: float, start: threading.Event) -> threading.Thread:
    """Finish the rows one by one in a thread (as an engine would), then the batch."""

    def work() -> None:
        start.wait(10)
        for index in range(ROWS):
            job_id = f"b1-{index:06d}"
            token = store.claim_job(job_id, "engine", 60)
            assert token is not None
            ok = index % 4 != 3
            record = AttemptRecord(
                number=1, started_at=manifest().created_at, duration_s=0.25, ok=ok
            )
            status = JobStatus.COMPLETED if ok else JobStatus.FAILED
            store.finish_job(job_id, token, record, status)
            time.sleep(pause_s)
        store.set_batch_status("b1", BatchStatus.FINISHED)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


async def collect(stream: AsyncIterator[StreamEvent], rows: int | None = None) -> list[StreamEvent]:
    """Events until ``finished``, or until ``rows`` row events (then the stream is closed)."""
    seen: list[StreamEvent] = []
    async for event in stream:
        seen.append(event)
        if rows is not None and sum(e.event == "row" for e in seen) == rows:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    return seen


def rows_of(events: list[StreamEvent]) -> list[tuple[str, str, object]]:
    return [(e.id, str(e.data["job_id"]), e.data["status"]) for e in events if e.event == "row"]


async def test_a_stream_follows_a_batch_to_its_end(store: ManifestStore) -> None:
    hub = ProgressHub(store, poll_s=0.02)
    start = threading.Event()
    stream = hub.stream("b1")
    first = await anext(stream)  # joining: the counts so far
    assert first.event == "progress"
    assert first.id == "0"  # a valid Last-Event-ID: the start
    assert first.data["done"] == 0
    assert first.data["total"] == ROWS
    start.set()
    thread = run_batch(store, 0.01, start)
    events = [first, *await collect(stream)]
    thread.join()
    assert [job_id for _, job_id, _ in rows_of(events)] == [f"b1-{i:06d}" for i in range(ROWS)]
    assert [e.id for e in events if e.event == "row"][:2] == ["1-0", "2-1"]
    failed = [e.data for e in events if e.event == "row" and e.data["status"] == "failed"]
    assert len(failed) == 3
    assert failed[0]["duration_s"] == 0.25
    assert events[-1].event == "finished"
    assert events[-1].data["counts"]["completed"] == 9  # type: ignore[index]
    assert events[-1].id == f"{ROWS}-{ROWS - 1}"
    progress = [e for e in events if e.event == "progress"]
    assert progress[-1].data["done"] == ROWS
    assert progress[-1].data["eta_s"] in (None, 0.0)
    assert any(float(p.data["rate_per_s"]) > 0 for p in progress)  # type: ignore[arg-type]
    assert hub.feeds == {}  # the poller ended with the batch


async def test_a_reconnect_misses_nothing_and_repeats_nothing(store: ManifestStore) -> None:
    hub = ProgressHub(store, poll_s=0.02)
    start = threading.Event()
    full_stream, first_stream = hub.stream("b1"), hub.stream("b1")
    full_task = asyncio.create_task(collect(full_stream))
    await anext(first_stream)
    start.set()
    thread = run_batch(store, 0.03, start)
    first = await collect(first_stream, rows=4)
    last_id = [e.id for e in first if e.event == "row"][-1]
    await asyncio.sleep(0.1)  # rows finish while it is away
    second = await collect(hub.stream("b1", last_event_id=last_id))
    full = await full_task
    thread.join()
    assert rows_of(first) + rows_of(second) == rows_of(full)
    assert len(rows_of(full)) == ROWS
    assert second[-1].event == "finished"


async def test_fifty_clients_share_one_poller(store: ManifestStore) -> None:
    hub = ProgressHub(store, poll_s=0.02)
    start = threading.Event()
    streams = [hub.stream("b1") for _ in range(50)]
    for stream in streams:
        await anext(stream)
    assert len(hub.feeds) == 1
    tasks = [asyncio.create_task(collect(stream)) for stream in streams]
    start.set()
    thread = run_batch(store, 0.005, start)
    results = await asyncio.gather(*tasks)
    thread.join()
    assert all(rows_of(r) == rows_of(results[0]) for r in results)
    assert len(rows_of(results[0])) == ROWS


async def test_a_slow_client_catches_up_from_the_store(store: ManifestStore) -> None:
    hub = ProgressHub(store, poll_s=0.02, queue_size=2)
    stream = hub.stream("b1")
    await anext(stream)
    start = threading.Event()
    start.set()
    run_batch(store, 0.0, start).join()  # every row done before it reads again
    events = await collect(stream)
    assert [job_id for _, job_id, _ in rows_of(events)] == [f"b1-{i:06d}" for i in range(ROWS)]
    assert events[-1].event == "finished"


async def test_a_finished_batch_replays_and_ends(store: ManifestStore) -> None:
    start = threading.Event()
    start.set()
    run_batch(store, 0.0, start).join()
    hub = ProgressHub(store, poll_s=0.01)
    events = await collect(hub.stream("b1", last_event_id="10"))
    assert [e.event for e in events] == ["row", "row", "progress", "finished"]
    assert [e.id for e in events] == ["11-10", "12-11", "12-11", "12-11"]


async def test_bad_ids_and_missing_batches_are_refused(store: ManifestStore) -> None:
    hub = ProgressHub(store)
    assert parse_event_id(format_event_id((0, -1))) == (0, END_OF_SEQ)
    assert parse_event_id(format_event_id((7, 3))) == (7, 3)
    assert parse_event_id(format_event_id((7, END_OF_SEQ))) == (7, END_OF_SEQ)
    with pytest.raises(ValueError, match="Last-Event-ID 'x-1' is not an event id"):
        await anext(hub.stream("b1", last_event_id="x-1"))
    with pytest.raises(BatchNotFoundError):
        await hub.check("nope")
    with pytest.raises(BatchNotFoundError):
        await anext(hub.stream("nope"))
