"""``summary.md``: a short summary for CI job pages (GitHub step summary, GitLab, ...)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from batch.models import JobStatus
from batch.reports.files import atomic_text
from batch.reports.summary import BatchSummary

__all__ = ["summary_markdown", "write_github_step_summary", "write_summary_markdown"]

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
_MESSAGE_LENGTH = 160


def _text(value: str) -> str:
    """Plain text safe inside a Markdown table cell: HTML and Markdown syntax neutralised
    (CI pages render inline HTML), newlines folded."""
    value = " ".join(value.split())
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", value)


def _code(value: str) -> str:
    """An inline code span (no escaping applies inside one, so backticks are replaced)."""
    return "`" + " ".join(value.replace("`", "'").split()) + "`"


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def summary_markdown(summary: BatchSummary, *, report_link: str = "report.html") -> str:
    """Success rate, counts, durations and the top error groups, linking to the HTML report."""
    title = _text(summary.flow_name or summary.batch_id)
    verdict = "❌ rows failed" if summary.has_failures else "✅ no failures"
    lines = [
        f"## batchwright: {title}",
        "",
        f"**{summary.success_rate:.1%}** success ({summary.count(JobStatus.COMPLETED)} of "
        f"{summary.runnable} runnable rows) · {summary.flaky} flaky · {verdict}",
        "",
        f"Batch {_code(summary.batch_id)} · CSV {_code(summary.csv_path)} · "
        f"{summary.wall_time_s:.1f} s wall time · {summary.throughput_rows_per_s:.2f} rows/s",
        "",
    ]
    if summary.stop_reason:
        lines += [
            f"⚠️ {_text(summary.stop_reason)}; resume with "
            f"{_code('batchwright resume ' + summary.batch_id)}",
            "",
        ]
    if summary.artifact_cap_reached:
        lines += [
            f"⚠️ artifact cap reached (max_artifacts_mb {summary.artifact_cap_mb:g}): "
            f"{summary.evidence_skipped} attempt(s) without their evidence",
            "",
        ]
    lines += [
        "| status | rows |",
        "| --- | ---: |",
    ]
    lines += [f"| {status} | {n} |" for status, n in summary.counts.items() if n]
    lines += [f"| **total** | **{summary.total}** |", ""]
    d = summary.durations
    lines += [
        f"Durations over {d.count} rows that ran: min {_seconds(d.min_s)}, "
        f"p50 {_seconds(d.p50_s)}, p95 {_seconds(d.p95_s)}, max {_seconds(d.max_s)}.",
        "",
    ]
    if summary.error_groups:
        lines += ["### Top errors", "", "| rows | category | example |", "| ---: | --- | --- |"]
        for group in summary.error_groups:
            example = group.example_message[:_MESSAGE_LENGTH]
            rows = ", ".join(str(i + 1) for i in group.example_rows)
            lines.append(f"| {group.count} | {group.category} | {_text(example)} (rows {rows}) |")
        lines.append("")
    lines += _pool_lines(summary)
    lines.append(f"Full report: [{_text(report_link)}]({report_link.replace(' ', '%20')})")
    return "\n".join(lines) + "\n"


def _pool_lines(summary: BatchSummary) -> list[str]:
    """Entries used, the wait for them, entries taken out as unusable."""
    pools = summary.pools
    if pools is None:
        return []
    lines = ["### Pools", ""]
    for pool, entries in pools.attempts_by_entry.items():
        used = ", ".join(f"{_code(key)} {n}" for key, n in entries.items())
        lines.append(f"- {_text(pool)}: attempts per entry: {used}")
    lines.append(
        f"- waited for a free entry: {pools.attempts_waited} attempts, "
        f"{pools.total_wait_s:.1f} s in all (longest {pools.max_wait_s:.1f} s)"
    )
    for entry in pools.unusable:
        lines.append(
            f"- ⚠️ {_text(entry.pool)} {_code(entry.key)} marked unusable by row {entry.row}: "
            f"{_text(entry.message[:_MESSAGE_LENGTH])}"
        )
    return [*lines, ""]


def write_summary_markdown(
    summary: BatchSummary, path: Path, *, report_link: str = "report.html"
) -> Path:
    with atomic_text(path) as out:
        out.write(summary_markdown(summary, report_link=report_link))
    return path


def write_github_step_summary(markdown_text: str) -> Path | None:
    """Append to ``$GITHUB_STEP_SUMMARY`` when GitHub Actions set it; None otherwise."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as out:
        out.write(markdown_text)
    return path
