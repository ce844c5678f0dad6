"""Conversions between the pydantic models and the store's rows (either backend).

Datetimes are ISO-8601 strings in UTC with a fixed width, so they sort and
compare as text (lease expiry is a string comparison in SQL); booleans are 0/1;
structured fields are JSON. The same on SQLite and PostgreSQL: one schema.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import RowMapping, text

from batch.models import AttemptRecord, BatchJob, BatchManifest, JobStatus, NewJob

__all__ = [
    "INSERT_ATTEMPT",
    "INSERT_ATTEMPT_IF_OWNER",
    "INSERT_BATCH",
    "JOB_COLUMNS",
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

INSERT_BATCH = text("""
INSERT INTO batches (batch_id, run_id, csv_path, csv_sha256, encoding, dialect, headers,
    flow_ref, flow_name, created_at, status, settings)
VALUES (:batch_id, :run_id, :csv_path, :csv_sha256, :encoding, :dialect, :headers,
    :flow_ref, :flow_name, :created_at, :status, :settings)
""")
JOB_COLUMNS = (
    "job_id",
    "batch_id",
    "row_index",
    "source_line",
    "row_data",
    "row_key",
    "status",
    "error_message",
    "created_at",
)
"""The columns ``new_job_params`` fills, in its order (bulk inserts and COPY)."""
_ATTEMPT_VALUES = (
    ":job_id, :number, :started_at, CAST(:duration_s AS FLOAT), CAST(:ok AS INTEGER), "
    "CAST(:category AS TEXT), :message, :artifacts, :host, :pool, "
    "CAST(:pool_wait_s AS FLOAT), :pool_unusable, :note"
)
_INSERT_ATTEMPT = (
    "INSERT INTO attempts (job_id, number, started_at, duration_s, ok, category, message, "
    "artifacts, host, pool, pool_wait_s, pool_unusable, note)"
)
INSERT_ATTEMPT = text(f"{_INSERT_ATTEMPT} VALUES ({_ATTEMPT_VALUES})")
INSERT_ATTEMPT_IF_OWNER = text(
    f"{_INSERT_ATTEMPT} SELECT {_ATTEMPT_VALUES} "
    "WHERE EXISTS (SELECT 1 FROM jobs WHERE job_id = :job_id AND attempt_token = :token)"
)
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


def manifest_params(manifest: BatchManifest) -> dict[str, Any]:
    data = manifest.model_dump(mode="json")
    return {
        "batch_id": manifest.batch_id,
        "run_id": manifest.run_id,
        "csv_path": manifest.csv_path,
        "csv_sha256": manifest.csv_sha256,
        "encoding": manifest.encoding,
        "dialect": dumps(data["dialect"]),
        "headers": dumps(data["headers"]),
        "flow_ref": manifest.flow_ref,
        "flow_name": manifest.flow_name,
        "created_at": to_iso(manifest.created_at),
        "status": manifest.status.value,
        "settings": dumps(data["settings"]),
    }


def manifest_from_row(row: RowMapping, counts: Mapping[JobStatus, int]) -> BatchManifest:
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
    """A job's values in ``JOB_COLUMNS`` order; ``created_at`` is formatted once per batch."""
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


def job_from_row(row: RowMapping, attempts: list[AttemptRecord]) -> BatchJob:
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


def attempt_params(job_id: str, attempt: AttemptRecord) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "number": attempt.number,
        "started_at": to_iso(attempt.started_at),
        "duration_s": attempt.duration_s,
        "ok": int(attempt.ok),
        "category": attempt.category.value if attempt.category is not None else None,
        "message": attempt.message,
        "artifacts": dumps(attempt.artifacts),
        "host": attempt.host,
        "pool": dumps(attempt.pool),
        "pool_wait_s": attempt.pool_wait_s,
        "pool_unusable": dumps(attempt.pool_unusable),
        "note": attempt.note,
    }


def attempt_from_row(row: RowMapping) -> AttemptRecord:
    return AttemptRecord.model_validate(
        {
            "number": row["number"],
            "started_at": from_iso(row["started_at"]),
            "duration_s": row["duration_s"],
            "ok": bool(row["ok"]),
            "category": row["category"],
            "message": row["message"],
            "artifacts": json.loads(row["artifacts"]),
            "host": row["host"],
            "pool": json.loads(row["pool"]),
            "pool_wait_s": row["pool_wait_s"],
            "pool_unusable": json.loads(row["pool_unusable"]),
            "note": row["note"],
        }
    )
