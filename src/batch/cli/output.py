"""How the CLI shows things: tables for preview, status and list, and the final line."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Column, Table

from batch.cli.displays import final_line
from batch.ingest.preview import Preview
from batch.models import BatchJob, BatchManifest, JobStatus
from batch.reports.summary import BatchSummary

__all__ = [
    "batch_listing",
    "print_batches",
    "print_final",
    "print_json",
    "print_preview",
    "print_review",
    "print_status",
]

MAX_CELL = 60


def _cell(value: str) -> str:
    value = value.replace("\r", "").replace("\n", "⏎")
    return value if len(value) <= MAX_CELL else value[: MAX_CELL - 1] + "…"


def print_final(console: Console, summary: BatchSummary, report: Path, *, json_mode: bool) -> None:
    if json_mode:
        event = {"event": "finished", "report": str(report), **summary.to_dict()}
        console.file.write(json.dumps(event) + "\n")
        return
    console.print(final_line(summary), highlight=False, soft_wrap=True)
    console.print(f"report: {report}", highlight=False, soft_wrap=True)
    if summary.stop_reason:
        console.print(
            f"{summary.stop_reason}; resume with: batchwright resume {summary.batch_id}",
            highlight=False,
            soft_wrap=True,
        )
    elif summary.status == "interrupted":
        console.print(f"resumable: batchwright resume {summary.batch_id}", highlight=False)


def print_status(console: Console, summary: BatchSummary) -> None:
    table = Table(title=f"batch {summary.batch_id}", show_header=False)
    table.add_row("status", str(summary.status))
    if summary.stop_reason:
        table.add_row("stopped", summary.stop_reason)
    table.add_row("flow", summary.flow_name)
    table.add_row("csv", summary.csv_path)
    for status in JobStatus:
        table.add_row(status.value, str(summary.count(status)))
    table.add_row("success rate", f"{summary.success_rate:.1%}")
    table.add_row("flaky", str(summary.flaky))
    table.add_row("concurrency", summary.concurrency or "-")
    console.print(table)


def batch_listing(manifest: BatchManifest) -> dict[str, Any]:
    """One batch as ``batchwright list --json`` prints it: the summary.json keys that
    describe a batch, with the same meanings (docs/summary-json.md)."""
    return {
        "batch_id": manifest.batch_id,
        "status": manifest.status.value,
        "flow_name": manifest.flow_name,
        "flow_ref": manifest.flow_ref,
        "csv_path": manifest.csv_path,
        "created_at": manifest.created_at.isoformat(),
        "total": manifest.total,
        "counts": {status.value: manifest.count(status) for status in JobStatus},
    }


def print_json(console: Console, value: object) -> None:
    """``value`` as one JSON document, unstyled and unwrapped, for scripts."""
    console.file.write(json.dumps(value, ensure_ascii=False) + "\n")


def print_batches(
    console: Console, batches: list[BatchManifest], groups: Mapping[str, str] | None = None
) -> None:
    """A table whose ids are never cut, whatever the terminal's width: they are what users
    copy. The flow column wraps instead; the id already says when (UTC) it was created.
    ``groups`` (batch id -> group id): each group is listed under the table with its
    batches, whole, as a column of group ids would not fit in 80 columns."""
    if not batches:
        console.print("no batches yet: `batchwright run DATA.csv --flow FLOW` creates one")
        return
    table = Table(
        Column("batch", no_wrap=True, min_width=max(len(m.batch_id) for m in batches)),
        Column("status", no_wrap=True),
        Column("rows", justify="right", no_wrap=True),
        Column("completed", justify="right", no_wrap=True),
        Column("failed", justify="right", no_wrap=True),
        Column("flow", overflow="fold"),
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for manifest in batches:
        table.add_row(
            manifest.batch_id,
            manifest.status.value,
            str(manifest.total),
            str(manifest.completed),
            str(manifest.failed),
            manifest.flow_name,
        )
    console.print(table)
    members: dict[str, list[str]] = {}
    for manifest in reversed(batches):  # each group's batches oldest first, in file order
        if group_id := (groups or {}).get(manifest.batch_id):
            members.setdefault(group_id, []).append(manifest.batch_id)
    for group_id, batch_ids in sorted(members.items(), reverse=True):
        console.print(f"{group_id}: {' '.join(batch_ids)}", highlight=False, soft_wrap=True)


def print_review(console: Console, jobs: list[BatchJob]) -> None:
    if not jobs:
        console.print("no rows need review")
        return
    table = Table("job", "line", "row", "why", title=f"{len(jobs)} row(s) need review")
    for job in jobs:
        row = ", ".join(f"{k}={_cell(v)}" for k, v in list(job.row_data.items())[:3])
        table.add_row(job.job_id, str(job.source_line), row, job.error_message)
    console.print(table)
    console.print(
        "check each in the target system, then: batchwright review BATCH_ID "
        "--mark completed|pending [--job ID ...]"
    )


def print_preview(console: Console, preview: Preview) -> None:
    info = preview.info
    delimiter = {"\t": "tab", " ": "space"}.get(info.dialect.delimiter, info.dialect.delimiter)
    console.print(f"[bold]{info.path}[/]", highlight=False)
    console.print(
        f"encoding {info.encoding} · delimiter {delimiter!r} · {len(info.headers)} columns · "
        f"{info.size_bytes} bytes",
        highlight=False,
    )
    table = Table("line", *info.headers)
    for row in preview.rows:
        record = row.record
        if record.data is None:
            table.add_row(str(record.line), f"[red]skipped: {record.problem}[/]")
            continue
        table.add_row(str(record.line), *(_cell(record.data.get(h, "")) for h in info.headers))
    console.print(table)
    if preview.flow is None:
        return
    if preview.flow.python is not None:
        console.print(f"flow {preview.flow.name}: Python flow {preview.flow.source}")
        return
    for row in preview.rows:
        console.print(f"\n[bold]row {row.record.row_index + 1}[/] (line {row.record.line})")
        for step in row.steps:
            marker = " [yellow](commit)[/]" if step.commit else ""
            console.print(f"  {step.index:>2}. {step.label}{marker}", highlight=False)
