"""Webhooks through a real server: subscriptions by API (the secret shown once) and by
settings; a batch stopping in the server's store (as a worker would leave it) is
posted, signed, to real receivers on free ports; a receiver failing twice gets three
attempts, all recorded and listed; a receiver holding the wrong secret refuses."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_server import ServiceProcess, StartService, start_service
from tests.batch.store.test_store import jobs, manifest
from webhook_receiver import Receiver, webhook_receiver

from batch.models import AttemptRecord, BatchStatus, JobStatus
from batch.store import ManifestStore, default_store_path
from batch.store._api_keys import ApiKeyStore

SERVER_SECRET = "whsec_server-wide"


def finish_batch(server: ServiceProcess, batch_id: str, rows: int) -> None:
    """A batch run elsewhere (a worker, a CLI) on the server's store, all rows done."""
    with ManifestStore(default_store_path(server.artifacts)) as store:
        store.create_batch(manifest(batch_id, created_at=datetime.now(UTC)), jobs(batch_id, rows))
        for index in range(rows):
            job_id = f"{batch_id}-{index:06d}"
            token = store.claim_job(job_id, "worker", 60)
            assert token is not None
            record = AttemptRecord(number=1, started_at=datetime.now(UTC), duration_s=0.1, ok=True)
            store.finish_job(job_id, token, record, JobStatus.COMPLETED)
        store.set_batch_status(batch_id, BatchStatus.FINISHED)


