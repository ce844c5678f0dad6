"""The job state machine in SQL: every move is one guarded UPDATE.

Each function runs inside a transaction its caller (``ManifestStore``) opened, so
several of them can be combined atomically (``finish_job``). A move applies only
if the job is in an allowed source status (and, given a token, still owned by
that attempt); when it matches no row, ``refusal`` reads why, on that failure
path only.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from batch.exceptions import InvalidTransitionError, StoreError
from batch.models import ALLOWED_TRANSITIONS, FINAL_STATUSES, AttemptRecord, JobStatus
from batch.store import _codec as codec
from batch.store._dialect import each, json_list, statement
from batch.store._events import BUMP_BATCH, BUMP_FOR_JOB, BUMP_OWNED, SEQ_OF_BATCH
from runtime.outcome import ErrorCategory

__all__ = [
    "REQUEUABLE",
    "cancel_pending",
    "claim",
    "interrupt_expired",
    "interrupt_owned",
    "mark_reached_commit",
    "record_attempt",
    "requeue",
    "transition",
]

REQUEUABLE = frozenset(
    s for s, targets in ALLOWED_TRANSITIONS.items() if JobStatus.PENDING in targets
) - {JobStatus.RUNNING}
"""Statuses ``requeue`` sends back to pending (retry, resume, re-run after review)."""

_SOURCES = {
    to: sorted(s.value for s, targets in ALLOWED_TRANSITIONS.items() if to in targets)
    for to in JobStatus
}
_ENDED = FINAL_STATUSES | {JobStatus.NEEDS_REVIEW}
_REVIEW_MESSAGE = (
    "interrupted after its point of no return: check the application, then re-run the job "
    "(requeue it) or mark it completed"
)

# On PostgreSQL the guarded UPDATE waits for a concurrent claim's row lock, then
# re-checks ``status``: of two claims, exactly one matches, as on SQLite.
_CLAIM = text("""
UPDATE jobs SET status = 'running', started_at = :now, finished_at = NULL, reached_commit = 0,
    attempt_token = :token, lease_owner = :owner, lease_expires_at = :expires
WHERE job_id = :job_id AND status = 'pending'
""")


def _transition_sql(backend: str) -> str:
    return f"""
UPDATE jobs SET
    status = :to,
    error_category = CAST(:category AS TEXT),
    error_message = :message,
    finished_at = CASE WHEN :ended = 1 THEN CAST(:now AS TEXT)
        WHEN CAST(:to AS TEXT) = 'pending' THEN NULL ELSE finished_at END,
    extracted = COALESCE(CAST(:extracted AS TEXT), extracted),
    attempt_token = NULL, lease_owner = NULL, lease_expires_at = NULL,
    event_seq = {SEQ_OF_BATCH}
WHERE job_id = :job_id
  AND status IN {each(backend, "sources")}
  AND (CAST(:token AS TEXT) IS NULL OR attempt_token = :token)
"""


# An interrupted job goes back to pending when it is safe to re-run, else to review.
# Every status change below takes its batch's next event number (``_events``): the
# batch's counter is bumped first in the same transaction.
_LEFT_PENDING = f"""
UPDATE jobs SET status = 'pending', started_at = NULL, error_category = NULL,
    error_message = '', attempt_token = NULL, lease_owner = NULL, lease_expires_at = NULL,
    event_seq = {SEQ_OF_BATCH}
WHERE status = 'running' AND reached_commit = 0
"""
_LEFT_REVIEW = f"""
UPDATE jobs SET status = 'needs_review', finished_at = :now, error_category = NULL,
    error_message = :message, attempt_token = NULL, lease_owner = NULL, lease_expires_at = NULL,
    event_seq = {SEQ_OF_BATCH}
WHERE status = 'running' AND reached_commit = 1
"""
_EXPIRED = " AND batch_id = :batch_id AND (lease_expires_at IS NULL OR lease_expires_at <= :now)"
_OWNED = " AND lease_owner = :owner"


def _requeue_sql(backend: str) -> str:
    return f"""
UPDATE jobs SET status = 'pending', error_category = NULL, error_message = '', finished_at = NULL,
    event_seq = {SEQ_OF_BATCH}
WHERE batch_id = :batch_id
  AND status IN {each(backend, "statuses")}
  AND (CAST(:ids AS TEXT) IS NULL OR job_id IN {each(backend, "ids")})
  AND (CAST(:categories AS TEXT) IS NULL OR error_category IN {each(backend, "categories")})
