"""``/api/v1/session``: the dashboard signs in with a key and gets an HttpOnly cookie.

The cookie is SameSite=Strict and carries only a random token; the CSRF token comes
back in the JSON body, for the page to send as ``X-CSRF-Token`` on every change.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from batch.service.deps import Reader, State
from batch.service.problems import Problem, problem_responses
from batch.service.schemas import SessionInfo, SignIn
from batch.service.sessions import SESSION_COOKIE

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["session"])


@router.post("/session", response_model=SessionInfo, responses=problem_responses(401, 422))
async def sign_in(body: SignIn, request: Request, response: Response, state: State) -> SessionInfo:
    key = state.keys.verify(body.key)
    if key is None:
        raise Problem(
            401, detail="the API key is not valid (unknown, mistyped or revoked)", field="key"
        )
    token, session = await run_in_threadpool(state.sessions.open, key.key_id)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(state.sessions.ttl_s),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return SessionInfo(name=key.name, scope=key.scope, csrf_token=session.csrf_token)


@router.get("/session", response_model=SessionInfo, responses=problem_responses(401))
async def who_am_i(principal: Reader, request: Request, state: State) -> SessionInfo:
    session = None
    if principal.via == "session":
        token = request.cookies.get(SESSION_COOKIE, "")
        session = await run_in_threadpool(state.sessions.get, token)
    csrf = session.csrf_token if session else None
    return SessionInfo(name=principal.name, scope=principal.scope, csrf_token=csrf)


@router.delete("/session", status_code=204, responses=problem_responses(401, 403))
async def sign_out(principal: Reader, request: Request, state: State) -> Response:
    """Ends the cookie's session (a Bearer caller has none to end)."""
    if principal.via == "session":
        await run_in_threadpool(state.sessions.close, request.cookies.get(SESSION_COOKIE, ""))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
