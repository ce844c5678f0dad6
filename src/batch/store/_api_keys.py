"""API keys of the service: created, listed, revoked and verified; only hashes stored.

A key reads ``bw_<key_id>_<secret>``: ``key_id`` is public (it names the key in
``keys list`` and finds its row), the secret is 32 random bytes. The store keeps the
SHA-256 of the whole key and compares it in constant time, so neither a leaked store
nor a timing probe yields a usable key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from batch.exceptions import ConfigurationError
from batch.store import _codec as codec
from batch.store.manifest import ManifestStore

__all__ = ["ApiKey", "ApiKeyStore", "Scope"]

Scope = Literal["read", "write"]

_KEY = re.compile(r"bw_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_COLUMNS = "key_id, name, scope, created_at, revoked_at"
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """A key's public record (never its secret)."""

    key_id: str
    name: str
    scope: Scope
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: Scope) -> bool:
        """A write key may also read."""
        return self.scope == "write" or scope == "read"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _record(row: tuple[object, ...]) -> ApiKey:
    key_id, name, scope, created_at, revoked_at = row
    created = codec.from_iso(str(created_at))
    assert created is not None
    return ApiKey(
        key_id=str(key_id),
        name=str(name),
        scope="write" if scope == "write" else "read",
        created_at=created,
        revoked_at=codec.from_iso(None if revoked_at is None else str(revoked_at)),
    )


class ApiKeyStore:
    """The ``api_keys`` table of a manifest store."""

    def __init__(self, store: ManifestStore) -> None:
        self._store = store

    def create(self, name: str, scope: Scope) -> tuple[ApiKey, str]:
        """A new key: its record, and the key itself (shown once, never stored)."""
        if not _NAME.fullmatch(name):
            raise ConfigurationError(
                f"key name {name!r}: use 1-64 letters, digits, '.', '_', '@' or '-', "
                "starting with a letter or digit"
            )
        if scope not in ("read", "write"):
            raise ConfigurationError(f"key scope {scope!r}: use read or write")
        key_id = secrets.token_hex(6)
        key = f"bw_{key_id}_{secrets.token_urlsafe(32)}"
        now = datetime.now(UTC)
        params = {
            "key_id": key_id,
            "name": name,
            "scope": scope,
            "hash": _hash(key),
            "now": codec.to_iso(now),
        }
        with self._store.transaction() as conn:
            try:
                conn.execute(
                    text(
                        "INSERT INTO api_keys (key_id, name, scope, key_sha256, created_at)"
                        " VALUES (:key_id, :name, :scope, :hash, :now)"
                    ),
                    params,
                )
            except IntegrityError:  # caught inside: the store turns it into a StoreError
                raise ConfigurationError(
                    f"an active key is already named {name!r} (revoke it first, "
                    "or pick another name)"
                ) from None
        return ApiKey(key_id, name, scope, now, None), key

    def list(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        with self._store.transaction(write=False) as conn:
            rows = conn.execute(
                text(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at, key_id")
            ).fetchall()
        return [_record(tuple(row)) for row in rows]

    def get(self, key_id: str) -> ApiKey | None:
        with self._store.transaction(write=False) as conn:
            row = conn.execute(
                text(f"SELECT {_COLUMNS} FROM api_keys WHERE key_id = :key_id"),
                {"key_id": key_id},
            ).fetchone()
        return None if row is None else _record(tuple(row))

    def revoke(self, name_or_id: str) -> ApiKey:
        """Revoke the active key of this name or id, ending its dashboard sessions; a
        revoked key stays listed."""
        with self._store.transaction() as conn:
            row = conn.execute(
                text(
                    f"SELECT {_COLUMNS} FROM api_keys WHERE revoked_at IS NULL"
                    " AND (key_id = :ref OR name = :ref)"
                ),
                {"ref": name_or_id},
            ).fetchone()
            if row is None:
                raise ConfigurationError(
                    f"no active API key named {name_or_id!r} (see `batchwright keys list`)"
                )
            found = _record(tuple(row))
            now = datetime.now(UTC)
            conn.execute(
                text("UPDATE api_keys SET revoked_at = :now WHERE key_id = :key_id"),
                {"now": codec.to_iso(now), "key_id": found.key_id},
            )
            # Its dashboard sessions could no longer sign anyone in (each request
            # re-checks the key): their rows go with the revocation.
            conn.execute(
                text("DELETE FROM service_sessions WHERE key_id = :key_id"),
                {"key_id": found.key_id},
            )
        return ApiKey(found.key_id, found.name, found.scope, found.created_at, now)

    def verify(self, key: str) -> ApiKey | None:
        """The active key ``key`` is, else None (malformed, unknown, wrong or revoked)."""
        match = _KEY.fullmatch(key)
        key_id = match.group(1) if match else ""
        with self._store.transaction(write=False) as conn:
            row = conn.execute(
                text(f"SELECT {_COLUMNS}, key_sha256 FROM api_keys WHERE key_id = :key_id"),
                {"key_id": key_id},
            ).fetchone()
        stored = _DUMMY_HASH if row is None else str(row[5])
        # Compared even when the row is missing, so the time taken tells nothing.
        same = hmac.compare_digest(stored, _hash(key))
        if row is None or not same:
            return None
        found = _record(tuple(row[:5]))
        return found if found.active else None
