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
    "field_of",
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


def field_of(location: tuple[Any, ...] | list[Any]) -> str | None:
    """A pydantic error's location as a request field: ``("concurrency",
    "constrained-int")`` -> ``concurrency``, ``("job_ids", 0)`` -> ``job_ids.0`` (the
    names pydantic gives union members are not fields)."""
    parts = [str(p) for p in location if isinstance(p, int) or str(p).isidentifier()]
    return ".".join(parts) or None


def _field(location: tuple[Any, ...]) -> str | None:
    """Past FastAPI's ``body``/``query``/``header`` prefix: the field, or a header's name."""
    return field_of(location[1:]) if len(location) > 1 else None


async def _on_problem(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(exc)


async def _on_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    if first.get("type") == "json_invalid":
        return problem_response(Problem(400, detail="the body is not valid JSON", field="body"))
    field = _field(tuple(first.get("loc", ())))
    message = str(first.get("msg", "invalid request"))
    detail = f"{field}: {message}" if field else message
    return problem_response(Problem(422, detail=detail, field=field))


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else ""
    headers = dict(exc.headers or {})
    if exc.status_code == 405:  # Starlette names the first matching route's methods only
        headers["Allow"] = ", ".join(_methods_of(request))
    return problem_response(Problem(exc.status_code, detail=detail, headers=headers))


def _methods_of(request: Request) -> list[str]:
    """The methods of every route matching the path (HEAD, implied by GET, left out as
    the OpenAPI schema leaves it out)."""
    methods: set[str] = set()
    routes = list(request.app.routes)
    while routes:
        route = routes.pop()
        included = getattr(route, "original_router", None)  # FastAPI's included routers
        if included is not None:
            routes.extend(included.routes)
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(request.url.path):
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods - {"HEAD"})


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
