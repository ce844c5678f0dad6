"""``GroupSummary``: the group's batches' summaries, their totals and the refused files."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from batch.models import BatchGroup, BatchStatus, JobStatus
from batch.reports.summary import BatchSummary

if TYPE_CHECKING:
    from batch.engine import BatchEngine

__all__ = ["GROUP_SCHEMA_VERSION", "GroupSummary", "group_ok", "group_status", "summarise_group"]

GROUP_SCHEMA_VERSION = 1
"""Of ``group.json`` and ``status GROUP --json`` (docs/groups.md)."""


@dataclass(frozen=True)
class GroupSummary:
    """Computed from the store: each batch's ``BatchSummary`` in file order."""

    group: BatchGroup
    batches: tuple[BatchSummary, ...]

    @property
    def group_id(self) -> str:
        return self.group.group_id

    @property
    def total(self) -> int:
        return sum(batch.total for batch in self.batches)

    @property
    def counts(self) -> dict[str, int]:
        summed: Counter[str] = Counter()
        for batch in self.batches:
            summed.update(batch.counts)
        return {status.value: summed[status.value] for status in JobStatus}

    def count(self, status: JobStatus) -> int:
        return self.counts[status.value]

    @property
    def status(self) -> str:
        """running, interrupted, finished or created: the least settled batch's."""
        return group_status(batch.status for batch in self.batches)

    @property
    def success_rate(self) -> float:
        runnable = self.total - self.count(JobStatus.SKIPPED)
        return self.count(JobStatus.COMPLETED) / runnable if runnable else 0.0

    @property
    def has_failures(self) -> bool:
        """A file refused, or a row failed or needing review in any batch."""
        return bool(self.group.refused) or any(batch.has_failures for batch in self.batches)

    @property
    def ok(self) -> bool:
        """What exit code 0 means for ``run GROUP`` (``group_ok``)."""
        return group_ok(
            self.status, has_failures=self.has_failures, stopped=bool(self.stop_reasons)
        )

    @property
    def stop_reasons(self) -> list[str]:
        return [f"{b.batch_id}: {b.stop_reason}" for b in self.batches if b.stop_reason]

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON form (``group.json``, ``status GROUP --json``)."""
        return {
            "schema_version": GROUP_SCHEMA_VERSION,
            "group_id": self.group_id,
            "created_at": self.group.created_at.isoformat(),
            "flow_ref": self.group.flow_ref,
            "sources": list(self.group.sources),
            "status": self.status,
            "total": self.total,
            "counts": self.counts,
            "success_rate": self.success_rate,
            "has_failures": self.has_failures,
            "refused": [r.model_dump() for r in self.group.refused],
            "pruned": list(self.group.pruned),
            "batches": [
                {
                    "batch_id": b.batch_id,
                    "csv_path": b.csv_path,
                    "status": b.status.value,
                    "total": b.total,
                    "counts": dict(b.counts),
                    "success_rate": b.success_rate,
                    "has_failures": b.has_failures,
                    "stop_reason": b.stop_reason,
                    "artifact_cap_reached": b.artifact_cap_reached,
                    "report": f"{b.batch_id}/report.html",
                }
                for b in self.batches
            ],
        }


def group_ok(status: str, *, has_failures: bool, stopped: bool) -> bool:
    """Every row of every file completed (or skipped): finished, no file refused, no
    row failed or awaiting review, no batch stopped early. The API's ``ok`` and the
    dashboard's, from whatever summary each reads."""
    return status == BatchStatus.FINISHED.value and not has_failures and not stopped


def group_status(statuses: Iterable[BatchStatus]) -> str:
    """A group's status from its batches': the least settled one's (running first)."""
    present = set(statuses)
    for status in (BatchStatus.RUNNING, BatchStatus.INTERRUPTED, BatchStatus.CREATED):
        if status in present:
            return status.value
    return BatchStatus.FINISHED.value


def summarise_group(engine: BatchEngine, group_id: str) -> GroupSummary:
    group = engine.store.get_group(group_id)
    return GroupSummary(group, tuple(engine.get_batch_summary(b) for b in group.batch_ids))
