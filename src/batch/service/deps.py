"""FastAPI dependencies: the server's state and who is calling (``require_read`` /
``require_write``).

A caller proves itself with ``Authorization: Bearer <key>``, or with the dashboard's
session cookie; a cookie alone never changes anything: state-changing requests also
need the session's ``X-CSRF-Token`` header, which another site cannot read or send.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from batch.service.problems import Problem
from batch.service.sessions import SESSION_COOKIE
from batch.service.state import ServiceState
from batch.store._api_keys import ApiKey, Scope

__all__ = [
    "CSRF_HEADER",
    "Principal",
    "Reader",
    "State",
    "Writer",
    "require_read",
    "require_write",
    "service_state",
]

CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="batchwright"'}
# Declared for the OpenAPI schema (the docs' Authorize button); checked below.
_bearer = HTTPBearer(auto_error=False, description="An API key: `batchwright keys create`")


@dataclass(frozen=True)
class Principal:
    """The key a request acts as."""

    key_id: str
    name: str
    scope: Scope
    via: Literal["bearer", "session"] = "bearer"


def service_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


def _unauthorized(detail: str) -> Problem:
    return Problem(401, detail=detail, field="Authorization", headers=_CHALLENGE)


def _principal(key: ApiKey, via: Literal["bearer", "session"]) -> Principal:
    return Principal(key.key_id, key.name, key.scope, via)


def _from_header(state: ServiceState, header: str) -> Principal:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("the Authorization header must read 'Bearer <API key>'")
    key = state.keys.verify(token.strip())
    if key is None:
        raise _unauthorized("the API key is not valid (unknown, mistyped or revoked)")
    return _principal(key, "bearer")


def _from_session(state: ServiceState, request: Request, token: str) -> Principal:
    """In a worker thread: the session and its key are two reads of the store."""
    session = state.sessions.get(token)
    key = None if session is None else state.keys.get(session.key_id)
    if session is None or key is None or not key.active:
        state.sessions.close(token)
        raise _unauthorized("the session has ended: sign in again")
    if request.method not in _SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            raise Problem(
                403,
                detail=f"the {CSRF_HEADER} header is missing or does not match the session",
                field=CSRF_HEADER,
            )
    return _principal(key, "session")


async def _authenticate(
    request: Request,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    state: Annotated[ServiceState, Depends(service_state)],
) -> Principal:
    header = request.headers.get("Authorization")
    if header is not None:
        return _from_header(state, header)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return await run_in_threadpool(_from_session, state, request, cookie)
    raise _unauthorized("an API key is required: Authorization: Bearer <key>")


async def require_read(principal: Annotated[Principal, Depends(_authenticate)]) -> Principal:
    """Any valid key (read or write)."""
    return principal


async def require_write(principal: Annotated[Principal, Depends(_authenticate)]) -> Principal:
    """A write key; a read key gets 403."""
    if principal.scope != "write":
        raise Problem(403, detail=f"the key {principal.name!r} may only read (scope read)")
    return principal


State = Annotated[ServiceState, Depends(service_state)]
"""A route's parameter ``state: State``."""
Reader = Annotated[Principal, Depends(require_read)]
"""A route's parameter ``principal: Reader``: any valid key."""
Writer = Annotated[Principal, Depends(require_write)]
"""A route's parameter ``principal: Writer``: a write key."""