"""


def claim(
    conn: Connection, job_id: str, *, owner: str, lease_s: float, now: datetime
) -> str | None:
    """pending -> running under a fresh attempt token, or None if the job was not pending.

    ``reached_commit`` starts cleared: it describes the current run of the job.
    """
    token = uuid.uuid4().hex
    params = {
        "now": codec.to_iso(now),
        "token": token,
        "owner": owner,
        "expires": codec.to_iso(now + timedelta(seconds=lease_s)),
        "job_id": job_id,
    }
    return token if conn.execute(_CLAIM, params).rowcount == 1 else None


def transition(
    conn: Connection,
    job_id: str,
    to: JobStatus,
    *,
    now: datetime,
    expected: Collection[JobStatus] | None = None,
    token: str | None = None,
    error_category: ErrorCategory | None = None,
    error_message: str | None = None,
    extracted: Mapping[str, str] | None = None,
) -> None:
    if to is JobStatus.RUNNING:
        raise InvalidTransitionError(
            f"job {job_id!r}: jobs start running only through claim_job(), which leases them"
        )
    clear = to is JobStatus.PENDING
    params: dict[str, Any] = {
        "to": to.value,
        "category": None if clear or error_category is None else error_category.value,
        "message": "" if clear else (error_message or ""),
        "ended": int(to in _ENDED),
        "now": codec.to_iso(now),
        "extracted": None if extracted is None else codec.dumps(dict(extracted)),
        "job_id": job_id,
        "sources": json.dumps([s for s in _SOURCES[to] if expected is None or s in expected]),
        "token": token,
    }
    conn.execute(BUMP_FOR_JOB, {"job_id": job_id})
    if conn.execute(statement(conn, _transition_sql), params).rowcount != 1:
        raise refusal(conn, job_id, "", to=to, expected=expected, token=token)


def record_attempt(
    conn: Connection, job_id: str, attempt: AttemptRecord, *, token: str | None
) -> None:
    params = codec.attempt_params(job_id, attempt)
    try:
        if token is None:
            conn.execute(codec.INSERT_ATTEMPT, params)
            return
        cursor = conn.execute(codec.INSERT_ATTEMPT_IF_OWNER, {**params, "token": token})
    except IntegrityError as exc:
        if _is_foreign_key(exc):
            raise StoreError(f"no job {job_id!r} in the manifest store") from None
        raise StoreError(
            f"attempt {attempt.number} of job {job_id!r} is already recorded"
        ) from None
    if cursor.rowcount != 1:
        raise refusal(conn, job_id, f"recording attempt {attempt.number}", token=token)


def _is_foreign_key(exc: IntegrityError) -> bool:
    """SQLite says FOREIGN KEY in its message; PostgreSQL gives SQLSTATE 23503."""
    return "FOREIGN KEY" in str(exc.orig) or getattr(exc.orig, "sqlstate", None) == "23503"


def mark_reached_commit(conn: Connection, job_id: str, token: str) -> None:
    cursor = conn.execute(
        text(
            "UPDATE jobs SET reached_commit = 1 "
            "WHERE job_id = :job_id AND status = 'running' AND attempt_token = :token"
        ),
        {"job_id": job_id, "token": token},
    )
    if cursor.rowcount != 1:
        raise refusal(conn, job_id, "marking its point of no return", token=token)


def interrupt_expired(conn: Connection, batch_id: str, now: datetime) -> tuple[int, int]:
    """Running jobs of a batch whose lease expired: (to pending, to needs_review)."""
    params = {"batch_id": batch_id, "now": codec.to_iso(now), "message": _REVIEW_MESSAGE}
    conn.execute(BUMP_BATCH, params)
    pending = conn.execute(text(_LEFT_PENDING + _EXPIRED), params).rowcount
    return pending, conn.execute(text(_LEFT_REVIEW + _EXPIRED), params).rowcount


def interrupt_owned(conn: Connection, owner: str, now: datetime) -> tuple[int, int]:
    """Running jobs leased by ``owner``, whatever their expiry: (to pending, to needs_review)."""
    params = {"owner": owner, "now": codec.to_iso(now), "message": _REVIEW_MESSAGE}
    conn.execute(BUMP_OWNED, params)
    pending = conn.execute(text(_LEFT_PENDING + _OWNED), params).rowcount
    return pending, conn.execute(text(_LEFT_REVIEW + _OWNED), params).rowcount


def requeue(
    conn: Connection,
    batch_id: str,
    statuses: Collection[JobStatus],
    *,
    job_ids: Collection[str] | None,
    categories: Collection[ErrorCategory] | None,
) -> int:
    refused = set(statuses) - REQUEUABLE
    if refused:
        raise InvalidTransitionError(
            f"cannot requeue {', '.join(sorted(refused))} jobs of batch {batch_id!r}: "
            f"only {', '.join(sorted(REQUEUABLE))} jobs go back to pending"
        )
    params = {
        "batch_id": batch_id,
        "statuses": json_list(statuses),
        "ids": None if job_ids is None else json_list(job_ids),
        "categories": None if categories is None else json_list(categories),
    }
    conn.execute(BUMP_BATCH, params)
    return conn.execute(statement(conn, _requeue_sql), params).rowcount


def cancel_pending(conn: Connection, batch_id: str, now: datetime) -> int:
    conn.execute(BUMP_BATCH, {"batch_id": batch_id})
    return conn.execute(
        text(
            f"UPDATE jobs SET status = 'cancelled', finished_at = :now, event_seq = {SEQ_OF_BATCH} "
            "WHERE batch_id = :batch_id AND status = 'pending'"
        ),
        {"now": codec.to_iso(now), "batch_id": batch_id},
    ).rowcount


def refusal(
    conn: Connection,
    job_id: str,
    action: str,
    *,
    to: JobStatus | None = None,
    expected: Collection[JobStatus] | None = None,
    token: str | None = None,
) -> StoreError:
    """Why a guarded update matched no row: names the job, its status and the target."""
    row = conn.execute(
        text("SELECT status, attempt_token FROM jobs WHERE job_id = :job_id"), {"job_id": job_id}
    ).fetchone()
    if row is None:
        return StoreError(f"no job {job_id!r} in the manifest store")
    current = JobStatus(row[0])
    if to is not None:
        action = f"cannot go from {current} to {to}"
    if token is not None and row[1] != token:
        why = (
            "stale attempt token: the job was claimed again since this attempt started"
            if current is JobStatus.RUNNING
            else f"the job is no longer running (now {current})"
        )
        return InvalidTransitionError(
            f"job {job_id!r}: {action}: {why}; this attempt's result is refused"
        )
    if expected is not None and current not in expected:
        why = f"it is {current}, expected {' or '.join(sorted(expected))}"
    else:
        why = f"allowed from {current}: {', '.join(sorted(ALLOWED_TRANSITIONS[current])) or 'none'}"
    return InvalidTransitionError(f"job {job_id!r}: {action} ({why})")
