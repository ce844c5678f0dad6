"""``ServiceState``: what every request of one server shares, built by the lifespan."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from batch.service.hooks import BatchHooks
from batch.service.launcher import Launcher
from batch.service.sessions import SessionStore
from batch.service.tasks import TaskRegistry
from batch.settings import BatchSettings
from batch.store import ManifestStore
from batch.store._api_keys import ApiKeyStore
from batch.store._idempotency import IdempotencyStore
from batch.store._sessions import SessionRows

__all__ = ["BatchHooks", "ServiceState"]  # BatchHooks re-exported for the listeners


@dataclass
class ServiceState:
    """The server's settings, store and shared services."""

    settings: BatchSettings
    store: ManifestStore
    keys: ApiKeyStore
    idempotency: IdempotencyStore
    sessions: SessionStore
    launcher: Launcher
    tasks: TaskRegistry
    hooks: BatchHooks
    loop: asyncio.AbstractEventLoop
    """The server's loop: signal handlers hand their work to it."""
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    """Set on the first signal or at shutdown: the scheduler fires nothing more."""
    scheduling: asyncio.Task[Any] | None = None
    """The scheduler loop (``scheduling.py``), awaited before the launcher winds down."""

    @classmethod
    def open(cls, settings: BatchSettings) -> ServiceState:
        """In the server's running loop (the lifespan)."""
        store = ManifestStore.for_settings(settings)
        tasks, hooks = TaskRegistry(), BatchHooks()
        return cls(
            settings=settings,
            store=store,
            keys=ApiKeyStore(store),
            idempotency=IdempotencyStore(store),
            sessions=SessionStore(SessionRows(store), settings.session_ttl_s),
            launcher=Launcher(settings, store, hooks, tasks),
            tasks=tasks,
            hooks=hooks,
            loop=asyncio.get_running_loop(),
        )

    def on_signal(self, *, again: bool) -> None:
        """SIGTERM / SIGINT (from a signal handler): stop scheduling; again: cancel
        running rows too. Either way every batch stays resumable."""
        launcher = self.launcher
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.loop.call_soon_threadsafe(launcher.abort if again else launcher.stop)

    async def close(self) -> None:
        """The scheduler ends its tick (a batch it fires is handed over), running
        batches wind down, then the other tasks, then the store."""
        self.stopping.set()
        if self.scheduling is not None:
            await asyncio.gather(self.scheduling, return_exceptions=True)
        await self.launcher.shutdown()
        await self.tasks.close()
        self.store.close()
