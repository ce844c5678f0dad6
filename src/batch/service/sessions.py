"""Dashboard sessions: a random cookie token -> the key that signed in, and a CSRF token.

Held in the server's memory: a restart signs everyone out, and no session token is
ever written anywhere. Each request re-checks the key, so revoking it ends its sessions.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["SESSION_COOKIE", "Session", "SessionStore"]

SESSION_COOKIE = "batchwright_session"


@dataclass(frozen=True)
class Session:
    key_id: str
    csrf_token: str
    expires_at: float
    """On the store's clock (monotonic by default)."""


class SessionStore:
    """Live sessions by cookie token, expired after ``ttl_s``."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._sessions: dict[str, Session] = {}

    def open(self, key_id: str) -> tuple[str, Session]:
        """A new session for ``key_id``: its cookie token and record."""
        self._forget_expired()
        token = secrets.token_urlsafe(32)
        session = Session(key_id, secrets.token_urlsafe(32), self._clock() + self.ttl_s)
        self._sessions[token] = session
        return token, session

    def get(self, token: str) -> Session | None:
        session = self._sessions.get(token)
        if session is not None and session.expires_at <= self._clock():
            del self._sessions[token]
            return None
        return session

    def close(self, token: str) -> None:
        self._sessions.pop(token, None)

    def _forget_expired(self) -> None:
        now = self._clock()
        for token in [t for t, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[token]
