"""What a worker keeps per batch for its life: the flow, the batch's settings on top
of the worker's own, the runner on the worker's one browser, and the shared limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from batch.distributed.celery_app import QUEUE
from batch.distributed.flow_store import FlowCache
from batch.distributed.limits import (
    PendingChecks,
    SharedBreaker,
    SharedFailureLimit,
    SharedRateLimiter,
)
from batch.distributed.sweep import workers_record
from batch.models import BatchManifest
from batch.run.pool_leases import PoolLeaser
from batch.run.retry import RetryPolicy
from batch.settings import BatchSettings, Priority
from batch.store import ManifestStore
from runtime.browser import BrowserManager
from runtime.flows.model import Flow
from runtime.runners.base import CommitRecorder
from runtime.runners.local import LocalJobRunner

__all__ = ["WorkerBatch", "batch_settings"]


def batch_settings(worker: BatchSettings, manifest: BatchManifest) -> BatchSettings:
    """The worker's settings (browser, paths) with the batch's run settings over them."""
    overrides: dict[str, Any] = dict(workers_record(manifest.settings).get("settings", {}))
    if manifest.settings.get("base_url"):
        overrides.setdefault("base_url", manifest.settings["base_url"])
    return worker.with_overrides(**overrides) if overrides else worker


@dataclass
class WorkerBatch:
    batch_id: str
    flow: Flow
    settings: BatchSettings
    runner: LocalJobRunner
    policy: RetryPolicy
    secrets: tuple[str, ...]
    priority: Priority
    queue: str
    rate: SharedRateLimiter | None
    breaker: SharedBreaker
    failures: SharedFailureLimit
    checks: PendingChecks
    pools: PoolLeaser

    @property
    def held(self) -> bool:
        """Its remaining rows wait: the breaker is open or --max-failures was reached."""
        return self.breaker.open or self.failures.reached

    @classmethod
    def load(
        cls,
        manifest: BatchManifest,
        *,
        worker: BatchSettings,
        flows: FlowCache,
        browser: BrowserManager,
        client: redis.Redis,
        recorder: CommitRecorder,
        store: ManifestStore,
    ) -> WorkerBatch:
        batch_id = manifest.batch_id
        settings = batch_settings(worker, manifest)
        flow = flows.get(batch_id, manifest.settings)
        record = workers_record(manifest.settings)
        runner = LocalJobRunner(
            flow, settings, browser, settings.artifacts_dir / batch_id, recorder=recorder
        )
        return cls(
            batch_id=batch_id,
            flow=flow,
            settings=settings,
            runner=runner,
            policy=RetryPolicy.from_settings(settings),
            secrets=tuple(str(c) for c in manifest.settings.get("secrets", [])),
            priority=record.get("priority", "normal"),
            queue=record.get("queue", QUEUE),
            rate=SharedRateLimiter(client, batch_id, settings.rate) if settings.rate else None,
            breaker=SharedBreaker(client, batch_id, settings.circuit_breaker),
            failures=SharedFailureLimit(client, batch_id, settings.max_failures),
            checks=PendingChecks(client, batch_id),
            pools=PoolLeaser(store, batch_id, flow.pools),
        )
