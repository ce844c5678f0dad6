"""Webhooks end to end below HTTP: a batch stopping in the store becomes signed POSTs
to a real receiver on a free port; failures are retried with backoff and every attempt
recorded; two watchers deliver each event once; a claim left by a dead process is
resumed; a wrong secret does not verify. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from tests.batch.store.test_store import NOW, jobs, manifest
from webhook_receiver import webhook_receiver

from batch.models import AttemptRecord, BatchStatus, JobStatus
from batch.notify.delivery import RetryPolicy
from batch.notify.signing import check_webhook_url, new_secret, sign, verify
from batch.notify.watcher import WebhookWatcher
from batch.store import ManifestStore, StoreUrl
from batch.store._retention import RetentionStore
from batch.store._webhooks import WebhookStore
from runtime.outcome import ErrorCategory

SECRET = "whsec_test-secret"


class Clock:
    def __init__(self) -> None:
        self.now = NOW - timedelta(hours=1)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> StoreUrl:
    if request.param == "sqlite":
        return StoreUrl.parse(tmp_path / "store.db")
    return StoreUrl.parse(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(store_url: StoreUrl) -> Iterator[ManifestStore]:
    with ManifestStore(store_url) as opened:
        yield opened


def stop_batch(store: ManifestStore, batch_id: str, statuses: list[JobStatus]) -> None:
    """A batch whose rows ended in ``statuses``, then marked finished."""
    store.create_batch(manifest(batch_id), jobs(batch_id, len(statuses)))
    for index, status in enumerate(statuses):
        job_id = f"{batch_id}-{index:06d}"
        token = store.claim_job(job_id, "engine", 60)
        assert token is not None
        ok = status is JobStatus.COMPLETED
        record = AttemptRecord(number=1, started_at=NOW, duration_s=0.1, ok=ok)
        category = None if ok else ErrorCategory.BUSINESS
        store.finish_job(job_id, token, record, status, category)
    store.set_batch_status(batch_id, BatchStatus.FINISHED)


def watcher(store: ManifestStore, clock: Clock, **policy: float) -> WebhookWatcher:
    return WebhookWatcher(
        WebhookStore(store),
        policy=RetryPolicy(**policy),  # type: ignore[arg-type]
        timeout_s=5,
        lease_s=60,
        clock=clock,
    )


async def test_a_stopped_batch_is_posted_signed_once_per_event(store: ManifestStore) -> None:
    clock = Clock()
    hooks = WebhookStore(store)
    with webhook_receiver(SECRET) as receiver:
        hooks.sync_settings([receiver.url], SECRET, clock())
        stop_batch(store, "b1", [JobStatus.COMPLETED, JobStatus.FAILED])
        hooks.add(receiver.url, ["finished"], SECRET, now=clock(), batch_id="b1")
        watch = watcher(store, clock)
        try:
            assert await watch.tick() == 3  # settings hook: finished + failed; batch hook
            assert await watch.tick() == 0  # nothing owed twice
        finally:
            await watch.close()
        got = receiver.verified()
    assert len(got) == 3
    assert sorted(r.headers["X-Batchwright-Event"] for r in got) == [
        "failed",
        "finished",
        "finished",
    ]
    payload = got[0].payload
    assert payload["batch_id"] == "b1"
    assert payload["counts"] == {"completed": 1, "failed": 1}
    assert payload["delivery_id"] == got[0].headers["X-Batchwright-Delivery"]
    assert got[0].headers["X-Batchwright-Signature"].startswith("v1=")
    deliveries = hooks.deliveries("b1")
    assert [d.state for d in deliveries] == ["delivered"] * 3
    assert all(d.attempts[0].status_code == 200 for d in deliveries)
    assert hooks.deliveries("other") == []
    assert RetentionStore(store).delete("b1", "pruner") is None  # prune takes them along
    assert hooks.deliveries() == []
    assert [h.batch_id for h in hooks.subscriptions()] == [None]  # the batch's hook too


async def test_failures_are_retried_with_backoff_and_every_attempt_recorded(
    store: ManifestStore,
) -> None:
    clock = Clock()
    hooks = WebhookStore(store)
    stop_batch(store, "b1", [JobStatus.COMPLETED])
    with webhook_receiver(SECRET, statuses=[500, 500]) as receiver:
        hooks.add(receiver.url, ["finished"], SECRET, now=clock(), batch_id="b1")
        watch = watcher(store, clock, first_delay_s=10, factor=3)
        try:
            assert await watch.tick() == 1
            assert await watch.tick() == 0  # not due before its backoff
            clock.now += timedelta(seconds=10)
            assert await watch.tick() == 1
            clock.now += timedelta(seconds=29)
            assert await watch.tick() == 0
            clock.now += timedelta(seconds=1)
            assert await watch.tick() == 1
        finally:
            await watch.close()
        assert [r.headers["answer"] for r in receiver.received] == ["500", "500", "200"]
    (delivery,) = hooks.deliveries("b1")
    assert delivery.state == "delivered"
    assert delivery.next_attempt_at is None
    attempts = [(a.number, a.status_code, a.error) for a in delivery.attempts]
    assert attempts == [(1, 500, "HTTP 500"), (2, 500, "HTTP 500"), (3, 200, "")]
    first, second, third = delivery.attempts
    assert first.next_attempt_at == first.started_at + timedelta(seconds=10)
    assert second.next_attempt_at == second.started_at + timedelta(seconds=30)
    assert third.next_attempt_at is None
    assert all(a.duration_s >= 0 for a in delivery.attempts)


async def test_a_bounded_number_of_attempts_then_failed(store: ManifestStore) -> None:
    clock = Clock()
    hooks = WebhookStore(store)
    stop_batch(store, "b1", [JobStatus.COMPLETED])
    hooks.add("http://127.0.0.1:9/closed", ["finished"], SECRET, now=clock(), batch_id="b1")
    watch = watcher(store, clock, max_attempts=2, first_delay_s=1)
    try:
        assert await watch.tick() == 1
        clock.now += timedelta(seconds=1)
        assert await watch.tick() == 1
        clock.now += timedelta(days=1)
        assert await watch.tick() == 0
    finally:
        await watch.close()
    (delivery,) = hooks.deliveries()
    assert delivery.state == "failed"
    assert [a.status_code for a in delivery.attempts] == [None, None]
    assert delivery.attempts[0].error.startswith("ConnectError")
    assert delivery.attempts[-1].next_attempt_at is None


async def test_two_watchers_deliver_each_event_once(store_url: StoreUrl) -> None:
    clock = Clock()
    with (
        ManifestStore(store_url) as one,
        ManifestStore(store_url) as two,
        webhook_receiver(SECRET) as receiver,
    ):
        WebhookStore(one).sync_settings([receiver.url], SECRET, clock())
        for n in range(4):
            stop_batch(one, f"b{n}", [JobStatus.COMPLETED, JobStatus.NEEDS_REVIEW])
        watchers = [watcher(one, clock), watcher(two, clock)]
        try:
            for _ in range(3):
                await asyncio.gather(*(w.tick() for w in watchers))
        finally:
            await asyncio.gather(*(w.close() for w in watchers))
        got = receiver.verified()
    events = sorted((r.payload["batch_id"], r.payload["event"]) for r in got)
    assert events == sorted((f"b{n}", e) for n in range(4) for e in ["finished", "needs_review"])


async def test_a_delivery_left_by_a_dead_process_is_resumed(store_url: StoreUrl) -> None:
    clock = Clock()
    with ManifestStore(store_url) as first, webhook_receiver(SECRET) as receiver:
        hooks = WebhookStore(first)
        stop_batch(first, "b1", [JobStatus.COMPLETED])
        hooks.add(receiver.url, ["finished"], SECRET, now=clock(), batch_id="b1")
        hooks.enqueue_due(clock())
        assert len(hooks.claim_due("dead-process", clock(), lease_s=60)) == 1
        with ManifestStore(store_url) as restarted:
            watch = watcher(restarted, clock)
            try:
                assert await watch.tick() == 0  # still claimed
                clock.now += timedelta(seconds=61)
                assert await watch.tick() == 1
            finally:
                await watch.close()
        assert len(receiver.verified()) == 1


def test_a_wrong_secret_or_an_old_timestamp_does_not_verify() -> None:
    body = b'{"event":"finished"}'
    now = time.time()
    signature = sign(SECRET, int(now), body)
    assert verify(SECRET, str(int(now)), body, signature, now=now)
    assert not verify("whsec_wrong", str(int(now)), body, signature, now=now)
    assert not verify(SECRET, str(int(now)), body + b" ", signature, now=now)
    assert not verify(
        SECRET, str(int(now) - 600), body, sign(SECRET, int(now) - 600, body), now=now
    )
    assert new_secret() != new_secret()
    assert new_secret().startswith("whsec_")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/x", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("http:///path", "name a host"),
        ("https://user:pw@example.com/", "credentials"),
    ],
)
def test_webhook_urls_are_checked(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_webhook_url(url)
    assert check_webhook_url("https://example.com/hook") == "https://example.com/hook"
