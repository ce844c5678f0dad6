"""The dashboard's sessions in the store: every server on it knows every session.

A row is found by the SHA-256 of the cookie's token; the token itself is never
written, so a leaked store signs nobody in. Times are wall-clock UTC, given by the
caller (the service's clock), and compare as fixed-width text like the store's others.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, text

from batch.store import _codec as codec
from batch.store.manifest import ManifestStore

__all__ = ["PURGE_LIMIT", "SessionRow", "SessionRows"]

PURGE_LIMIT = 100
"""Expired rows deleted at most per opened session: an open stays quick however many
sessions were abandoned, and opens outnumber the sessions they leave behind."""


class SessionRow(NamedTuple):
    key_id: str
    created_at: datetime
    expires_at: datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SessionRows:
    """The ``service_sessions`` table of a manifest store."""

    def __init__(self, store: ManifestStore) -> None:
        self._store = store

    def add(self, token: str, key_id: str, now: datetime, expires_at: datetime) -> None:
        """Record the session of ``token``; first delete up to ``PURGE_LIMIT`` expired ones."""
        with self._store.transaction() as conn:
            self._purge(conn, now)
            conn.execute(
                text(
                    "INSERT INTO service_sessions (token_sha256, key_id, created_at, expires_at)"
                    " VALUES (:hash, :key_id, :now, :expires_at)"
                ),
                {
                    "hash": _hash(token),
                    "key_id": key_id,
                    "now": codec.to_iso(now),
                    "expires_at": codec.to_iso(expires_at),
                },
            )

    def find(self, token: str, now: datetime) -> SessionRow | None:
        """The live session of ``token``, else None; an expired one is deleted."""
        params = {"hash": _hash(token), "now": codec.to_iso(now)}
        with self._store.transaction(write=False) as conn:
            row = conn.execute(
                text(
                    "SELECT key_id, created_at, expires_at FROM service_sessions"
                    " WHERE token_sha256 = :hash"
                ),
                params,
            ).fetchone()
        if row is None:
            return None
        if str(row[2]) <= params["now"]:
            with self._store.transaction() as conn:
                conn.execute(
                    text(
                        "DELETE FROM service_sessions"
                        " WHERE token_sha256 = :hash AND expires_at <= :now"
                    ),
                    params,
                )
            return None
        created, expires = (datetime.fromisoformat(str(value)) for value in row[1:])
        return SessionRow(str(row[0]), created, expires)

    def remove(self, token: str) -> None:
        """Forget the session of ``token`` (none is fine)."""
        with self._store.transaction() as conn:
            conn.execute(
                text("DELETE FROM service_sessions WHERE token_sha256 = :hash"),
                {"hash": _hash(token)},
            )

    @staticmethod
    def _purge(conn: Connection, now: datetime) -> None:
        conn.execute(
            text(
                "DELETE FROM service_sessions WHERE token_sha256 IN (SELECT token_sha256"
                " FROM service_sessions WHERE expires_at <= :now LIMIT :limit)"
            ),
            {"now": codec.to_iso(now), "limit": PURGE_LIMIT},
        )
