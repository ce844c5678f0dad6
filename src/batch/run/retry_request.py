"""``RetryRequest``: what ``BatchEngine.retry_batch_jobs`` returns.

The spec calls ``engine.retry_batch_jobs(...)`` without ``await`` and the CLI awaits
it, so the call does its bookkeeping at once (failed rows re-queued, the retry policy
recorded with the batch) and hands back a value that serves both: read it like a
mapping of counts, or await it to run the batch and get its ``BatchSummary``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

from batch.reports.summary import BatchSummary, read_count

__all__ = ["RetryRequest"]


@dataclass(frozen=True, slots=True)
class RetryRequest:
    """Failed rows re-queued for a retry; awaiting it runs them.

    ``request["requeued"]`` is how many rows went back to pending; the other keys
    (``completed``, ``failed``, ``pending``, ..., ``total``) count the batch's jobs
    right after the re-queue."""

    batch_id: str
    requeued: int
    counts: Mapping[str, int]
    """Jobs per status after the re-queue, and ``total``."""
    policy: Mapping[str, float]
    """The retry options given to this call, recorded for the batch's next execution."""
    _run: Callable[[], Coroutine[Any, Any, BatchSummary]] = field(repr=False, compare=False)

    def __getitem__(self, key: str) -> int:
        return read_count({**self.counts, "requeued": self.requeued}, key)

    def __await__(self) -> Generator[Any, None, BatchSummary]:
        """Run the batch (the re-queued rows and anything else left pending)."""
        return self._run().__await__()
