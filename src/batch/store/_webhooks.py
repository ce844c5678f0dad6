"""Webhook subscriptions, their deliveries and every delivery attempt, in the store.

A delivery is one event of one batch for one subscription: unique on (webhook, batch,
event), so two service processes noticing the same finished batch create it once.
Sending it is claimed (``claimed_by`` + an expiring lease) so only one process posts
it at a time; a process that dies mid-delivery leaves a claim that expires, and the
delivery is resumed by whichever process polls next, after a restart too.

Subscriptions keep their signing secret in clear: HMAC needs it to sign. It is read
only to sign and never returned after creation.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, text

from batch.exceptions import BatchNotFoundError
from batch.store import _codec as codec
from batch.store import _reads as reads
from batch.store.manifest import ManifestStore

__all__ = [
    "WEBHOOK_EVENTS",
    "ClaimedDelivery",
    "Delivery",
    "DeliveryAttempt",
    "Webhook",
    "WebhookStore",
]

WEBHOOK_EVENTS = ("finished", "failed", "needs_review")
"""finished: every row final; failed: stopped with failed rows; needs_review: stopped
with rows to review."""

_COLUMNS = "webhook_id, url, events, batch_id, origin, created_at"
_STOPPED_IDLE = """
FROM webhooks AS w JOIN batches AS b
  ON b.batch_id = w.batch_id OR (w.batch_id IS NULL AND b.created_at >= w.created_at)
WHERE b.status IN ('finished', 'interrupted') AND w.events LIKE :pattern
  AND NOT EXISTS (SELECT 1 FROM jobs AS j WHERE j.batch_id = b.batch_id AND j.status = 'running')
  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries AS d
    WHERE d.webhook_id = w.webhook_id AND d.batch_id = b.batch_id AND d.event = :event)
"""
_WITH_ROWS = (
    " AND EXISTS (SELECT 1 FROM jobs AS j WHERE j.batch_id = b.batch_id AND j.status = :rows)"
)
_DUE = {
    "finished": text(
        f"SELECT w.webhook_id, b.batch_id, b.status {_STOPPED_IDLE} AND b.status = 'finished'"
    ),
    "failed": text(f"SELECT w.webhook_id, b.batch_id, b.status {_STOPPED_IDLE}{_WITH_ROWS}"),
    "needs_review": text(f"SELECT w.webhook_id, b.batch_id, b.status {_STOPPED_IDLE}{_WITH_ROWS}"),
}
_INSERT_DELIVERY = text("""
INSERT INTO webhook_deliveries (delivery_id, webhook_id, batch_id, event, payload, state,
    attempts, next_attempt_at, created_at)
VALUES (:delivery_id, :webhook_id, :batch_id, :event, :payload, 'pending', 0, :now, :now)
ON CONFLICT DO NOTHING
""")
_DUE_DELIVERIES = text("""
SELECT delivery_id FROM webhook_deliveries
WHERE state = 'pending' AND next_attempt_at <= :now
  AND (claim_expires_at IS NULL OR claim_expires_at <= :now)
ORDER BY next_attempt_at LIMIT :limit
""")
_CLAIM = text("""
UPDATE webhook_deliveries SET claimed_by = :owner, claim_expires_at = :expires
WHERE delivery_id = :delivery_id AND state = 'pending'
  AND (claim_expires_at IS NULL OR claim_expires_at <= :now)
""")
_CLAIMED = text("""
SELECT d.delivery_id, d.webhook_id, d.batch_id, d.event, d.payload, d.attempts, w.url, w.secret
FROM webhook_deliveries AS d JOIN webhooks AS w ON w.webhook_id = d.webhook_id
WHERE d.delivery_id = :delivery_id
""")
_SETTLE = text("""
UPDATE webhook_deliveries SET attempts = :number, state = :state, next_attempt_at = :next,
    claimed_by = NULL, claim_expires_at = NULL
WHERE delivery_id = :delivery_id AND claimed_by = :owner
""")
_INSERT_ATTEMPT = text("""
INSERT INTO webhook_attempts
    (delivery_id, number, started_at, duration_s, status_code, error, next_attempt_at)
VALUES (:delivery_id, :number, :started_at, :duration_s, :status_code, :error, :next)
""")


@dataclass(frozen=True, slots=True)
class Webhook:
    """A subscription as listed: never its secret."""

    webhook_id: str
    url: str
    events: tuple[str, ...]
    batch_id: str | None
    origin: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    number: int
    started_at: datetime
    duration_s: float
    status_code: int | None
    error: str
    next_attempt_at: datetime | None
    """When the next attempt is due; None after a success or the last attempt."""


@dataclass(frozen=True, slots=True)
class Delivery:
    delivery_id: str
    webhook_id: str
    batch_id: str
    event: str
    state: str
    attempts: list[DeliveryAttempt]
    next_attempt_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery this process now sends: what to post, where, and how to sign it."""

    delivery_id: str
    webhook_id: str
    batch_id: str
    event: str
    payload: str
    attempts: int
    url: str
    secret: str = field(repr=False)


