"""``GET /api/v1/batches/{id}/events`` on a real server: an SSE client follows a batch run
by a real engine (real Chromium, the test site) on the server's store until
``finished``; a client reconnecting with Last-Event-ID mid-batch misses nothing and
repeats nothing; keep-alive comments; the errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from paths import FLOWS
from service_server import ServiceProcess, StartService
from sse_client import SseRead, read_sse

from batch.engine import BatchEngine

ROWS = 8


def write_csv(path: Path, rows: int) -> Path:
    lines = ["name,email"] + [f"Client {i},client{i}@example.com" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def server(start_server: StartService) -> ServiceProcess:
    return start_server(events_poll_s=0.05, events_keepalive_s=0.3)


def client(server: ServiceProcess, key: str | None = None) -> httpx.AsyncClient:
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    return httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=60)


def row_count(n: int) -> Callable[[SseRead], bool]:
    return lambda read: sum(e.event == "row" for e in read.events) >= n


@pytest.mark.browser
async def test_a_client_follows_a_real_batch_and_a_reconnect_misses_nothing(
    server: ServiceProcess, make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    engine = make_engine(artifacts_dir=server.artifacts, concurrency=2)
    batch_id = engine.create_batch_jobs(
        write_csv(tmp_path / "rows.csv", ROWS), FLOWS / "add_customer.json"
    ).batch_id
    url = f"/api/v1/batches/{batch_id}/events"
    async with client(server, server.read_key) as http:
        full = asyncio.create_task(read_sse(http, url))
        first = asyncio.create_task(read_sse(http, url, until=row_count(3)))
        await asyncio.sleep(0.3)  # both connected before the first row finishes
        run = asyncio.create_task(engine.execute_batch_jobs(batch_id))
        partial = await first
        last_id = [e.id for e in partial.events if e.event == "row"][-1]
        rest = await read_sse(http, url, headers={"Last-Event-ID": last_id})
        summary = await run
        everything = await full
        replay = await read_sse(http, url, params={"last_event_id": last_id})
    assert summary["completed"] == ROWS
    assert everything.status == 200
    assert {job_id for _, job_id, _ in everything.rows()} == set(engine.store.job_ids(batch_id))
    assert len(everything.rows()) == ROWS
    assert rest.rows()  # it reconnected mid-batch
    assert partial.rows() + rest.rows() == everything.rows()  # no loss, no repeat, in order
    assert replay.rows() == rest.rows()  # the query parameter resumes alike
    finished = everything.events[-1]
    assert finished.event == "finished"
    assert finished.data["counts"]["completed"] == ROWS
    assert finished.id == everything.events[-2].id
    assert rest.events[-1].event == "finished"
    rows = [e.data for e in everything.events if e.event == "row"]
    assert all(r["status"] == "completed" and r["duration_s"] > 0 for r in rows)
    assert sorted(r["row"] for r in rows) == list(range(ROWS))
    progress = [e.data for e in everything.events if e.event == "progress"]
    assert progress[0]["done"] == 0
    assert progress[-1]["done"] == ROWS
    assert any(p["rate_per_s"] > 0 and p["eta_s"] is not None for p in progress[:-1])


async def test_an_idle_stream_gets_keepalives(
    server: ServiceProcess, make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    engine = make_engine(artifacts_dir=server.artifacts)
    batch_id = engine.create_batch_jobs(
        write_csv(tmp_path / "rows.csv", 2), FLOWS / "add_customer.json"
    ).batch_id
    async with client(server, server.read_key) as http:
        read = await read_sse(
            http, f"/api/v1/batches/{batch_id}/events", until=lambda r: len(r.comments) >= 2
        )
    assert [e.event for e in read.events] == ["progress"]  # created, nothing run yet
    assert read.events[0].id == "0"
    assert read.events[0].data["counts"]["pending"] == 2
    assert all(c.startswith(": ping") for c in read.comments)


async def test_stream_errors_are_problems(
    server: ServiceProcess, make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    engine = make_engine(artifacts_dir=server.artifacts)
    batch_id = engine.create_batch_jobs(
        write_csv(tmp_path / "rows.csv", 1), FLOWS / "add_customer.json"
    ).batch_id
    async with client(server) as anonymous:
        assert (await anonymous.get(f"/api/v1/batches/{batch_id}/events")).status_code == 401
    async with client(server, server.read_key) as http:
        missing = await http.get("/api/v1/batches/nope/events")
        assert missing.status_code == 404
        assert missing.json()["field"] == "batch_id"
        bad: Any = await http.get(
            f"/api/v1/batches/{batch_id}/events", headers={"Last-Event-ID": "12-x"}
        )
        assert bad.status_code == 400
        assert bad.json()["field"] == "Last-Event-ID"
        assert "not an event id" in bad.json()["detail"]
        bad = await http.get(f"/api/v1/batches/{batch_id}/events", params={"last_event_id": "-"})
        assert bad.status_code == 400
        assert bad.json()["field"] == "last_event_id"
