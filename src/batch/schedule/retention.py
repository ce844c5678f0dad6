"""``prune`` and ``apply_retention``: removing old batches, their rows and their folders.

Each batch goes in two steps, in this order: its rows (attempts, jobs, the batch) in
one store transaction that refuses a running batch and, unless asked, one with rows
needing review; then its artifact folder, renamed to ``.pruning-<id>`` before it is
deleted. A prune killed between the two leaves a folder without a batch, which
nothing reads and the next prune deletes; ``list``, ``status`` and ``report`` never
see half a batch.

A group (docs/groups.md) goes once every batch of it is gone, the same way: its
row, then its ``groups/<id>`` folder (its index report). A group keeping some of
its batches stays; those pruned are listed in it (``status GROUP`` shows them) and
``refresh_group`` rewrites its index without them.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from batch.engine import BatchEngine
from batch.exceptions import BatchNotFoundError, ConfigurationError
from batch.groups import write_group_reports
from batch.models import BatchManifest, BatchStatus, JobStatus
from batch.run.ownership import new_owner_id
from batch.settings import BatchSettings
from batch.store import ManifestStore
from batch.store._retention import OldGroup, RetentionStore
from runtime.run_context import RunContext

__all__ = [
    "PruneOptions",
    "PruneResult",
    "PruneStatus",
    "PrunedBatch",
    "PrunedGroup",
    "apply_retention",
    "folder_size",
    "parse_age",
    "prune",
]


class PruneStatus(StrEnum):
    """Which old batches a prune selects (``--status``)."""

    FINISHED = "finished"
    """Every row completed or was skipped."""
    FAILED = "failed"
    """The others: rows failed, cancelled, needing review, or left unfinished."""
    ALL = "all"


_AGE = re.compile(r"(\d+)\s*([wdhms])")
_UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1),
          "m": timedelta(minutes=1), "s": timedelta(seconds=1)}  # fmt: skip
_BATCH_DIR = re.compile(r"(\d{8}-\d{6})-[0-9a-f]{6}")
"""A batch's folder name (``new_batch_id``): its creation time, to the second."""
_GROUP_DIR = re.compile(r"group-(\d{8}-\d{6})-[0-9a-f]{6}")
"""A group's folder name (``new_group_id``), under ``<artifacts_dir>/groups``."""
_PRUNING = ".pruning-"


def parse_age(text: str) -> timedelta:
    """``30d``, ``12h``, ``2w``, ``90m``, ``45s`` as a timedelta; refused clearly otherwise."""
    found = _AGE.fullmatch(text.strip())
    if found is None or int(found.group(1)) == 0:
        raise ConfigurationError(
            f"--older-than {text!r}: give a positive age with a unit, e.g. 30d, 12h, 2w or 90m"
        )
    return int(found.group(1)) * _UNITS[found.group(2)]


@dataclass(frozen=True)
class PruneOptions:
    older_than: timedelta
    status: PruneStatus = PruneStatus.ALL
    keep_failed: bool = False
    include_review: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class PrunedBatch:
    batch_id: str
    created_at: str
    kind: str
    """``finished`` or ``failed``, as ``--status`` reads it."""
    bytes: int


@dataclass(frozen=True)
class PrunedGroup:
    group_id: str
    created_at: str
    bytes: int
    """Of its ``groups/<id>`` folder (its batches' folders are counted with them)."""


