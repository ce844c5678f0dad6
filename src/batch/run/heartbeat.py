"""Lease renewal off the event loop: a small daemon thread per lease holder.

The loop that runs the rows also makes synchronous store calls, writes reports and
may be starved of CPU; a renewal task on that loop is late whenever it is blocked,
and a lease that expires while its rows still run lets another engine or worker
run them a second time. A thread renews regardless of the loop.

It renews through the holder's own ``ManifestStore``: the store is thread-safe (one
transaction at a time under its lock; SQLite's connection is opened for any thread,
PostgreSQL takes a pooled connection per transaction), so a heartbeat costs no
connection of its own. It waits only while the loop's thread is inside one store
transaction, never while the loop runs anything else.
"""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType
from typing import Self

from batch.store import ManifestStore

__all__ = ["Heartbeat"]

logger = logging.getLogger("batchwright.heartbeat")


class Heartbeat:
    """Renews every lease of ``owner`` (``renew_lease``) each ``interval_s`` from a
    daemon thread, from ``start`` until ``stop``.

    ``stop`` returns only once the thread has ended, so a caller that releases its
    leases after it (``release_owner``) is sure no renewal follows the release.
    """

    def __init__(self, store: ManifestStore, owner: str, lease_s: float, interval_s: float) -> None:
        if not 0 < interval_s < lease_s:
            raise ValueError(f"a heartbeat every {interval_s:g}s cannot keep a {lease_s:g}s lease")
        self.store = store
        self.owner = owner
        self.lease_s = lease_s
        self.interval_s = interval_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"batchwright-lease-{owner}", daemon=True
        )

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop renewing; waits for a renewal in progress to end."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _beat(self) -> None:
        last = time.monotonic()
        while not self._stopping.wait(self.interval_s):
            try:
                self.store.renew_lease(self.owner, self.lease_s)
            except Exception:  # a store hiccup must not end the renewals: the next may pass
                logger.exception("%s: renewing its leases failed", self.owner)
                continue
            now = time.monotonic()
            gap = now - last
            if gap > self.lease_s / 2:  # half the lease gone between two renewals
                logger.warning(
                    "%s: leases renewed %.1fs after the last renewal (lease %gs): the machine "
                    "or the store is too slow; a longer BATCH_LEASE_S keeps rows safe",
                    self.owner, gap, self.lease_s,
                )  # fmt: skip
            last = now
