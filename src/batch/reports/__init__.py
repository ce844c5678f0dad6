"""The batch's reports, written under ``artifacts/<batch_id>/`` (docs/reports.md).

``write_reports`` reads the jobs once to summarise them (the summary heads the html
and junit files, and the extracted keys are results.csv's columns), then once more
to stream every row into the html, junit and csv files together. So it takes a
zero-argument factory returning a fresh iterable of jobs (e.g.
``lambda: store.iter_jobs(batch_id)``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

from batch.exceptions import ConfigurationError
from batch.models import BatchJob, BatchManifest
from batch.reports.html import html_report
from batch.reports.json_report import write_summary_json
from batch.reports.junit import junit_report
from batch.reports.markdown import write_github_step_summary, write_summary_markdown
from batch.reports.results_csv import results_csv_report
from batch.reports.rows import RowSink, RowViewer, evidence_prefix
from batch.reports.summary import BatchSummary, SummaryBuilder

__all__ = [
    "ALL_FORMATS",
    "REPORT_FILES",
    "JobsFactory",
    "summarise",
    "write_github_step_summary",
    "write_reports",
]

JobsFactory = Callable[[], Iterable[BatchJob]]

REPORT_FILES = {
    "html": "report.html",
    "junit": "junit.xml",
    "csv": "results.csv",
    "json": "summary.json",
    "markdown": "summary.md",
}
ALL_FORMATS: tuple[str, ...] = tuple(REPORT_FILES)


def summarise(
    manifest: BatchManifest, jobs: Iterable[BatchJob], *, secrets: Collection[str] = ()
) -> tuple[BatchSummary, list[str]]:
    """One pass: the summary and the union of extracted keys (in first-seen order)."""
    builder = SummaryBuilder(manifest, secrets=secrets)
    keys: dict[str, None] = {}
    for job in jobs:
        builder.add(job)
        keys.update(dict.fromkeys(job.extracted))
    return builder.build(), list(keys)


def write_reports(
    manifest: BatchManifest,
    jobs_factory: JobsFactory,
    batch_dir: Path,
    formats: Collection[str] = ALL_FORMATS,
    *,
    key_columns: Sequence[str] | None = None,
    secrets: Collection[str] = (),
    bom: bool = False,
    summarised: tuple[BatchSummary, list[str]] | None = None,
    out: Path | None = None,
) -> dict[str, Path]:
    """Write each requested format into ``out`` (default ``batch_dir``); returns
    ``{format: path}``. Evidence links reach the artifacts under ``batch_dir`` from there.

    ``key_columns`` identify rows in the HTML and JUnit (default: the first three
    columns). ``secrets`` names columns shown as ``***`` everywhere, their values also
    masked inside messages. ``bom`` writes results.csv with a UTF-8 BOM for Excel.
    ``summarised``: ``summarise``'s result when the caller has it (saves a pass).
    """
    unknown = sorted(set(formats) - set(ALL_FORMATS))
    if unknown:
        raise ConfigurationError(
            f"unknown report format(s) {', '.join(map(repr, unknown))}; "
            f"choose among: {', '.join(ALL_FORMATS)}"
        )
    report_dir = out or batch_dir
    viewer = RowViewer(
        manifest,
        key_columns=key_columns,
        secrets=secrets,
        evidence=evidence_prefix(report_dir, batch_dir),
    )
    summary, extracted_keys = summarised or summarise(manifest, jobs_factory(), secrets=secrets)
    paths = {fmt: report_dir / REPORT_FILES[fmt] for fmt in ALL_FORMATS if fmt in formats}
    row_reports: dict[str, Callable[[Path], AbstractContextManager[RowSink]]] = {
        "html": lambda path: html_report(summary, viewer, path),
        "junit": lambda path: junit_report(summary, path, attachment_root=batch_dir),
        "csv": lambda path: results_csv_report(
            viewer, path, extracted_keys=extracted_keys, bom=bom
        ),
    }
    with ExitStack() as stack:
        sinks = [
            stack.enter_context(row_reports[fmt](path))
            for fmt, path in paths.items()
            if fmt in row_reports
        ]
        if sinks:
            for job in jobs_factory():
                row = viewer.view(job)
                for add in sinks:
                    add(row)
    if "json" in paths:
        write_summary_json(summary, paths["json"])
    if "markdown" in paths:
        write_summary_markdown(summary, paths["markdown"], report_link=REPORT_FILES["html"])
    return paths
