"""The batch's durable data: manifests, jobs and their attempts (pydantic models).

Statuses move ``pending -> running -> completed | failed | skipped | cancelled``;
see ``ALLOWED_TRANSITIONS``. ``needs_review`` holds rows whose outcome is unknown
(interrupted after their point of no return) until a person settles them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from runtime.outcome import ErrorCategory

__all__ = [
    "ALLOWED_TRANSITIONS",
    "FINAL_STATUSES",
    "AttemptRecord",
    "BatchGroup",
    "BatchJob",
    "BatchManifest",
    "BatchStatus",
    "CsvDialect",
    "ErrorCategory",
    "JobStatus",
    "NewJob",
    "ProgressEvent",
    "RefusedFile",
]


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    NEEDS_REVIEW = "needs_review"


class BatchStatus(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    FINISHED = "finished"
    """Every job is in a final state."""
    INTERRUPTED = "interrupted"
    """Stopped (Ctrl-C, cancel, crash) with jobs left to run: resumable."""


FINAL_STATUSES = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.SKIPPED, JobStatus.CANCELLED}
)

ALLOWED_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.RUNNING, JobStatus.SKIPPED, JobStatus.CANCELLED}),
    JobStatus.RUNNING: frozenset(
        {
            JobStatus.COMPLETED,
            JobStatus.FAILED,
            JobStatus.SKIPPED,
            JobStatus.CANCELLED,
            JobStatus.PENDING,  # interrupted, safe to re-run
            JobStatus.NEEDS_REVIEW,  # interrupted after its point of no return
        }
    ),
    JobStatus.FAILED: frozenset({JobStatus.PENDING}),  # retry
    JobStatus.CANCELLED: frozenset({JobStatus.PENDING}),  # resume
    JobStatus.NEEDS_REVIEW: frozenset({JobStatus.PENDING, JobStatus.COMPLETED}),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.SKIPPED: frozenset(),
}


class CsvDialect(BaseModel):
    """How the CSV was read, as detected (and recorded for reproducibility)."""

    model_config = ConfigDict(frozen=True)

    delimiter: str
    quotechar: str = '"'
    doublequote: bool = True
    lineterminator: str = "\r\n"


class AttemptRecord(BaseModel):
    """One try of one job, as recorded in the store."""

    number: int
    started_at: datetime
    duration_s: float
    ok: bool
    category: ErrorCategory | None = None
    message: str = ""
    artifacts: list[dict[str, str]] = Field(default_factory=list)
    """Each ``{"kind": ..., "path": ..., "name": ...}``, paths relative to the batch dir."""
    host: str = ""
    """Where the attempt ran, ``hostname:pid`` (empty for attempts recorded before
    batchwright kept it): with workers on several machines, the clue to a failure only
    one machine shows."""
    pool: dict[str, str] = Field(default_factory=dict)
    """The key of the entry leased from each pool for this attempt (``{"account": "alice"}``)."""
    pool_wait_s: float = 0.0
    """How long the attempt waited for a free pool entry before it started."""
    pool_unusable: list[str] = Field(default_factory=list)
    """Pools whose entry this attempt marked unusable (out for the rest of the batch)."""
    note: str = ""
    """Why evidence of this attempt was not written (the artifact cap), or ""."""


class NewJob(NamedTuple):
    """A row as a batch is created: pending, or skipped with the reason. A plain tuple,
    not a model: a million of them are made while a CSV is ingested, and every value
    has already been checked by the CSV reader."""

    job_id: str
    batch_id: str
    row_index: int
    source_line: int
    row_data: dict[str, str]
    row_key: str
    status: JobStatus = JobStatus.PENDING
    error_message: str = ""


class BatchJob(BaseModel):
    """One CSV row and everything that happened to it."""

    job_id: str
    batch_id: str
    row_index: int
    """0-based position among the data rows."""
    source_line: int
    """1-based physical line where the row starts in the CSV (header is line 1)."""
    row_data: dict[str, str]
    status: JobStatus = JobStatus.PENDING
    attempts: list[AttemptRecord] = Field(default_factory=list)
    error_category: ErrorCategory | None = None
    error_message: str = ""
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    extracted: dict[str, str] = Field(default_factory=dict)
    row_key: str = ""
    """Idempotency key of the row (flow ``key`` columns, or a content hash)."""
    reached_commit: bool = False
    """The job durably passed its point of no return (a ``commit: true`` step)."""

    @property
    def attempt_count(self) -> int:
        return len(self.attempts)

    @property
    def flaky(self) -> bool:
        """Completed, but only after at least one failed attempt."""
        return self.status is JobStatus.COMPLETED and any(not a.ok for a in self.attempts)

    @property
    def duration_s(self) -> float:
        return sum(a.duration_s for a in self.attempts)

    @property
    def artifacts(self) -> list[dict[str, str]]:
        return [artifact for attempt in self.attempts for artifact in attempt.artifacts]


class BatchManifest(BaseModel):
    """A batch: which CSV, read how, with which flow, and where its jobs stand."""

    batch_id: str
    run_id: str
    csv_path: str
    csv_sha256: str
    encoding: str
    dialect: CsvDialect
    headers: list[str]
    flow_ref: str
    """The flow file path or ``module:function`` the batch was created with."""
    flow_name: str = ""
    total: int = 0
    counts: dict[JobStatus, int] = Field(default_factory=dict)
    """Jobs per status, derived from the jobs themselves (never stored separately)."""
    created_at: datetime
    status: BatchStatus = BatchStatus.CREATED
    settings: dict[str, Any] = Field(default_factory=dict)
    """The settings that matter to re-running the batch (base_url, retries, ...)."""
    jobs: list[BatchJob] | None = Field(default=None, exclude=True)
    """The batch's jobs in row order, only when asked for
    (``BatchEngine.get_manifest(batch_id, jobs=True)``): a batch may hold millions."""

    def count(self, status: JobStatus) -> int:
        return self.counts.get(status, 0)

    @property
    def total_jobs(self) -> int:
        """The spec's name for ``total``."""
        return self.total

    @property
    def completed_jobs(self) -> int:
        return self.completed

    @property
    def failed_jobs(self) -> int:
        return self.failed

    @property
    def completed(self) -> int:
        return self.count(JobStatus.COMPLETED)

    @property
    def failed(self) -> int:
        return self.count(JobStatus.FAILED)

    @property
    def skipped(self) -> int:
        return self.count(JobStatus.SKIPPED)

    @property
    def success_rate(self) -> float:
        """completed / (total - skipped); 0.0 when nothing was runnable."""
        runnable = self.total - self.skipped
        return self.completed / runnable if runnable else 0.0


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """A snapshot of a running batch, sent to progress callbacks after each job."""

    batch_id: str
    total: int
    done: int
    """Jobs in a final state (completed, failed, skipped, cancelled) or needs_review."""
    completed: int
    failed: int
    skipped: int
    flaky: int
    running: int
    elapsed_s: float
    rate_per_s: float
    """Jobs finished per second in this run."""
    eta_s: float | None
    concurrency: int
    last_job_id: str | None = None
    last_status: JobStatus | None = None


class RefusedFile(BaseModel):
    """A file of a group that the CSV checks refused: no batch was made of it."""

    path: str
    error: str


class BatchGroup(BaseModel):
    """The batches made from the files of one run (``run DIR``, several files, globs),
    one per file in file order, and the files that were refused."""

    group_id: str
    created_at: datetime
    flow_ref: str
    sources: list[str] = Field(default_factory=list)
    """What the run was given (files, directories, globs), as given."""
    batch_ids: list[str] = Field(default_factory=list)
    refused: list[RefusedFile] = Field(default_factory=list)
    pruned: list[str] = Field(default_factory=list)
    """Ids of its batches a prune removed since (no longer in ``batch_ids``)."""
