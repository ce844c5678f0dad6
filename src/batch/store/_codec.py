"""Conversions between the pydantic models and the store's SQLite rows.

Datetimes are ISO-8601 strings in UTC with a fixed width, so they sort and
compare as text (lease expiry is a string comparison in SQL); booleans are 0/1;
structured fields are JSON.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from batch.models import AttemptRecord, BatchJob, BatchManifest, JobStatus, NewJob

__all__ = [
    "INSERT_ATTEMPT",
    "INSERT_ATTEMPT_IF_OWNER",
    "INSERT_BATCH",
    "INSERT_JOB",
    "attempt_from_row",
    "attempt_params",
    "dumps",
    "from_iso",
    "job_from_row",
    "manifest_from_row",
    "manifest_params",
    "new_job_params",
    "to_iso",
]

# Column order matches the *_params functions below.
INSERT_BATCH = """
INSERT INTO batches (batch_id, run_id, csv_path, csv_sha256, encoding, dialect, headers,
    flow_ref, flow_name, created_at, status, settings)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
INSERT_JOB = """
INSERT INTO jobs (job_id, batch_id, row_index, source_line, row_data, row_key, status,
    error_message, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
INSERT_ATTEMPT = """
INSERT INTO attempts (job_id, number, started_at, duration_s, ok, category, message, artifacts)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""
INSERT_ATTEMPT_IF_OWNER = """
INSERT INTO attempts (job_id, number, started_at, duration_s, ok, category, message, artifacts)
SELECT ?, ?, ?, ?, ?, ?, ?, ?
WHERE EXISTS (SELECT 1 FROM jobs WHERE job_id = ? AND attempt_token = ?)
"""
"""Records an attempt only while the given attempt token still owns the job."""


@functools.lru_cache(maxsize=64)  # a batch's jobs share one created_at: encode it once
def to_iso(moment: datetime) -> str:
    """UTC, microseconds always written: equal-width strings compare like the times."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # naive datetimes are taken as UTC
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(value: Any) -> str:
    """Compact JSON; one shared encoder (json.dumps builds one per call with options)."""
    return _ENCODER.encode(value)


def manifest_params(manifest: BatchManifest) -> tuple[Any, ...]:
    data = manifest.model_dump(mode="json")
    return (
        manifest.batch_id,
        manifest.run_id,
        manifest.csv_path,
        manifest.csv_sha256,
        manifest.encoding,
        dumps(data["dialect"]),
        dumps(data["headers"]),
        manifest.flow_ref,
        manifest.flow_name,
        to_iso(manifest.created_at),
        manifest.status.value,
        dumps(data["settings"]),
    )


def manifest_from_row(row: sqlite3.Row, counts: Mapping[JobStatus, int]) -> BatchManifest:
    return BatchManifest.model_validate(
        {
            "batch_id": row["batch_id"],
            "run_id": row["run_id"],
            "csv_path": row["csv_path"],
            "csv_sha256": row["csv_sha256"],
            "encoding": row["encoding"],
            "dialect": json.loads(row["dialect"]),
            "headers": json.loads(row["headers"]),
            "flow_ref": row["flow_ref"],
            "flow_name": row["flow_name"],
            "total": sum(counts.values()),
            "counts": dict(counts),
            "created_at": from_iso(row["created_at"]),
            "status": row["status"],
            "settings": json.loads(row["settings"]),
        }
    )


def new_job_params(job: NewJob, created_at: str) -> tuple[Any, ...]:
    """``INSERT_JOB``'s values; ``created_at`` is formatted once per batch, not per row."""
    return (
        job.job_id,
        job.batch_id,
        job.row_index,
        job.source_line,
        _ENCODER.encode(job.row_data),
        job.row_key,
        job.status.value,
        job.error_message,
        created_at,
    )


def job_from_row(row: sqlite3.Row, attempts: list[AttemptRecord]) -> BatchJob:
    return BatchJob.model_validate(
        {
            "job_id": row["job_id"],
            "batch_id": row["batch_id"],
            "row_index": row["row_index"],
            "source_line": row["source_line"],
            "row_data": json.loads(row["row_data"]),
            "row_key": row["row_key"],
            "status": row["status"],
            "attempts": attempts,
            "error_category": row["error_category"],
            "error_message": row["error_message"],
            "created_at": from_iso(row["created_at"]),
            "started_at": from_iso(row["started_at"]),
            "finished_at": from_iso(row["finished_at"]),
            "extracted": json.loads(row["extracted"]),
            "reached_commit": bool(row["reached_commit"]),
        }
    )


def attempt_params(job_id: str, attempt: AttemptRecord) -> tuple[Any, ...]:
    return (
        job_id,
        attempt.number,
        to_iso(attempt.started_at),
        attempt.duration_s,
        int(attempt.ok),
        attempt.category.value if attempt.category is not None else None,
        attempt.message,
        dumps(attempt.artifacts),
    )


def attempt_from_row(row: sqlite3.Row) -> AttemptRecord:
    return AttemptRecord.model_validate(
        {
            "number": row["number"],
            "started_at": from_iso(row["started_at"]),
            "duration_s": row["duration_s"],
            "ok": bool(row["ok"]),
            "category": row["category"],
            "message": row["message"],
            "artifacts": json.loads(row["artifacts"]),
        }
    )
