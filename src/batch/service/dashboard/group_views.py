"""What the groups pages show, read from the store: a group, its batches and its
refused files.

Everything comes from the batches' manifests (their counts are kept by the store), never
from a walk over their rows: the groups page lists many groups of any size at the cost
of one manifest read per batch. ``ok`` means what the API's ``GroupOut.ok`` means.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from batch.exceptions import BatchNotFoundError
from batch.groups.summary import group_ok, group_status
from batch.models import BatchGroup, BatchStatus, JobStatus, RefusedFile
from batch.service.dashboard.views import BatchView, batch_view
from batch.service.group_creation import SOURCE_FILE
from batch.service.launcher import RunState
from batch.store import ManifestStore

__all__ = ["GroupMember", "GroupView", "group_view"]


@dataclass(frozen=True, slots=True)
class GroupMember:
    """One batch of the group, with the file it was made of."""

    file: str
    """As the request named it (an upload: the client's file name), else the CSV's name."""
    batch: BatchView
    stop_reason: str


@dataclass(frozen=True, slots=True)
class GroupView:
    group: BatchGroup
    members: tuple[GroupMember, ...]

    @property
    def group_id(self) -> str:
        return self.group.group_id

    @property
    def created_at(self) -> datetime:
        return self.group.created_at

    @property
    def refused(self) -> list[RefusedFile]:
        return self.group.refused

    @property
    def pruned(self) -> list[str]:
        return self.group.pruned

    @property
    def status(self) -> str:
        """The least settled batch's (``group_status``, as the API and ``status GROUP``)."""
        return group_status(BatchStatus(m.batch.status) for m in self.members)

    @property
    def total(self) -> int:
        return sum(m.batch.total for m in self.members)

    @property
    def counts(self) -> tuple[tuple[str, int], ...]:
        """Statuses with at least one row over all batches, in the order of ``JobStatus``."""
        summed: Counter[str] = Counter()
        for member in self.members:
            summed.update(dict(member.batch.counts))
        return tuple((s.value, summed[s.value]) for s in JobStatus if summed[s.value])

    @property
    def ok(self) -> bool:
        """Finished, no file refused, no row failed or awaiting review, none stopped early."""
        failures = {JobStatus.FAILED.value, JobStatus.NEEDS_REVIEW.value}
        return group_ok(
            self.status,
            has_failures=bool(self.refused) or any(s in failures for s, _ in self.counts),
            stopped=any(m.stop_reason for m in self.members),
        )

    @property
    def page_url(self) -> str:
        return f"/groups/{quote(self.group_id, safe='')}"

    @property
    def api_url(self) -> str:
        return f"/api/v1/groups/{quote(self.group_id, safe='')}"

    @property
    def report_url(self) -> str:
        return f"{self.api_url}/report"


def group_view(
    store: ManifestStore, group: BatchGroup, state_of: Callable[[str], RunState]
) -> GroupView:
    """The group with each batch's manifest (blocking: store reads); a batch pruned
    between the two reads is left out."""
    members = []
    for batch_id in group.batch_ids:
        try:
            manifest = store.get_manifest(batch_id)
        except BatchNotFoundError:
            continue
        view = batch_view(manifest, state_of(batch_id))
        members.append(
            GroupMember(
                file=str(manifest.settings.get(SOURCE_FILE) or view.csv_name),
                batch=view,
                stop_reason=str(manifest.settings.get("stop_reason") or ""),
            )
        )
    return GroupView(group, tuple(members))
