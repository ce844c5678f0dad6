"""Request body limits, enforced while the body streams (never after buffering it).

A declared ``Content-Length`` over the limit is refused before a byte is read; a body
without one (chunked) is counted as it arrives and refused as soon as it passes. A
batch upload (multipart) may be as large as ``max_file_size_mb`` plus a little for its
flow and options: the upload route enforces the CSV's own limit exactly.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from batch.service.problems import Problem, problem_response

__all__ = ["MULTIPART_SLACK", "BodyLimit"]

MULTIPART_SLACK = 1024 * 1024
"""Room for a flow file and the options beside the CSV of an upload."""


class BodyLimit:
    """ASGI middleware: 413 for a body over ``limit_for(content_type)`` bytes."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        limit = self.limit_for(headers.get("content-type", ""))
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                bad = Problem(400, detail="Content-Length is not a number", field="Content-Length")
                await problem_response(bad)(scope, receive, send)
                return
            if int(declared) > limit:
                await problem_response(_too_large(limit))(scope, receive, send)
                return
        received = 0
        refused = False

        async def counted() -> Message:
            # Past the limit, the 413 is sent from here and the app sees the client go:
            # raising instead would reach FastAPI's body parser, which answers 400.
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    await problem_response(_too_large(limit))(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counted, guarded)


def _too_large(limit: int) -> Problem:
    return Problem(413, detail=f"the request body is over the limit of {limit} bytes")
