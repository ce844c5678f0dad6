"""``batchwright prune``: remove old batches, their rows and their artifact folders,
and the groups left without a batch."""

from __future__ import annotations

import os
import time
from typing import Annotated

import typer

from batch.cli import output as cli_output
from batch.cli.app import engine, handle_errors, out
from batch.cli.global_options import with_global_options
from batch.groups import write_group_reports
from batch.schedule.retention import PruneOptions, PruneResult, PruneStatus, parse_age, prune
from batch.schedule.scheduler import utc_now

__all__ = ["prune_command"]

TEST_PAUSE_ENV = "BATCHWRIGHT_TEST_PRUNE_PAUSE_S"
"""Tests only: seconds to wait after a batch's rows are deleted, before its folder is,
so that a test can kill -9 a prune exactly there."""


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024 or unit == "GB":
            break
    return f"{value:.1f} {unit}"


def _print(result: PruneResult) -> None:
    verb = "would remove" if result.dry_run else "removed"
    for batch in result.removed:
        created = batch.created_at[:19]
        out.print(
            f"{verb} {batch.batch_id} ({batch.kind}, created {created}, {_size(batch.bytes)})"
        )
    for group in result.removed_groups:
        out.print(
            f"{verb} group {group.group_id} (created {group.created_at[:19]}, {_size(group.bytes)})"
        )
    for group_id in result.partial_groups:
        out.print(f"kept group {group_id}: some of its batches are kept (the others pruned)")
    for name in result.leftover_folders:
        out.print(f"{verb} leftover folder {name}")
    for batch_id, reason in result.kept.items():
        out.print(f"kept {batch_id}: {reason}")
    out.print(
        f"{len(result.removed)} batch(es) and {len(result.removed_groups)} group(s) {verb}, "
        f"{_size(result.bytes_freed)} "
        f"{'would be ' if result.dry_run else ''}freed"
    )


@with_global_options
@handle_errors
def prune_command(
    older_than: Annotated[str, typer.Option("--older-than", help="Age, e.g. 30d, 12h, 2w.")],
    status: Annotated[
        PruneStatus,
        typer.Option(help="finished (every row completed), failed (the others) or all."),
    ] = PruneStatus.ALL,
    keep_failed: Annotated[
        bool, typer.Option("--keep-failed", help="Never remove a batch with failed rows.")
    ] = False,
    include_review: Annotated[
        bool, typer.Option("--include-review", help="Also remove batches with rows needing review.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would go; remove nothing.")
    ] = False,
    json_: Annotated[bool, typer.Option("--json", help="The result as one JSON object.")] = False,
) -> None:
    """Remove batches older than --older-than: rows, attempts and artifact folders,
    and the groups left without a batch. Never a running batch, nor one with rows
    needing review unless asked."""
    options = PruneOptions(
        older_than=parse_age(older_than),
        status=status,
        keep_failed=keep_failed,
        include_review=include_review,
        dry_run=dry_run,
    )
    pause = float(os.environ.get(TEST_PAUSE_ENV) or 0)

    def between_steps(batch_id: str) -> None:
        out.print(f"rows of {batch_id} deleted", highlight=False)
        out.file.flush()
        time.sleep(pause)

    with engine() as batch_engine:
        result = prune(
            batch_engine.store,
            batch_engine.settings.artifacts_dir,
            options,
            utc_now(),
            between_steps=between_steps if pause else None,
            refresh_group=lambda group_id: write_group_reports(batch_engine, group_id),
        )
    if json_:
        cli_output.print_json(out, result.to_dict())
        return
    _print(result)
