"""The group's reports: ``index.html`` (totals, then one line per file linking to its
batch's ``report.html``, then the refused files and the batches pruned since) and
``group.json`` (``to_dict``), in ``<artifacts_dir>/groups/<group_id>/`` or another
folder. Each batch's own
reports are written again first, so every link leads somewhere."""

from __future__ import annotations

import json
import os
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from batch.groups.summary import GroupSummary, summarise_group
from batch.models import JobStatus
from batch.reports.summary import BatchSummary

if TYPE_CHECKING:
    from batch.engine import BatchEngine

__all__ = ["group_dir", "render_index", "write_group_reports"]

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1b1b}"
    "table{border-collapse:collapse;margin:1rem 0}td,th{padding:.3rem .8rem;"
    "border-bottom:1px solid #ddd;text-align:left}.bad{color:#b00020}.good{color:#1b7f3b}"
    ".notice{background:#fff4e5;padding:.5rem}"
)
_COLUMNS = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.NEEDS_REVIEW, JobStatus.SKIPPED)


def group_dir(engine: BatchEngine, group_id: str) -> Path:
    return engine.settings.artifacts_dir / "groups" / group_id


def write_group_reports(
    engine: BatchEngine, group_id: str, out: Path | None = None
) -> GroupSummary:
    """Write every batch's reports, then the group's ``index.html`` and ``group.json``."""
    group = engine.store.get_group(group_id)
    for batch_id in group.batch_ids:
        engine.write_reports(batch_id)
    summary = summarise_group(engine, group_id)
    target = out or group_dir(engine, group_id)
    target.mkdir(parents=True, exist_ok=True)
    links = {
        b.batch_id: Path(os.path.relpath(engine.batch_dir(b.batch_id) / "report.html", target))
        for b in summary.batches
    }
    (target / "index.html").write_text(render_index(summary, links), encoding="utf-8")
    document = json.dumps(summary.to_dict(), ensure_ascii=False, indent=2)
    (target / "group.json").write_text(document + "\n", encoding="utf-8")
    return summary


def _batch_row(batch: BatchSummary, link: Path) -> str:
    counts = "".join(f"<td>{batch.count(status)}</td>" for status in _COLUMNS)
    notes = [escape(batch.stop_reason)] if batch.stop_reason else []
    if batch.artifact_cap_reached:
        notes.append(f"artifact cap reached ({batch.evidence_skipped} attempts without evidence)")
    state = "bad" if batch.has_failures else "good"
    return (
        f"<tr><td><code>{escape(batch.csv_path)}</code></td>"
        f'<td><a href="{escape(link.as_posix())}">{escape(batch.batch_id)}</a></td>'
        f'<td class="{state}">{escape(batch.status.value)}</td><td>{batch.total}</td>'
        f"{counts}<td>{batch.success_rate:.1%}</td><td>{'; '.join(notes)}</td></tr>"
    )


def render_index(summary: GroupSummary, links: dict[str, Path]) -> str:
    """The index page; ``links``: each batch's report, relative to the page."""
    head = "".join(f"<th>{status.value.replace('_', ' ')}</th>" for status in _COLUMNS)
    totals = "".join(f"<td>{summary.count(status)}</td>" for status in _COLUMNS)
    rows = "".join(_batch_row(b, links[b.batch_id]) for b in summary.batches)
    refused = "".join(
        f"<li><code>{escape(r.path)}</code>: {escape(r.error)}</li>" for r in summary.group.refused
    )
    pruned = "".join(f"<li><code>{escape(b)}</code></li>" for b in summary.group.pruned)
    state = "bad" if summary.has_failures else "good"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>group {escape(summary.group_id)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>group {escape(summary.group_id)}</h1>"
        f"<p>flow <code>{escape(summary.group.flow_ref)}</code> · "
        f"{len(summary.batches)} batches · {len(summary.group.refused)} files refused · "
        f'status <span class="{state}" id="group-status">{escape(summary.status)}</span></p>'
        f'<table id="totals"><tr><th>rows</th>{head}<th>success</th></tr>'
        f"<tr><td>{summary.total}</td>{totals}<td>{summary.success_rate:.1%}</td></tr></table>"
        f'<table id="batches"><tr><th>file</th><th>batch</th><th>status</th><th>rows</th>'
        f"{head}<th>success</th><th>notes</th></tr>{rows}</table>"
        + (
            f'<h2>Refused files</h2><ul class="notice" id="refused">{refused}</ul>'
            if refused
            else ""
        )
        + (
            "<h2>Batches pruned</h2><p>removed by <code>batchwright prune</code>:</p>"
            f'<ul id="pruned">{pruned}</ul>'
            if pruned
            else ""
        )
        + "</body></html>\n"
    )
