"""Dashboard sessions: a random cookie token -> the key that signed in, and a CSRF token.

Kept in the store (``batch/store/_sessions.py``), so that every server on it knows a
session opened on any of them, and a restart signs nobody out. The store holds only
the token's SHA-256; the CSRF token is an HMAC of the cookie token, derived on each
request and never stored, so a leaked store yields neither. Each request re-checks
the key, so revoking it ends its sessions.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from batch.store._sessions import SessionRows

__all__ = ["SESSION_COOKIE", "Session", "SessionStore"]

SESSION_COOKIE = "batchwright_session"
_CSRF_LABEL = b"batchwright dashboard csrf v1"


@dataclass(frozen=True)
class Session:
    key_id: str
    csrf_token: str
    expires_at: datetime
    """Wall clock, UTC (the store's servers share it, unlike a monotonic clock)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _csrf_of(token: str) -> str:
    return hmac.new(token.encode("utf-8"), _CSRF_LABEL, hashlib.sha256).hexdigest()


class SessionStore:
    """Live sessions by cookie token, expired after ``ttl_s``.

    Every method reads or writes the store: call them off the event loop."""

    def __init__(
        self, rows: SessionRows, ttl_s: float, clock: Callable[[], datetime] = _utc_now
    ) -> None:
        self.ttl_s = ttl_s
        self._rows = rows
        self._clock = clock

    def open(self, key_id: str) -> tuple[str, Session]:
        """A new session for ``key_id``: its cookie token and record."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        expires_at = now + timedelta(seconds=self.ttl_s)
        self._rows.add(token, key_id, now, expires_at)
        return token, Session(key_id, _csrf_of(token), expires_at)

    def get(self, token: str) -> Session | None:
        if not token:
            return None
        row = self._rows.find(token, self._clock())
        return None if row is None else Session(row.key_id, _csrf_of(token), row.expires_at)

    def close(self, token: str) -> None:
        if token:
            self._rows.remove(token)
