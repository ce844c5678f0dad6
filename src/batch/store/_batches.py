"""The SQL over a batch's own row: status, the cancel flag, ownership and leases,
recorded settings. Kept apart so ``manifest.py`` reads as the API."""

from __future__ import annotations

from sqlalchemy import text

from batch.store._dialect import merge_json

__all__ = [
    "ACQUIRE",
    "CANCEL_REQUESTED",
    "LIVE_OWNER",
    "RELEASE",
    "RENEW",
    "RENEW_JOBS",
    "RUNNING_OWNERS",
    "SET_CANCEL",
    "SET_STATUS",
    "merge_settings_sql",
]

SET_STATUS = text("UPDATE batches SET status = :status WHERE batch_id = :batch_id")
SET_CANCEL = text("UPDATE batches SET cancel_requested = :flag WHERE batch_id = :batch_id")
CANCEL_REQUESTED = text("SELECT cancel_requested FROM batches WHERE batch_id = :batch_id")
ACQUIRE = text(
    "UPDATE batches SET owner = :owner, lease_expires_at = :expires WHERE batch_id = :batch_id "
    "AND (owner IS NULL OR owner = :owner OR lease_expires_at <= :now)"
)
"""Take the batch unless another owner's lease is live."""
LIVE_OWNER = text(
    "SELECT owner FROM batches WHERE batch_id = :batch_id AND lease_expires_at > :now"
)
RUNNING_OWNERS = text(
    "SELECT DISTINCT lease_owner FROM jobs WHERE batch_id = :batch_id"
    " AND status = 'running' AND lease_owner IS NOT NULL"
)
RENEW = text("UPDATE batches SET lease_expires_at = :expires WHERE owner = :owner")
RENEW_JOBS = text(
    "UPDATE jobs SET lease_expires_at = :expires WHERE lease_owner = :owner AND status = 'running'"
)
RELEASE = text("UPDATE batches SET owner = NULL, lease_expires_at = NULL WHERE owner = :owner")


def merge_settings_sql(backend: str) -> str:
    """Set the keys of JSON parameter ``values`` in the batch's recorded settings."""
    merged = merge_json(backend, "settings", "values")
    return f"UPDATE batches SET settings = {merged} WHERE batch_id = :batch_id"
