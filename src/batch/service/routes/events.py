"""``GET /api/v1/batches/{id}/events``: a batch's live progress as server-sent events.

Events ``row`` (a row's status changed), ``progress`` (counts, rate, ETA) and
``finished`` (the final counts; then the stream ends), each with an ``id`` to resume
from: ``Last-Event-ID`` (header, or the ``last_event_id`` query parameter for clients
that cannot set headers) replays every row changed after it. Keep-alive comments every
``events_keepalive_s``. The events come from the store (``batch.notify``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from batch.exceptions import BatchNotFoundError
from batch.notify.progress import parse_event_id
from batch.service.deps import Reader, State
from batch.service.live import progress_hub
from batch.service.problems import Problem, problem_responses

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/batches", tags=["events"])

_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events: row, progress, finished (docs/service.md)",
        # each event as schemathesis and other clients parse it (ST108 checks them)
        "content": {
            "text/event-stream": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "event": {"type": "string", "enum": ["row", "progress", "finished"]},
                        "id": {"type": "string"},
                        "data": {"type": "string"},
                        "retry": {"type": "integer"},
                    },
                }
            }
        },
    }
}


@router.get(
    "/{batch_id}/events",
    response_class=EventSourceResponse,
    responses={**_STREAM, **problem_responses(400, 401, 404)},
)
async def events(
    batch_id: str,
    request: Request,
    _principal: Reader,
    state: State,
    last_event_id: Annotated[
        str | None,
        Query(max_length=64, description="Resume after this event id (as Last-Event-ID)."),
    ] = None,
    last_event_id_header: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=64)
    ] = None,
) -> EventSourceResponse:
    """Follow a batch until it stops; reconnect with the last id seen to miss nothing."""
    resume = last_event_id_header or last_event_id
    try:
        parse_event_id(resume)
    except ValueError as exc:
        field = "Last-Event-ID" if last_event_id_header else "last_event_id"
        raise Problem(400, detail=str(exc), field=field) from None
    hub = progress_hub(request)
    try:
        await hub.check(batch_id)
    except BatchNotFoundError:
        raise Problem(404, detail=f"no batch {batch_id!r}", field="batch_id") from None

    async def stream() -> AsyncIterator[ServerSentEvent]:
        async for event in hub.stream(batch_id, resume):
            yield ServerSentEvent(
                json.dumps(event.data, separators=(",", ":")), event=event.event, id=event.id
            )

    return EventSourceResponse(
        stream(),
        ping=state.settings.events_keepalive_s,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        send_timeout=30,
    )
