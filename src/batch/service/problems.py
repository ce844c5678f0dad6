"""Errors as problem details (RFC 9457): ``raise Problem(...)`` anywhere in a route.

Every error the API returns, ours or the framework's (unknown route, bad JSON, a
validation error), leaves as ``application/problem+json`` naming the request field
when there is one. An unexpected exception is logged on the server and answered with
a bare 500: no traceback, no message that might hold row data, ever reaches a client.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = [
    "PROBLEM_JSON",
    "Problem",
    "ProblemDetail",
    "install_problem_handlers",
    "problem_response",
    "problem_responses",
]

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class ProblemDetail(BaseModel):
    """The body of every error response."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    field: str | None = None
    """The request field at fault (``csv``, ``options.concurrency``, a header name)."""


class Problem(Exception):
    """An error response: ``raise Problem(404, detail="no batch 'x'")``."""

    def __init__(
        self,
        status: int,
        title: str | None = None,
        detail: str = "",
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.title = title or _TITLES.get(status, "Error")
        self.detail = detail or self.title
        self.field = field
        self.headers = dict(headers or {})
        super().__init__(f"{status} {self.title}: {self.detail}")


def problem_response(problem: Problem) -> JSONResponse:
    body = ProblemDetail(
        title=problem.title, status=problem.status, detail=problem.detail, field=problem.field
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=problem.status,
        headers=problem.headers,
        media_type=PROBLEM_JSON,
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` documenting these error statuses as problem details."""
    ref = {"$ref": "#/components/schemas/ProblemDetail"}
    return {
        status: {
            "description": _TITLES.get(status, "Error"),
            "content": {PROBLEM_JSON: {"schema": ref}},
        }
        for status in statuses
    }


def _field(location: tuple[Any, ...]) -> str | None:
    """``("body", "options", "concurrency")`` -> ``options.concurrency``; a header's name."""
    parts = [str(part) for part in location[1:]] if len(location) > 1 else []
    return ".".join(parts) or None


async def _on_problem(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(exc)


async def _on_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    field = _field(tuple(first.get("loc", ())))
    message = str(first.get("msg", "invalid request"))
    detail = f"{field}: {message}" if field else message
    return problem_response(Problem(422, detail=detail, field=field))


async def _on_http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else ""
    return problem_response(Problem(exc.status_code, detail=detail, headers=exc.headers))


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error(
        "unexpected error on %s %s: %s",
        request.method,
        request.url.path,
        type(exc).__name__,
        exc_info=exc,
    )
    return problem_response(Problem(500, detail="the server failed; its log has the details"))


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(Exception, _on_unexpected)
