"""A small server-sent-events reader over httpx streaming, for the service's tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["SseEvent", "SseRead", "read_sse"]


@dataclass(frozen=True)
class SseEvent:
    event: str
    id: str
    data: dict[str, Any]


@dataclass
class SseRead:
    status: int
    events: list[SseEvent] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)

    def rows(self) -> list[tuple[str, str, str]]:
        return [(e.id, e.data["job_id"], e.data["status"]) for e in self.events if e.event == "row"]


async def read_sse(
    client: httpx.AsyncClient,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    until: Callable[[SseRead], bool] | None = None,
) -> SseRead:
    """Read events until the stream ends (after ``finished``) or ``until`` says stop."""
    async with client.stream("GET", url, headers=headers, params=params) as response:
        read = SseRead(response.status_code)
        if response.status_code != 200:
            await response.aread()
            return read
        assert response.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line.startswith(":"):
                read.comments.append(line)
            elif line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
            elif "event" in fields:
                read.events.append(
                    SseEvent(fields["event"], fields["id"], json.loads(fields["data"]))
                )
                fields = {}
            if until is not None and until(read):
                break
    return read
