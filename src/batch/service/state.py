"""``ServiceState``: what every request of one server shares, built by the lifespan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from batch.models import ProgressEvent
from batch.reports.summary import BatchSummary
from batch.service.sessions import SessionStore
from batch.service.tasks import TaskRegistry
from batch.settings import BatchSettings
from batch.store import ManifestStore
from batch.store._api_keys import ApiKeyStore

__all__ = ["BatchHooks", "ServiceState"]


@dataclass
class BatchHooks:
    """Listeners of the batches this server runs (live progress, webhooks). Called in
    the server's event loop; a listener must not block (hand work to a task)."""

    on_progress: list[Callable[[ProgressEvent], None]] = field(default_factory=list)
    """After each row finishes."""
    on_finished: list[Callable[[BatchSummary], None]] = field(default_factory=list)
    """After a run of a batch ends (finished, stopped or cancelled)."""


@dataclass
class ServiceState:
    """The server's settings, store and shared services."""

    settings: BatchSettings
    store: ManifestStore
    keys: ApiKeyStore
    sessions: SessionStore
    tasks: TaskRegistry = field(default_factory=TaskRegistry)
    hooks: BatchHooks = field(default_factory=BatchHooks)

    @classmethod
    def open(cls, settings: BatchSettings) -> ServiceState:
        store = ManifestStore.for_settings(settings)
        return cls(settings, store, ApiKeyStore(store), SessionStore(settings.session_ttl_s))

    async def close(self) -> None:
        await self.tasks.close()
        self.store.close()
