"""What the batch's pools did, from its attempts: which entry each attempt used, how
long rows waited for a free entry, and which entries were taken out as unusable."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from batch.models import BatchJob

__all__ = ["PoolUsage", "PoolUsageBuilder", "UnusableEntry", "entry_label"]

MAX_UNUSABLE_SHOWN = 100


def entry_label(keys: dict[str, str]) -> str:
    """``account=alice`` (``; ``-joined for several pools): how reports name entries."""
    return "; ".join(f"{pool}={key}" for pool, key in sorted(keys.items()))


@dataclass(frozen=True)
class UnusableEntry:
    pool: str
    key: str
    row: int
    """1-based row whose attempt marked it."""
    message: str


@dataclass(frozen=True)
class PoolUsage:
    attempts_by_entry: dict[str, dict[str, int]]
    """pool -> entry key -> attempts that leased it."""
    attempts_waited: int
    """Attempts that waited for a free entry (a wait, never a failure)."""
    total_wait_s: float
    max_wait_s: float
    unusable: tuple[UnusableEntry, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempts_by_entry": {p: dict(e) for p, e in self.attempts_by_entry.items()},
            "attempts_waited": self.attempts_waited,
            "total_wait_s": round(self.total_wait_s, 3),
            "max_wait_s": round(self.max_wait_s, 3),
            "unusable": [
                {"pool": u.pool, "key": u.key, "row": u.row, "message": u.message}
                for u in self.unusable
            ],
        }


@dataclass
class PoolUsageBuilder:
    """Accumulates ``PoolUsage`` job by job (``None`` when no attempt leased anything)."""

    uses: dict[str, Counter[str]] = field(default_factory=dict)
    waited: int = 0
    total_wait_s: float = 0.0
    max_wait_s: float = 0.0
    unusable: list[UnusableEntry] = field(default_factory=list)

    def add(self, job: BatchJob) -> None:
        for attempt in job.attempts:
            for pool, key in attempt.pool.items():
                self.uses.setdefault(pool, Counter())[key] += 1
            if attempt.pool_wait_s > 0:
                self.waited += 1
                self.total_wait_s += attempt.pool_wait_s
                self.max_wait_s = max(self.max_wait_s, attempt.pool_wait_s)
            for pool in attempt.pool_unusable:
                if len(self.unusable) < MAX_UNUSABLE_SHOWN and pool in attempt.pool:
                    entry = UnusableEntry(
                        pool, attempt.pool[pool], job.row_index + 1, attempt.message
                    )
                    self.unusable.append(entry)

    def build(self) -> PoolUsage | None:
        if not self.uses:
            return None
        return PoolUsage(
            {pool: dict(sorted(counts.items())) for pool, counts in sorted(self.uses.items())},
            self.waited,
            self.total_wait_s,
            self.max_wait_s,
            tuple(self.unusable),
        )
