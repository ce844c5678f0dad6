"""Leasing pool entries around each attempt, for the in-process engine and the Celery
worker alike: wait (polling the store) until every pool of the flow has a free entry,
run the attempt with those entries in its spec, then release them, marking unusable
the ones the attempt said so of. The wait is recorded, never a failure; a pool with
no usable entry left fails the row (business: retrying cannot help)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

from batch.store import ManifestStore, PoolDemand
from runtime.flows.pools import PoolSpec
from runtime.outcome import AttemptOutcome, ErrorCategory, JobSpec
from runtime.runners.base import JobRunner

__all__ = ["PoolLease", "PoolLeaser", "leased_attempt"]

logger = logging.getLogger("batchwright.pools")

Mask = Callable[[AttemptOutcome, list[str]], AttemptOutcome]


@dataclass(frozen=True)
class PoolLease:
    """What one attempt holds: each pool's entry (its row), its key, the wait for it."""

    token: str
    entries: dict[str, dict[str, str]] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    wait_s: float = 0.0
    secret_values: list[str] = field(default_factory=list)
    exhausted: str | None = None
    """A pool with no usable entry left: the attempt did not run."""


class PoolLeaser:
    """The leases of one batch's attempts in this process (nothing to do without pools)."""

    def __init__(
        self,
        store: ManifestStore,
        batch_id: str,
        pools: Sequence[PoolSpec],
        *,
        poll_s: float = 0.1,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.batch_id = batch_id
        self.pools = tuple(pools)
        self.poll_s = poll_s
        self.sleep = sleep
        self.clock = clock
        self._demands = [PoolDemand(pool.name, pool.max_uses) for pool in self.pools]
        self._cooldowns = {pool.name: pool.cooldown_s for pool in self.pools}

    async def acquire(self, job_id: str, token: str) -> PoolLease:
        """Wait for one free entry of every pool, leased to the attempt under ``token``."""
        if not self.pools:
            return PoolLease(token)
        started, waited = self.clock(), False
        while True:
            result = self.store.lease_pool_entries(self.batch_id, job_id, token, self._demands)
            if result.exhausted is not None:
                return PoolLease(token, exhausted=result.exhausted)
            if result.entries is not None:
                entries = {name: dict(entry.data) for name, entry in result.entries.items()}
                return PoolLease(
                    token,
                    entries,
                    {name: entry.key for name, entry in result.entries.items()},
                    self.clock() - started if waited else 0.0,  # waited: slept at least once
                    [entries[pool.name].get(c, "") for pool in self.pools for c in pool.secrets],
                )
            await self.sleep(self.poll_s)
            waited = True

    def release(self, lease: PoolLease, outcome: AttemptOutcome | None) -> None:
        """End the attempt's leases; entries it found unusable leave the pool."""
        if not lease.entries:
            return
        failed = outcome.pool_unusable if outcome else ()
        reason = (outcome.message if outcome else "") or "marked unusable"
        unusable = {name: reason for name in failed if name in lease.entries}
        self.store.release_pool_entries(self.batch_id, lease.token, self._cooldowns, unusable)
        for name in unusable:
            logger.warning(
                "batch %s: pool %r entry %r marked unusable; out for the rest of the batch",
                self.batch_id, name, lease.keys[name],
            )  # fmt: skip

    def exhausted_outcome(self, pool: str) -> AttemptOutcome:
        return AttemptOutcome(
            ok=False,
            duration_s=0.0,
            category=ErrorCategory.BUSINESS,
            message=f"pool {pool!r} has no usable entry left (each is marked unusable or "
            "used max_uses times): the row cannot run",
        )


async def leased_attempt(
    leaser: PoolLeaser, runner: JobRunner, spec: JobSpec, token: str, mask: Mask
) -> tuple[AttemptOutcome, PoolLease]:
    """One attempt between acquiring and releasing its pool entries; the outcome is
    masked (row and pool secrets) before anything records or logs it."""
    lease = await leaser.acquire(spec.job_id, token)
    if lease.exhausted is not None:
        return leaser.exhausted_outcome(lease.exhausted), lease
    outcome: AttemptOutcome | None = None
    try:
        leased = replace(spec, pool=lease.entries) if lease.entries else spec
        outcome = mask(await runner.run(leased), lease.secret_values)
        return outcome, lease
    finally:
        leaser.release(lease, outcome)