@dataclass
class PruneResult:
    dry_run: bool
    removed: list[PrunedBatch] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)
    """Old batches left alone, and why (running, rows needing review)."""
    removed_groups: list[PrunedGroup] = field(default_factory=list)
    """Groups whose every batch is gone (or goes with this prune)."""
    partial_groups: list[str] = field(default_factory=list)
    """Groups that lost some batches to this prune and keep others."""
    leftover_folders: list[str] = field(default_factory=list)
    """Folders without a batch or group (an interrupted prune's) deleted too; a
    group's as ``groups/<name>``."""
    bytes_freed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def folder_size(path: Path) -> int:
    """Bytes of the files under ``path`` (symlinks not followed); 0 if it is absent."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).lstat().st_size
            except FileNotFoundError:
                continue  # removed meanwhile
    return total


def remove_folder(path: Path) -> None:
    """Rename first (atomic: a half-deleted folder is never under a batch's name), then
    delete; an interrupted delete leaves a ``.pruning-`` folder the next prune removes."""
    if not path.is_dir():
        return
    doomed = path.with_name(f"{_PRUNING}{path.name}")
    path.rename(doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def _kind(manifest: BatchManifest) -> PruneStatus:
    clean = {JobStatus.COMPLETED, JobStatus.SKIPPED}
    unclean = any(n for status, n in manifest.counts.items() if status not in clean)
    if manifest.status is BatchStatus.FINISHED and not unclean:
        return PruneStatus.FINISHED
    return PruneStatus.FAILED


def _wanted(kind: PruneStatus, options: PruneOptions) -> bool:
    if options.keep_failed and kind is PruneStatus.FAILED:
        return False
    return options.status in (PruneStatus.ALL, kind)


def prune(
    store: ManifestStore,
    artifacts_dir: Path,
    options: PruneOptions,
    now: datetime,
    *,
    between_steps: Callable[[str], None] | None = None,
    refresh_group: Callable[[str], object] | None = None,
) -> PruneResult:
    """Remove the batches created before ``now - older_than`` that ``options`` select,
    then the old groups left without a batch. Whether a batch runs is read from its
    leases, in real time whatever ``now`` is.

    ``between_steps(id)`` runs after a batch's (or group's) rows are gone and before
    its folder goes (tests kill a prune there); ``refresh_group(group_id)`` rewrites
    the reports of a group that lost some of its batches (the CLI's does)."""
    cutoff = now - options.older_than
    retention = RetentionStore(store)
    result = PruneResult(dry_run=options.dry_run)
    owner = f"prune:{new_owner_id()}"
    groups = retention.groups_created_before(cutoff)  # with their batches, before any goes
    for batch_id in retention.created_before(cutoff):
        try:
            manifest = store.get_manifest(batch_id)
        except BatchNotFoundError:
            continue  # another prune took it meanwhile
        kind = _kind(manifest)
        if not _wanted(kind, options):
            continue
        folder = artifacts_dir / batch_id
        size = folder_size(folder)
        reason = _dry_reason(store, retention, manifest, options) if options.dry_run else (
            retention.delete(batch_id, owner, include_review=options.include_review)
        )  # fmt: skip
        if reason is not None:
            result.kept[batch_id] = reason
            continue
        if not options.dry_run:
            if between_steps is not None:
                between_steps(batch_id)
            remove_folder(folder)
        created = manifest.created_at.isoformat()
        result.removed.append(PrunedBatch(batch_id, created, kind.value, size))
        result.bytes_freed += size
    _prune_groups(retention, groups, artifacts_dir / "groups", result, between_steps)
    if refresh_group is not None and not options.dry_run:
        for group_id in result.partial_groups:
            refresh_group(group_id)
    _leftovers(store, artifacts_dir, cutoff, result)
    return result


def _prune_groups(
    retention: RetentionStore,
    groups: Mapping[str, OldGroup],
    groups_dir: Path,
    result: PruneResult,
    between_steps: Callable[[str], None] | None,
) -> None:
    """Remove the old ``groups`` (as they were before the batches went) none of whose
    batches is left; note those that keep some."""
    removed = {batch.batch_id for batch in result.removed}
    for group_id, group in groups.items():
        left = [batch_id for batch_id in group.batch_ids if batch_id not in removed]
        if left:
            if len(left) < len(group.batch_ids):
                result.partial_groups.append(group_id)
            continue
        folder = groups_dir / group_id
        size = folder_size(folder)
        if not result.dry_run:
            if not retention.delete_group(group_id):
                continue  # a batch joined it meanwhile
            if between_steps is not None:
                between_steps(group_id)
            remove_folder(folder)
        result.removed_groups.append(PrunedGroup(group_id, group.created_at, size))
        result.bytes_freed += size


def _dry_reason(
    store: ManifestStore,
    retention: RetentionStore,
    manifest: BatchManifest,
    options: PruneOptions,
) -> str | None:
    """Why a real prune would keep the batch (the same checks, read only)."""
    busy = retention.activity(manifest.batch_id)
    if busy is not None:
        return busy
    review = store.count_by_status(manifest.batch_id).get(JobStatus.NEEDS_REVIEW, 0)
    if review and not options.include_review:
        return f"{review} row(s) need review (--include-review prunes them)"
    return None


def _leftovers(
    store: ManifestStore, artifacts_dir: Path, cutoff: datetime, result: PruneResult
) -> None:
    """Folders an interrupted prune left: ``.pruning-*``, and batch (or group) folders
    older than the cutoff whose batch (or group) is no longer in the store."""
    _sweep(artifacts_dir, "", _BATCH_DIR, lambda name: _has_batch(store, name), cutoff, result)
    groups_dir = artifacts_dir / "groups"
    _sweep(
        groups_dir, "groups/", _GROUP_DIR, lambda name: store.find_group(name) is not None,
        cutoff, result,
    )  # fmt: skip


def _sweep(  # noqa: PLR0917 - private: the folder, how its entries are named and found
    folder: Path,
    label: str,
    names: re.Pattern[str],
    known: Callable[[str], bool],
    cutoff: datetime,
    result: PruneResult,
) -> None:
    if not folder.is_dir():
        return
    for entry in sorted(folder.iterdir()):
        if not entry.is_dir() or entry.is_symlink():
            continue
        if not entry.name.startswith(_PRUNING) and not _orphan(entry, names, known, cutoff):
            continue
        size = folder_size(entry)
        if not result.dry_run:
            if entry.name.startswith(_PRUNING):
                shutil.rmtree(entry, ignore_errors=True)
            else:
                remove_folder(entry)
        result.leftover_folders.append(label + entry.name)
        result.bytes_freed += size


def _has_batch(store: ManifestStore, batch_id: str) -> bool:
    try:
        store.get_manifest(batch_id)
    except BatchNotFoundError:
        return False
    return True


def _orphan(
    entry: Path, names: re.Pattern[str], known: Callable[[str], bool], cutoff: datetime
) -> bool:
    found = names.fullmatch(entry.name)
    if found is None:
        return False
    try:
        created = datetime.strptime(found.group(1), "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return False  # digits that are no date: not a batch's folder
    return created < cutoff and not known(entry.name)


def apply_retention(
    store: ManifestStore, settings: BatchSettings, now: datetime
) -> PruneResult | None:
    """The ``retention_days`` setting applied once (the service calls it daily): the
    batches older than that, finished or not, pruned, then the groups left without a
    batch (a group keeping some has its index rewritten); None when retention is off."""
    if settings.retention_days is None:
        return None
    options = PruneOptions(older_than=timedelta(days=settings.retention_days))

    def refresh(group_id: str) -> None:
        with BatchEngine(RunContext(settings=settings)) as engine:
            write_group_reports(engine, group_id)

    return prune(store, settings.artifacts_dir, options, now, refresh_group=refresh)
