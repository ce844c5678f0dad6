"""A dry run: what the CSV holds and the concrete steps each row would perform."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from batch.ingest.csv_reader import CsvInfo, CsvRecord, inspect_csv, iter_records
from batch.ingest.pools import read_pools
from batch.ingest.security import check_csv_file
from batch.reports.summary import MASK
from batch.settings import BatchSettings
from runtime.flows.model import Flow, JobInfo, RenderedStep, check_columns, render_steps

__all__ = ["Preview", "RowPreview", "preview_csv"]


@dataclass(frozen=True)
class RowPreview:
    record: CsvRecord
    steps: list[RenderedStep] = field(default_factory=list)


@dataclass(frozen=True)
class Preview:
    info: CsvInfo
    rows: list[RowPreview]
    flow: Flow | None


def _sample_entries(flow: Flow, settings: BatchSettings) -> dict[str, dict[str, str]]:
    """Each pool's first entry (its files checked as a batch would), secrets masked: what
    a row's ``{{ pool.x.col }}`` would look like."""
    secrets = {pool.name: set(pool.secrets) for pool in flow.pools}
    return {
        name: {k: MASK if k in secrets[name] else v for k, v in entries[0][1].items()}
        for name, entries in read_pools(flow, settings).items()
    }


def preview_csv(
    csv_path: str | Path, settings: BatchSettings, *, flow: Flow | None = None, rows: int = 5
) -> Preview:
    """Read the first ``rows`` rows (with every check a batch makes) and render the flow."""
    info = inspect_csv(check_csv_file(csv_path, settings), settings)
    pool: dict[str, dict[str, str]] = {}
    if flow is not None:
        check_columns(flow, info.headers)
        pool = _sample_entries(flow, settings)
    previews = []
    base_url = settings.base_url or (flow.base_url if flow else None)
    for record in islice(iter_records(info, settings), rows):
        steps: list[RenderedStep] = []
        if flow is not None and flow.python is None and record.data is not None:
            job = JobInfo(index=record.row_index, id=f"preview-{record.row_index:06d}", attempt=1)
            steps = render_steps(flow, record.data, base_url=base_url, job=job, pool=pool)
        previews.append(RowPreview(record, steps))
    return Preview(info, previews, flow)
