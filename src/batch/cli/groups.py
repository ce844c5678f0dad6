"""How the CLI handles groups: whether ``run`` makes one, what it prints while it
creates and runs one, its status table, and the group's single exit code."""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from batch.cli.displays import ProgressSink, final_line, make_group_progress
from batch.cli.workers import follow_group_on_workers
from batch.engine import BatchEngine
from batch.groups import GroupSummary
from batch.groups.report import group_dir
from batch.ingest.sources import is_pattern
from batch.models import BatchGroup, BatchStatus, JobStatus
from batch.run.progress import ProgressCallback
from batch.settings import BatchSettings

__all__ = [
    "RunLocally",
    "announce_group",
    "group_exit_code",
    "group_labels",
    "is_group_run",
    "print_group_final",
    "print_group_status",
    "rerun_group_command",
    "run_group_command",
    "run_or_follow_group",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

RunLocally = Callable[
    [BatchEngine, Callable[[ProgressCallback], Awaitable[GroupSummary]], str, ProgressSink],
    GroupSummary,
]
"""The CLI's runner with Ctrl-C handling (``app._run_with_signals``)."""


def run_group_command(
    batch_engine: BatchEngine,
    sources: list[str],
    flow: str,
    mode: str,
    on_workers: bool,
    *,
    detach: bool,
    queue: str,
    consoles: tuple[Console, Console],
    run_locally: RunLocally,
) -> int:
    """``run`` with several CSVs: every batch created, then run together (here or on
    the workers); prints the outcome and returns the group's exit code."""
    out, err = consoles
    group = batch_engine.create_batch_group(sources, flow)
    labels, totals = announce_group(out, err, batch_engine, group, json_mode=mode == "json")
    return run_or_follow_group(
        batch_engine,
        group.group_id,
        (labels, totals),
        mode,
        lambda cb: batch_engine.execute_group(group.group_id, cb),
        on_workers=on_workers, detach=detach, queue=queue, consoles=consoles,
        run_locally=run_locally,
    )  # fmt: skip


def rerun_group_command(
    batch_engine: BatchEngine,
    group_id: str,
    mode: str,
    work: Callable[[ProgressCallback], Awaitable[GroupSummary]],
    requeue: Callable[[str], object],
    *,
    on_workers: bool,
    detach: bool,
    queue: str,
    consoles: tuple[Console, Console],
    run_locally: RunLocally,
) -> int:
    """``resume``/``retry`` of a group: ``work`` runs its batches together here, or
    ``requeue`` readies each batch for the workers, which then take them all."""
    group = batch_engine.store.get_group(group_id)
    if on_workers:
        for batch_id in group.batch_ids:
            requeue(batch_id)
    return run_or_follow_group(
        batch_engine, group_id, group_labels(batch_engine, group), mode, work,
        on_workers=on_workers, detach=detach, queue=queue, consoles=consoles,
        run_locally=run_locally,
    )  # fmt: skip


def run_or_follow_group(
    batch_engine: BatchEngine,
    group_id: str,
    shown: tuple[dict[str, str], dict[str, int]],
    mode: str,
    work: Callable[[ProgressCallback], Awaitable[GroupSummary]],
    *,
    on_workers: bool,
    detach: bool,
    queue: str,
    consoles: tuple[Console, Console],
    run_locally: RunLocally,
) -> int:
    """Run the group here (``work``) or follow it on the workers; print its final
    summary and index report; the group's exit code. ``shown``: each batch's label
    and row count, for the progress display."""
    out, err = consoles
    labels, totals = shown
    if on_workers:
        followed = follow_group_on_workers(
            batch_engine, group_id, mode, labels, totals, detach=detach, queue=queue, err=err
        )
        if followed is None:
            out.print(group_id)
            return EXIT_OK
        summary = followed
    else:
        sink = make_group_progress(mode, sys.stdout, group_id, labels, totals)  # type: ignore[arg-type]
        summary = run_locally(batch_engine, work, mode, sink)
    index = group_dir(batch_engine, group_id) / "index.html"
    print_group_final(out, summary, index, json_mode=mode == "json")
    return group_exit_code(summary)


def is_group_run(sources: Sequence[str], settings: BatchSettings) -> bool:
    """Several sources, a pattern or a directory make a group; one file, a batch."""
    if len(sources) != 1:
        return True
    source = sources[0]
    return is_pattern(source) or (settings.base_dir / Path(source).expanduser()).is_dir()


def announce_group(
    out: Console, err: Console, engine: BatchEngine, group: BatchGroup, *, json_mode: bool
) -> tuple[dict[str, str], dict[str, int]]:
    """Print the group, its batches and its refused files; each batch's file label
    and row count, for the progress display."""
    for refused in group.refused:
        err.print(f"refused {refused.path}: {refused.error}", highlight=False, soft_wrap=True)
    labels, totals = group_labels(engine, group)
    if not json_mode:
        out.print(
            f"group [bold]{group.group_id}[/]: {len(group.batch_ids)} batches, "
            f"{sum(totals.values())} rows, {len(group.refused)} refused",
            highlight=False,
        )
        for batch_id in group.batch_ids:
            out.print(f"  batch {batch_id}: {totals[batch_id]} rows from {labels[batch_id]}")
    return labels, totals


def group_labels(engine: BatchEngine, group: BatchGroup) -> tuple[dict[str, str], dict[str, int]]:
    """Each batch's file name and row count, for the progress display."""
    labels: dict[str, str] = {}
    totals: dict[str, int] = {}
    for batch_id in group.batch_ids:
        manifest = engine.get_manifest(batch_id)
        labels[batch_id] = Path(manifest.csv_path).name
        totals[batch_id] = manifest.total
    return labels, totals


def group_exit_code(summary: GroupSummary) -> int:
    """One code for the group: 130 if a batch was interrupted (resumable), else 2 if a
    file was refused, else 1 if a row failed, needs review or a batch stopped on
    purpose, else 0 (every row of every file completed or was skipped as a duplicate)."""
    stopped = any(b.stop_reason for b in summary.batches)
    if not stopped and any(b.status == BatchStatus.INTERRUPTED for b in summary.batches):
        return EXIT_INTERRUPTED
    if summary.group.refused:
        return EXIT_USAGE
    return EXIT_FAILED if stopped or summary.has_failures else EXIT_OK


def print_group_final(out: Console, summary: GroupSummary, index: Path, *, json_mode: bool) -> None:
    if json_mode:
        event = {"event": "finished", "report": str(index), **summary.to_dict()}
        out.file.write(json.dumps(event, ensure_ascii=False) + "\n")
        return
    for batch in summary.batches:
        out.print(final_line(batch), highlight=False, soft_wrap=True)
    for refused in summary.group.refused:
        out.print(f"refused {refused.path}", highlight=False, soft_wrap=True)
    out.print(
        f"group {summary.group_id}: {summary.count(JobStatus.COMPLETED)}/{summary.total} "
        f"completed ({summary.success_rate:.1%}) in {len(summary.batches)} batches, "
        f"{summary.count(JobStatus.FAILED)} failed, {len(summary.group.refused)} refused",
        highlight=False,
        soft_wrap=True,
    )
    out.print(f"report: {index}", highlight=False, soft_wrap=True)


def print_group_status(out: Console, summary: GroupSummary) -> None:
    table = Table(
        "file", "batch", "status", "rows", "completed", "failed", title=f"group {summary.group_id}"
    )
    for b in summary.batches:
        table.add_row(
            Path(b.csv_path).name,
            b.batch_id,
            b.status.value,
            str(b.total),
            str(b.count(JobStatus.COMPLETED)),
            str(b.count(JobStatus.FAILED)),
        )
    for refused in summary.group.refused:
        table.add_row(refused.path, "-", "refused", "-", "-", "-")
    for batch_id in summary.group.pruned:
        table.add_row("-", batch_id, "pruned", "-", "-", "-")
    table.add_row(
        "total",
        "",
        summary.status,
        str(summary.total),
        str(summary.count(JobStatus.COMPLETED)),
        str(summary.count(JobStatus.FAILED)),
    )
    out.print(table)
