"""Idempotency keys of batch creation: (key id, ``Idempotency-Key``) -> the batch made.

A client retrying a create after a lost answer sends the same header and gets the
first batch back instead of a second one. The request's hash is kept to refuse the
same header with a different request.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from batch.store import _codec as codec
from batch.store.manifest import ManifestStore

__all__ = ["IdempotencyStore", "Remembered"]


class Remembered(NamedTuple):
    request_sha256: str
    batch_id: str


class _Taken(Exception):
    """Another request recorded this key first."""


class IdempotencyStore:
    """The ``idempotency_keys`` table of a manifest store."""

    def __init__(self, store: ManifestStore) -> None:
        self._store = store

    def find(self, key_id: str, idempotency_key: str) -> Remembered | None:
        with self._store.transaction(write=False) as conn:
            row = conn.execute(
                text(
                    "SELECT request_sha256, batch_id FROM idempotency_keys"
                    " WHERE key_id = :key_id AND idempotency_key = :key"
                ),
                {"key_id": key_id, "key": idempotency_key},
            ).fetchone()
        return None if row is None else Remembered(str(row[0]), str(row[1]))

    def remember(
        self, key_id: str, idempotency_key: str, request_sha256: str, batch_id: str
    ) -> Remembered:
        """Record the batch; if another request recorded one first, that one wins."""
        try:
            with self._store.transaction() as conn:
                try:
                    conn.execute(
                        text(
                            "INSERT INTO idempotency_keys (key_id, idempotency_key,"
                            " request_sha256, batch_id, created_at)"
                            " VALUES (:key_id, :key, :hash, :batch_id, :now)"
                        ),
                        {
                            "key_id": key_id,
                            "key": idempotency_key,
                            "hash": request_sha256,
                            "batch_id": batch_id,
                            "now": codec.to_iso(datetime.now(UTC)),
                        },
                    )
                except IntegrityError:  # inside: the store would make it a StoreError
                    raise _Taken from None  # and out of the block: rolled back
        except _Taken:
            pass
        else:
            return Remembered(request_sha256, batch_id)
        found = self.find(key_id, idempotency_key)
        assert found is not None
        return found