def _webhook(row: tuple[object, ...]) -> Webhook:
    webhook_id, url, events, batch_id, origin, created_at = row
    return Webhook(
        str(webhook_id),
        str(url),
        tuple(json.loads(str(events))),
        None if batch_id is None else str(batch_id),
        str(origin),
        codec.from_iso(str(created_at)),  # type: ignore[arg-type]
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else codec.to_iso(moment)


class WebhookStore:
    """The webhook tables of a ``ManifestStore``."""

    def __init__(self, store: ManifestStore) -> None:
        self._store = store

    # --- subscriptions -------------------------------------------------------------

    def add(
        self,
        url: str,
        events: Collection[str],
        secret: str,
        *,
        now: datetime,
        batch_id: str | None = None,
        origin: str = "api",
        webhook_id: str | None = None,
    ) -> Webhook:
        """Subscribe ``url``; with ``batch_id`` to that batch only, else to every batch
        created from now on. An existing ``webhook_id`` is updated (settings' hooks)."""
        hook = Webhook(
            webhook_id or f"wh_{uuid.uuid4().hex[:16]}",
            url,
            tuple(sorted(set(events))),
            batch_id,
            origin,
            now,
        )
        with self._store.transaction() as conn:
            if batch_id is not None and reads.manifest(conn, batch_id) is None:
                raise BatchNotFoundError(f"no batch {batch_id!r}")
            conn.execute(
                text(
                    f"INSERT INTO webhooks ({_COLUMNS}, secret) VALUES (:webhook_id, :url, "
                    ":events, :batch_id, :origin, :created_at, :secret) ON CONFLICT (webhook_id) "
                    "DO UPDATE SET url = excluded.url, events = excluded.events, "
                    "secret = excluded.secret"
                ),
                {
                    "webhook_id": hook.webhook_id,
                    "url": url,
                    "events": json.dumps(hook.events),
                    "batch_id": batch_id,
                    "origin": origin,
                    "created_at": codec.to_iso(now),
                    "secret": secret,
                },
            )
            row = conn.execute(
                text(f"SELECT {_COLUMNS} FROM webhooks WHERE webhook_id = :id"),
                {"id": hook.webhook_id},
            ).one()
        return _webhook(tuple(row))

    def sync_settings(self, urls: Collection[str], secret: str, now: datetime) -> None:
        """The server-wide hooks of the settings: each URL subscribed to every event
        (a stable id per URL), the hooks of URLs no longer listed removed."""
        ids = {f"wh_settings_{hashlib.sha256(u.encode()).hexdigest()[:12]}": u for u in urls}
        for webhook_id, url in ids.items():
            self.add(url, WEBHOOK_EVENTS, secret, now=now, origin="settings", webhook_id=webhook_id)
        with self._store.transaction() as conn:
            for hook in self._list(conn):
                if hook.origin == "settings" and hook.webhook_id not in ids:
                    conn.execute(
                        text("DELETE FROM webhooks WHERE webhook_id = :id"), {"id": hook.webhook_id}
                    )

    def subscriptions(self) -> list[Webhook]:
        with self._store.transaction(write=False) as conn:
            return self._list(conn)

    @staticmethod
    def _list(conn: Connection) -> list[Webhook]:
        rows = conn.execute(
            text(f"SELECT {_COLUMNS} FROM webhooks ORDER BY created_at, webhook_id")
        )
        return [_webhook(tuple(row)) for row in rows]

    def delete(self, webhook_id: str) -> bool:
        """Unsubscribe; its pending deliveries go with it. False if there was none."""
        with self._store.transaction() as conn:
            deleted = conn.execute(
                text("DELETE FROM webhooks WHERE webhook_id = :id"), {"id": webhook_id}
            )
            return deleted.rowcount == 1

    # --- deliveries ----------------------------------------------------------------

    def enqueue_due(self, now: datetime) -> int:
        """A delivery for each event a stopped batch owes a subscription; how many new."""
        created = 0
        with self._store.transaction() as conn:
            for event, query in _DUE.items():
                params = {"pattern": f'%"{event}"%', "event": event, "rows": event}
                for webhook_id, batch_id, status in conn.execute(query, params).fetchall():
                    counts = reads.counts(conn, batch_id)
                    delivery_id = f"dl_{uuid.uuid4().hex}"
                    payload = {
                        "event": event,
                        "delivery_id": delivery_id,
                        "batch_id": batch_id,
                        "status": status,
                        "total": sum(counts.values()),
                        "counts": {str(k): v for k, v in sorted(counts.items())},
                        "occurred_at": codec.to_iso(now),
                    }
                    created += conn.execute(
                        _INSERT_DELIVERY,
                        {
                            "delivery_id": delivery_id,
                            "webhook_id": webhook_id,
                            "batch_id": batch_id,
                            "event": event,
                            "payload": json.dumps(payload, separators=(",", ":")),
                            "now": codec.to_iso(now),
                        },
                    ).rowcount
        return created

    def claim_due(
        self, owner: str, now: datetime, lease_s: float, limit: int = 20
    ) -> list[ClaimedDelivery]:
        """Deliveries due now, claimed for ``owner`` until the lease expires."""
        params = {"now": codec.to_iso(now), "limit": limit}
        expires = codec.to_iso(now + timedelta(seconds=lease_s))
        claimed: list[ClaimedDelivery] = []
        with self._store.transaction() as conn:
            for (delivery_id,) in conn.execute(_DUE_DELIVERIES, params).fetchall():
                taken = conn.execute(
                    _CLAIM,
                    {**params, "owner": owner, "expires": expires, "delivery_id": delivery_id},
                )
                if taken.rowcount == 1:
                    row = conn.execute(_CLAIMED, {"delivery_id": delivery_id}).one()
                    claimed.append(ClaimedDelivery(*row))
        return claimed

    def record(
        self, delivery: ClaimedDelivery, owner: str, attempt: DeliveryAttempt, state: str
    ) -> bool:
        """One attempt and the delivery's new state, if ``owner`` still holds its claim."""
        with self._store.transaction() as conn:
            settled = conn.execute(
                _SETTLE,
                {
                    "number": attempt.number,
                    "state": state,
                    "next": _iso(attempt.next_attempt_at),
                    "delivery_id": delivery.delivery_id,
                    "owner": owner,
                },
            )
            if settled.rowcount != 1:
                return False
            conn.execute(
                _INSERT_ATTEMPT,
                {
                    "delivery_id": delivery.delivery_id,
                    "number": attempt.number,
                    "started_at": codec.to_iso(attempt.started_at),
                    "duration_s": attempt.duration_s,
                    "status_code": attempt.status_code,
                    "error": attempt.error,
                    "next": _iso(attempt.next_attempt_at),
                },
            )
            return True

    def release(self, owner: str) -> None:
        """Give up ``owner``'s claims (a clean shutdown): due again at once elsewhere."""
        with self._store.transaction() as conn:
            conn.execute(
                text(
                    "UPDATE webhook_deliveries SET claimed_by = NULL, claim_expires_at = NULL "
                    "WHERE claimed_by = :owner"
                ),
                {"owner": owner},
            )

    def deliveries(self, batch_id: str | None = None, limit: int = 100) -> list[Delivery]:
        """Newest first, each with its attempts."""
        where = "" if batch_id is None else "WHERE batch_id = :batch_id "
        with self._store.transaction(write=False) as conn:
            rows = conn.execute(
                text(
                    "SELECT delivery_id, webhook_id, batch_id, event, state, next_attempt_at, "
                    f"created_at FROM webhook_deliveries {where}"
                    "ORDER BY created_at DESC, delivery_id LIMIT :limit"
                ),
                {"batch_id": batch_id, "limit": limit},
            ).fetchall()
            found: list[Delivery] = []
            for delivery_id, webhook_id, batch, event, state, next_at, created_at in rows:
                attempts = conn.execute(
                    text(
                        "SELECT number, started_at, duration_s, status_code, error, "
                        "next_attempt_at FROM webhook_attempts WHERE delivery_id = :id "
                        "ORDER BY number"
                    ),
                    {"id": delivery_id},
                ).fetchall()
                found.append(
                    Delivery(
                        delivery_id,
                        webhook_id,
                        batch,
                        event,
                        state,
                        [
                            DeliveryAttempt(
                                int(number),
                                codec.from_iso(started),  # type: ignore[arg-type]
                                float(duration),
                                None if code is None else int(code),
                                str(error),
                                codec.from_iso(next_attempt),
                            )
                            for number, started, duration, code, error, next_attempt in attempts
                        ],
                        codec.from_iso(next_at) if state == "pending" else None,
                        codec.from_iso(created_at),  # type: ignore[arg-type]
                    )
                )
        return found
