"""Which engine runs a batch: one at a time, across threads, processes and hosts.

An engine takes the batch (``acquire_batch``: a lease on the batch row) before it
re-queues or runs anything, renews the lease while it holds it (from a thread of its
own, ``heartbeat``, not the busy event loop), and lets go when it is done. A second
engine finds the lease live and is refused with ``BatchBusyError`` naming the holder.
A holder that surely stopped (its process is gone on this host) is released at once,
so a resume after ``kill -9`` never waits; a holder on another host blocks until its
lease expires.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import psutil

from batch.exceptions import BatchBusyError
from batch.run.heartbeat import Heartbeat
from batch.store import ManifestStore

__all__ = [
    "BATCH_LEASE_S",
    "FINALIZE_SUFFIX",
    "new_owner_id",
    "owner_host",
    "owner_is_dead",
    "owning",
    "refuse_live_holder",
    "taking",
]

logger = logging.getLogger("batchwright.ownership")

BATCH_LEASE_S = 30.0
"""How long a batch stays taken after its engine stops renewing (a crash on another host)."""

FINALIZE_SUFFIX = ":finalize"
"""Ends the owner id under which a worker briefly takes a batch to write its reports."""

_live_here: set[str] = set()
"""The owners running a batch in this process now (their pid is ours, yet they live)."""


def new_owner_id() -> str:
    """Identifies this engine (host, pid, nonce) as the owner of the jobs it runs."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def owner_host(owner: str) -> str:
    """``hostname:pid`` of an owner id: what an attempt records as where it ran."""
    return owner.rsplit(":", 1)[0]


def owner_is_dead(owner: str, me: str) -> bool:
    """True when ``owner`` surely stopped: an engine of this host whose process is gone,
    or an engine of this very process that no longer runs. Other hosts' owners wait for
    their lease.
    """
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or owner == me:
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return owner not in _live_here
    return not psutil.pid_exists(pid)


def _take(store: ManifestStore, batch_id: str, owner: str, lease_s: float) -> None:
    """Become the batch's owner, releasing a dead holder first; refuse a live one, and
    a batch whose rows workers are running (they hold job leases, not the batch's)."""
    for _ in range(3):  # a holder may die or expire between two reads: look again
        if store.acquire_batch(batch_id, owner, lease_s):
            _refuse_live_workers(store, batch_id, owner)
            return
        holder = store.batch_owner(batch_id)
        if holder is None:
            continue  # its lease ran out meanwhile
        if not owner_is_dead(holder, owner):
            raise BatchBusyError(batch_id, holder)
        to_pending, to_review = store.release_owner(holder)
        logger.warning(
            "batch %s: engine %s is gone; %d interrupted jobs re-queued, %d need review",
            batch_id, holder, to_pending, to_review,
        )  # fmt: skip
    raise BatchBusyError(batch_id, store.batch_owner(batch_id) or "unknown:?")


def _refuse_live_workers(store: ManifestStore, batch_id: str, owner: str) -> None:
    """Workers run a batch's rows under job leases only: one still renewing them (its
    leases live after expired ones are re-queued) means the batch is theirs for now."""
    store.requeue_stale(batch_id)
    live = sorted(o for o in store.running_owners(batch_id) if not owner_is_dead(o, owner))
    if live:
        store.release_owner(owner)
        raise BatchBusyError(batch_id, live[0])


def refuse_live_holder(store: ManifestStore, batch_id: str, me: str) -> None:
    """For a process handing a batch to the workers: refuse while an engine runs it
    (a finishing worker's short report lock aside)."""
    holder = store.batch_owner(batch_id)
    if holder and not holder.endswith(FINALIZE_SUFFIX) and not owner_is_dead(holder, me):
        raise BatchBusyError(batch_id, holder)


@contextmanager
def taking(store: ManifestStore, batch_id: str, lease_s: float = BATCH_LEASE_S) -> Iterator[str]:
    """Hold ``batch_id`` for this engine while the block runs; yields the owner id. For a
    few store writes (a retry's re-queue) as is; ``owning`` renews it for a whole run.

    Raises ``BatchBusyError`` when another live engine holds it."""
    owner = new_owner_id()
    _take(store, batch_id, owner, lease_s)
    _live_here.add(owner)
    try:
        yield owner
    finally:
        _live_here.discard(owner)
        store.release_owner(owner)


@asynccontextmanager
async def owning(
    store: ManifestStore, batch_id: str, lease_s: float = BATCH_LEASE_S
) -> AsyncIterator[str]:
    """``taking`` for an execution: the lease is renewed until the block ends, from a
    thread (``Heartbeat``), so a blocked event loop does not let it expire."""
    with taking(store, batch_id, lease_s) as owner, Heartbeat(store, owner, lease_s, lease_s / 3):
        yield owner  # the heartbeat's thread ends before ``taking`` releases: none follows
