"""SQL over idempotency keys: duplicates inside a batch, and rows an earlier batch
of the same flow already completed. One statement each, however many rows."""

from __future__ import annotations

from sqlalchemy import Connection, text

from batch.store._dialect import statement

__all__ = ["BatchKeys", "duplicate_keys", "skip_completed_elsewhere", "skip_duplicates"]


def _duplicate_lines_sql(backend: str) -> str:
    if backend == "sqlite":
        return """
SELECT group_concat(source_line) FROM (
    SELECT row_key, source_line FROM jobs
    WHERE batch_id = :batch AND status = 'pending' AND row_key != '' ORDER BY row_index)
GROUP BY row_key HAVING COUNT(*) > 1 ORDER BY MIN(source_line) LIMIT :limit
"""
    return """
SELECT string_agg(CAST(source_line AS text), ',' ORDER BY row_index) FROM jobs
WHERE batch_id = :batch AND status = 'pending' AND row_key != ''
GROUP BY row_key HAVING COUNT(*) > 1 ORDER BY MIN(source_line) LIMIT :limit
"""


_SKIP_DUPLICATES = text("""
UPDATE jobs SET status = 'skipped', finished_at = created_at,
    error_message = 'duplicate key of line ' || (
        SELECT MIN(first.source_line) FROM jobs AS first
        WHERE first.batch_id = jobs.batch_id AND first.row_key = jobs.row_key)
WHERE batch_id = :batch AND status = 'pending' AND row_key != '' AND EXISTS (
    SELECT 1 FROM jobs AS first
    WHERE first.batch_id = jobs.batch_id AND first.row_key = jobs.row_key
      AND first.row_index < jobs.row_index AND first.status != 'skipped')
""")
_SKIP_COMPLETED_ELSEWHERE = text("""
UPDATE jobs SET status = 'skipped', finished_at = created_at,
    error_message = 'already completed in batch ' || (
        SELECT done.batch_id FROM jobs AS done JOIN batches AS b ON b.batch_id = done.batch_id
        WHERE done.row_key = jobs.row_key AND done.status = 'completed'
          AND done.batch_id != jobs.batch_id AND b.flow_name = :flow
        ORDER BY done.finished_at LIMIT 1)
WHERE batch_id = :batch AND status = 'pending' AND row_key != '' AND EXISTS (
    SELECT 1 FROM jobs AS done JOIN batches AS b ON b.batch_id = done.batch_id
    WHERE done.row_key = jobs.row_key AND done.status = 'completed'
      AND done.batch_id != jobs.batch_id AND b.flow_name = :flow)
""")


def duplicate_keys(conn: Connection, batch_id: str, limit: int) -> list[list[int]]:
    """The CSV lines of each key that more than one runnable row shares (first ``limit``)."""
    params = {"batch": batch_id, "limit": limit}
    rows = conn.execute(statement(conn, _duplicate_lines_sql), params).fetchall()
    return [[int(line) for line in str(row[0]).split(",")] for row in rows]


def skip_duplicates(conn: Connection, batch_id: str) -> int:
    """Later rows sharing a key with an earlier runnable row become skipped."""
    return conn.execute(_SKIP_DUPLICATES, {"batch": batch_id}).rowcount


def skip_completed_elsewhere(conn: Connection, batch_id: str, flow_name: str) -> int:
    """Pending rows whose key an earlier batch of ``flow_name`` completed become skipped,
    naming that batch."""
    return conn.execute(_SKIP_COMPLETED_ELSEWHERE, {"batch": batch_id, "flow": flow_name}).rowcount


class BatchKeys:
    """The key policies of one batch being created, inside its creation transaction:
    whatever the policy decides (skip rows, or refuse the batch by raising) commits or
    rolls back together with the batch's rows."""

    def __init__(self, conn: Connection, batch_id: str) -> None:
        self._conn = conn
        self.batch_id = batch_id

    def duplicates(self, limit: int = 20) -> list[list[int]]:
        """CSV lines of the runnable rows that share an idempotency key, per key."""
        return duplicate_keys(self._conn, self.batch_id, limit)

    def skip_duplicates(self) -> int:
        """Skip every pending row whose key an earlier row of the batch has; how many."""
        return skip_duplicates(self._conn, self.batch_id)

    def skip_completed_elsewhere(self, flow_name: str) -> int:
        """Skip pending rows an earlier batch of the same flow completed; how many."""
        return skip_completed_elsewhere(self._conn, self.batch_id, flow_name)
