"""What the dashboard's pages show, read from the store: batches and a page of rows.

Rows go through the reports' ``RowViewer``, so secret columns are masked here
exactly as in the reports. Rows are paged with a keyset cursor over two parts,
failures (failed, needs_review) first and then every other row, each in row
order: a page costs one indexed query per part, however deep it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import PurePath
from urllib.parse import quote

from batch.models import BatchManifest, BatchStatus, JobStatus
from batch.reports.rows import RowView, RowViewer
from batch.service.browse import secrets_of
from batch.service.launcher import RunState
from batch.store import ManifestStore

__all__ = ["BatchView", "RowCursor", "RowsPage", "batch_view", "rows_page"]

_DONE = frozenset(
    {
        JobStatus.COMPLETED,
        JobStatus.FAILED,
        JobStatus.SKIPPED,
        JobStatus.CANCELLED,
        JobStatus.NEEDS_REVIEW,
    }
)
FAILURES = frozenset({JobStatus.FAILED, JobStatus.NEEDS_REVIEW})
OTHERS = frozenset(JobStatus) - FAILURES
_LIVE = frozenset({BatchStatus.CREATED, BatchStatus.RUNNING})


@dataclass(frozen=True, slots=True)
class BatchView:
    """One batch as a table row or a page header."""

    batch_id: str
    flow_name: str
    flow_ref: str
    csv_name: str
    created_at: datetime
    status: str
    total: int
    done: int
    success_rate: float
    counts: tuple[tuple[str, int], ...]
    """Statuses with at least one row, in the order of ``JobStatus``."""
    run: RunState = "idle"
    """What this server does with it: a batch just resumed or retried is queued or
    running here before its store status says so."""

    @property
    def live(self) -> bool:
        """Whether the page follows the batch's events (it may still be running)."""
        return self.status in _LIVE or self.run != "idle"

    @property
    def percent(self) -> int:
        return 100 * self.done // self.total if self.total else 100

    @property
    def api_url(self) -> str:
        return f"/api/v1/batches/{quote(self.batch_id, safe='')}"

    @property
    def report_url(self) -> str:
        return f"{self.api_url}/report.html"

    @property
    def events_url(self) -> str:
        return f"{self.api_url}/events"


def batch_view(manifest: BatchManifest, run: RunState = "idle") -> BatchView:
    counts = manifest.counts
    total = sum(counts.values())
    skipped = counts.get(JobStatus.SKIPPED, 0)
    runnable = total - skipped
    completed = counts.get(JobStatus.COMPLETED, 0)
    return BatchView(
        batch_id=manifest.batch_id,
        flow_name=manifest.flow_name,
        flow_ref=PurePath(manifest.flow_ref).name,
        csv_name=PurePath(manifest.csv_path).name,
        created_at=manifest.created_at,
        status=manifest.status.value,
        total=total,
        done=sum(n for status, n in counts.items() if status in _DONE),
        success_rate=completed / runnable if runnable else 0.0,
        counts=tuple((s.value, counts[s]) for s in JobStatus if counts.get(s)),
        run=run,
    )


@dataclass(frozen=True, slots=True)
class RowCursor:
    """Where a page starts: past ``after`` (a row index) in the failures or the others."""

    failures: bool = True
    after: int = -1

    @property
    def first(self) -> bool:
        return self.failures and self.after < 0

    def query(self) -> str:
        return f"part={'failures' if self.failures else 'others'}&after={self.after}"


@dataclass(frozen=True, slots=True)
class RowsPage:
    rows: list[RowView]
    key_columns: tuple[str, ...]
    next: RowCursor | None


def rows_page(
    store: ManifestStore, manifest: BatchManifest, cursor: RowCursor, size: int
) -> RowsPage:
    """Up to ``size`` rows from ``cursor`` on, failures first, secrets masked."""
    viewer = RowViewer(manifest, secrets=secrets_of(manifest))
    rows: list[RowView] = []
    parts = [(True, FAILURES), (False, OTHERS)] if cursor.failures else [(False, OTHERS)]
    for failures, statuses in parts:
        after = cursor.after if failures == cursor.failures else -1
        room = size - len(rows)
        # One row past the room left says whether a next page exists.
        jobs = store.iter_jobs(manifest.batch_id, statuses, chunk_size=room + 1, after=after)
        found = list(islice(jobs, room + 1))
        rows += [viewer.view(job) for job in found[:room]]
        if len(found) > room:
            last = found[room - 1].row_index if room else after
            return RowsPage(rows, viewer.key_columns, RowCursor(failures, last))
    return RowsPage(rows, viewer.key_columns, None)
