"""Who is looking at a page: the signed-in session behind the cookie, or nobody.

The same session the API's ``require_read`` accepts (a live session of an active
key); a page has no error body to show, so nobody signed in is a redirect to the
sign-in page instead of a 401. Pages only read: their changes go through the API,
which checks the CSRF token.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from batch.service.deps import Principal
from batch.service.sessions import SESSION_COOKIE
from batch.service.state import ServiceState

__all__ = ["Viewer", "viewer_of"]


@dataclass(frozen=True, slots=True)
class Viewer:
    principal: Principal
    csrf_token: str
    """Rendered into the page for its script to send as ``X-CSRF-Token``."""


async def viewer_of(request: Request, state: ServiceState) -> Viewer | None:
    """The session and its key's record, both read from the store in a worker thread."""
    token = request.cookies.get(SESSION_COOKIE)
    return await run_in_threadpool(_viewer, state, token) if token else None


def _viewer(state: ServiceState, token: str) -> Viewer | None:
    session = state.sessions.get(token)
    if session is None:
        return None
    key = state.keys.get(session.key_id)
    if key is None or not key.active:
        return None
    return Viewer(Principal(key.key_id, key.name, key.scope, "session"), session.csrf_token)