def wait_for(check: Any, timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_webhooks_are_delivered_signed_retried_and_recorded(start_server: StartService) -> None:
    with (
        webhook_receiver(SERVER_SECRET, statuses=[500, 500]) as server_wide,
        webhook_receiver("unknown yet") as per_batch,
        webhook_receiver("whsec_not-the-one") as wrong,
    ):
        server = start_server(
            webhook_urls=json.dumps([server_wide.url]),
            webhook_secret=SERVER_SECRET,
            webhook_poll_s=0.1,
            webhook_backoff_s=0.2,
            webhook_max_attempts=3,
        )
        with server.client(server.write_key) as http:
            # subscribing to a batch needs the batch: create it, not yet stopped
            created = subscribe_then_finish(server, http, per_batch, wrong)
            listed = http.get("/api/v1/webhooks").json()["webhooks"]
            assert {h["origin"] for h in listed} == {"api", "settings"}
            assert all("secret" not in h for h in listed)
            assert created["secret"] not in json.dumps(listed)

            wait_for(lambda: server_wide.verified() and per_batch.verified())
            deliveries = wait_for(lambda: settled(http, "b1"))
        assert [r.headers["answer"] for r in server_wide.received] == ["500", "500", "200"]
        assert [r.payload["event"] for r in per_batch.verified()] == ["finished"]
        assert per_batch.received[0].headers["X-Batchwright-Event"] == "finished"
        assert wrong.received
        assert not any(r.verified for r in wrong.received)
    by_hook = {d["webhook_id"]: d for d in deliveries}
    server_hook = next(d for d in deliveries if d["webhook_id"].startswith("wh_settings_"))
    assert [(a["number"], a["status_code"]) for a in server_hook["attempts"]] == [
        (1, 500),
        (2, 500),
        (3, 200),
    ]
    assert server_hook["state"] == "delivered"
    assert server_hook["attempts"][0]["next_attempt_at"] is not None
    assert server_hook["attempts"][0]["error"] == "HTTP 500"
    refused = by_hook[created["wrong_id"]]
    assert refused["state"] == "failed"  # every attempt refused, then given up
    assert [a["status_code"] for a in refused["attempts"]] == [401, 401, 401]
    assert refused["attempts"][-1]["next_attempt_at"] is None
    assert SERVER_SECRET not in server.log()
    assert created["secret"] not in server.log()


def subscribe_then_finish(
    server: ServiceProcess, http: httpx.Client, per_batch: Receiver, wrong: Receiver
) -> dict[str, Any]:
    with ManifestStore(default_store_path(server.artifacts)) as store:
        store.create_batch(manifest("b1", created_at=datetime.now(UTC)), jobs("b1", 2))
    created = http.post(
        "/api/v1/webhooks", json={"url": per_batch.url, "events": ["finished"], "batch_id": "b1"}
    )
    assert created.status_code == 201
    body: dict[str, Any] = created.json()
    assert body["secret"].startswith("whsec_")
    per_batch.secret = body["secret"]
    other = http.post("/api/v1/webhooks", json={"url": wrong.url, "batch_id": "b1"})
    assert other.status_code == 201
    body["wrong_id"] = other.json()["webhook_id"]
    with ManifestStore(default_store_path(server.artifacts)) as store:
        for index in range(2):
            token = store.claim_job(f"b1-{index:06d}", "worker", 60)
            assert token is not None
            record = AttemptRecord(number=1, started_at=datetime.now(UTC), duration_s=0.1, ok=True)
            store.finish_job(f"b1-{index:06d}", token, record, JobStatus.COMPLETED)
        store.set_batch_status("b1", BatchStatus.FINISHED)
    return body


def settled(http: httpx.Client, batch_id: str) -> list[dict[str, Any]] | None:
    found: list[dict[str, Any]] = http.get(
        "/api/v1/webhooks/deliveries", params={"batch_id": batch_id}
    ).json()["deliveries"]
    done = len(found) == 3 and all(d["state"] != "pending" for d in found)
    return found if done else None


def test_webhook_requests_are_checked(service: ServiceProcess) -> None:
    finish_batch(service, "b9", 1)
    with service.client(service.write_key) as http, service.client(service.read_key) as reader:
        bad = http.post("/api/v1/webhooks", json={"url": "ftp://example.com/x"})
        assert bad.status_code == 422
        assert bad.json()["field"] == "url"
        bad = http.post("/api/v1/webhooks", json={"url": "http://x/", "events": ["exploded"]})
        assert bad.status_code == 422
        missing = http.post("/api/v1/webhooks", json={"url": "http://x/", "batch_id": "nope"})
        assert missing.status_code == 404
        assert missing.json()["field"] == "batch_id"
        assert reader.post("/api/v1/webhooks", json={"url": "http://x/"}).status_code == 403
        made = http.post("/api/v1/webhooks", json={"url": "https://example.com/hook"}).json()
        assert reader.get("/api/v1/webhooks").json()["webhooks"][0]["url"] == made["url"]
        assert http.delete(f"/api/v1/webhooks/{made['webhook_id']}").status_code == 204
        assert http.delete(f"/api/v1/webhooks/{made['webhook_id']}").status_code == 404
        assert reader.get("/api/v1/webhooks").json() == {"webhooks": []}


@pytest.mark.parametrize("limit", [0, 501])
def test_delivery_listing_bounds(service: ServiceProcess, limit: int) -> None:
    with service.client(service.read_key) as reader:
        got = reader.get("/api/v1/webhooks/deliveries", params={"limit": limit})
    assert got.status_code == 422


def test_a_pending_delivery_survives_a_restart(tmp_path: Path) -> None:
    workdir = tmp_path / "server"
    workdir.mkdir()
    settings = {
        "webhook_secret": SERVER_SECRET,
        "webhook_poll_s": 0.1,
        "webhook_backoff_s": 3,
    }
    with webhook_receiver(SERVER_SECRET, statuses=[500]) as receiver:
        settings["webhook_urls"] = json.dumps([receiver.url])
        first = start_service(workdir, **settings)
        try:
            finish_batch(first, "b1", 1)
            wait_for(lambda: receiver.received)
        finally:
            first.stop()  # SIGTERM; the retry, due in 3 s, waits in the store
        assert len(receiver.received) == 1
        with ManifestStore(default_store_path(first.artifacts)) as store:
            for name in ("test-writer", "test-reader"):  # the helper names its keys so
                ApiKeyStore(store).revoke(name)
        second = start_service(workdir, **settings)
        try:
            wait_for(receiver.verified)
            with second.client(second.read_key) as http:
                (delivery,) = http.get("/api/v1/webhooks/deliveries").json()["deliveries"]
        finally:
            second.stop()
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 200]
    assert delivery["state"] == "delivered"
