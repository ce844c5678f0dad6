"""One poller per batch, shared by every client streaming it.

``ProgressHub.stream`` is the progress stream as a plain async iterator. A batch's
``_Feed`` polls the store (``event_snapshot`` then ``row_changes`` past its cursor)
every ``poll_s`` and fans the events out to its subscribers' queues, so fifty clients
on one batch cost one poller. A client joining (or reconnecting with an id) reads what
it missed up to the feed's cursor from the store itself, then follows the feed: on one
event loop, subscribing and reading the cursor happen in one step, so nothing falls
between the two. A client too slow for its queue is dropped by the feed and catches up
from the store again, from its own position.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from batch.exceptions import BatchNotFoundError
from batch.notify.progress import (
    Position,
    RateMeter,
    StreamEvent,
    finished_event,
    format_event_id,
    is_over,
    parse_event_id,
    progress_event,
    row_event,
)
from batch.store import ManifestStore
from batch.store._events import END_OF_SEQ, EventSnapshot

__all__ = ["ProgressHub"]

_log = logging.getLogger(__name__)
_PAGE = 500

Spawn = Callable[[Coroutine[Any, Any, None], str], "asyncio.Task[Any]"]
"""Starts a poller's task: ``asyncio.create_task``, or a server's task registry (so
shutdown cancels and awaits it)."""


def _create_task(work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[Any]:
    return asyncio.create_task(work, name=name)


class _Subscriber:
    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[StreamEvent | None] = asyncio.Queue(size)
        self.lagged = False


class _Feed:
    """The poller of one batch; ends when the batch is over or nobody listens."""

    def __init__(
        self, hub: ProgressHub, batch_id: str, snapshot: EventSnapshot, rate: RateMeter
    ) -> None:
        self.hub = hub
        self.batch_id = batch_id
        self.cursor: Position = (snapshot.seq, END_OF_SEQ)
        self.subscribers: set[_Subscriber] = set()
        self.rate = rate
        self.progress = progress_event(batch_id, snapshot, rate.observe(snapshot), self.cursor)
        self.ended = False
        self.task: asyncio.Task[Any] | None = None

    def subscribe(self) -> tuple[_Subscriber, Position]:
        subscriber = _Subscriber(self.hub.queue_size)
        self.subscribers.add(subscriber)
        return subscriber, self.cursor

    async def run(self) -> None:
        try:
            while self.subscribers and not self.ended:
                await asyncio.sleep(self.hub.poll_s)
                await self._tick()
        except Exception:
            _log.exception("the progress feed of batch %s failed", self.batch_id)
        finally:
            self._end()

    async def _tick(self) -> None:
        # The status first: once it reads "over", the rows read after it are all there.
        snapshot = await asyncio.to_thread(self.hub.store.event_snapshot, self.batch_id)
        if snapshot is None:  # the batch was deleted
            return self._end()
        changed = False
        while changes := await asyncio.to_thread(
            self.hub.store.row_changes, self.batch_id, self.cursor, limit=_PAGE
        ):
            for change in changes:
                self.cursor = (change.seq, change.row_index)
                self._broadcast(row_event(change))
            changed = True
            if len(changes) < _PAGE:
                break
        rate = self.rate.observe(snapshot)
        progress = progress_event(self.batch_id, snapshot, rate, self.cursor)
        if changed or progress.data != self.progress.data:
            self.progress = progress
            self._broadcast(progress)
        if is_over(snapshot):
            self._broadcast(finished_event(self.batch_id, snapshot, self.cursor))
            self._end()
        return None

    def _broadcast(self, event: StreamEvent) -> None:
        for subscriber in list(self.subscribers):
            try:
                subscriber.queue.put_nowait(event)
            except asyncio.QueueFull:
                subscriber.lagged = True
                self.subscribers.discard(subscriber)

    def _end(self) -> None:
        """Leave the hub at once, so a client arriving now starts a new feed."""
        self.ended = True
        if self.hub.feeds.get(self.batch_id) is self:
            del self.hub.feeds[self.batch_id]
        for subscriber in self.subscribers:
            with contextlib.suppress(asyncio.QueueFull):
                subscriber.queue.put_nowait(None)  # the end; lagging ones resync anyway


class ProgressHub:
    """Progress streams of every batch, one shared poller per batch being watched."""

    def __init__(
        self,
        store: ManifestStore,
        *,
        poll_s: float = 0.5,
        queue_size: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        spawn: Spawn = _create_task,
    ) -> None:
        self.store = store
        self.spawn = spawn
        self.poll_s = poll_s
        self.queue_size = queue_size
        self.clock = clock
        self.feeds: dict[str, _Feed] = {}
        self._lock = asyncio.Lock()

    async def _feed(self, batch_id: str) -> _Feed:
        async with self._lock:
            feed = self.feeds.get(batch_id)
            if feed is not None:
                return feed
            snapshot = await asyncio.to_thread(self.store.event_snapshot, batch_id)
            if snapshot is None:
                raise BatchNotFoundError(f"no batch {batch_id!r}")
            feed = _Feed(self, batch_id, snapshot, RateMeter(clock=self.clock))
            self.feeds[batch_id] = feed
            return feed

    async def check(self, batch_id: str) -> None:
        """Raise ``BatchNotFoundError`` before a stream starts (a 404, not an empty stream)."""
        if await asyncio.to_thread(self.store.event_snapshot, batch_id) is None:
            raise BatchNotFoundError(f"no batch {batch_id!r}")

    async def stream(
        self, batch_id: str, last_event_id: str | None = None
    ) -> AsyncIterator[StreamEvent]:
        """Every row changed after ``last_event_id`` (all, without one), then the live
        events, until ``finished``. ``ValueError`` for an id not of this stream."""
        position = parse_event_id(last_event_id)
        while True:
            feed = await self._feed(batch_id)
            subscriber, upto = feed.subscribe()
            if feed.task is None:
                feed.task = self.spawn(feed.run(), f"progress-{batch_id}")
            start = position
            try:
                async for event, reached in self._follow(feed, subscriber, start, upto):
                    position = reached
                    yield event
                    if event.event == "finished":
                        return
            finally:
                feed.subscribers.discard(subscriber)

    async def _follow(
        self, feed: _Feed, subscriber: _Subscriber, position: Position, upto: Position
    ) -> AsyncIterator[tuple[StreamEvent, Position]]:
        """What was missed up to the feed's cursor, from the store; then the feed."""
        after = position
        while changes := await asyncio.to_thread(
            self.store.row_changes, feed.batch_id, after, upto, _PAGE
        ):
            for change in changes:
                after = (change.seq, change.row_index)
                yield row_event(change), after
        yield _restamp(feed.progress, after), after
        while not (subscriber.lagged and subscriber.queue.empty()):
            event = await subscriber.queue.get()
            if event is None:  # the feed stopped without the end (an error): resync
                return
            if event.event == "row":
                candidate = parse_event_id(event.id)
                if candidate <= after:
                    continue
                after = candidate
                yield event, after
            else:
                yield _restamp(event, after), after


def _restamp(event: StreamEvent, position: Position) -> StreamEvent:
    """A progress or finished event carries the position of the client's last row."""
    return StreamEvent(event.event, format_event_id(position), event.data)
