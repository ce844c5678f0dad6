"""Response models of the read side of the API (batches, one batch, rows).

Exact pydantic models so the OpenAPI schema says what is returned, field for field
(the schemathesis fuzz checks every response against it). ``BatchSummaryOut`` is
summary.json (docs/summary-json.md) key for key.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from batch.models import BatchStatus, JobStatus

__all__ = [
    "ArtifactOut",
    "AttemptOut",
    "BatchItem",
    "BatchPage",
    "BatchSummaryOut",
    "DurationsOut",
    "ErrorGroupOut",
    "HistogramBinOut",
    "PoolsOut",
    "RowOut",
    "RowPage",
    "UnusableEntryOut",
]


class BatchItem(BaseModel):
    """One batch as ``batchwright list --json`` prints it."""

    batch_id: str
    status: BatchStatus
    flow_name: str
    flow_ref: str
    csv_path: str
    created_at: str
    total: int
    counts: dict[str, int] = Field(description="Rows per status, every status present.")


class BatchPage(BaseModel):
    items: list[BatchItem]
    total: int = Field(description="Batches matching the filters, over all pages.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class DurationsOut(BaseModel):
    method: str
    count: int
    min_s: float | None
    p50_s: float | None
    p95_s: float | None
    max_s: float | None
    mean_s: float | None


class HistogramBinOut(BaseModel):
    lower_s: float
    upper_s: float
    count: int


class ErrorGroupOut(BaseModel):
    category: str
    signature: str
    count: int
    example_message: str
    example_rows: list[int]


class UnusableEntryOut(BaseModel):
    pool: str
    key: str
    row: int
    message: str


class PoolsOut(BaseModel):
    """The flow's resource pools (docs/pools.md)."""

    attempts_by_entry: dict[str, dict[str, int]]
    attempts_waited: int
    total_wait_s: float
    max_wait_s: float
    unusable: list[UnusableEntryOut]


class ArtifactCapOut(BaseModel):
    """The batch's evidence budget (``max_artifacts_mb``, docs/reports.md)."""

    max_mb: float = Field(description="0: no cap.")
    reached: bool
    attempts_without_evidence: int


class BatchSummaryOut(BaseModel):
    """summary.json (docs/summary-json.md), computed from the store at request time."""

    schema_version: int
    batch_id: str
    flow_name: str
    flow_ref: str
    status: BatchStatus
    concurrency: str
    csv_path: str
    created_at: str
    total: int
    counts: dict[str, int]
    success_rate: float
    flaky: int
    has_failures: bool
    total_attempts: int
    attempts_histogram: dict[str, int]
    durations: DurationsOut
    duration_histogram: list[HistogramBinOut]
    started_at: str | None
    finished_at: str | None
    wall_time_s: float
    throughput_rows_per_s: float
    errors_by_category: dict[str, int]
    failed_attempts_by_category: dict[str, int]
    error_groups: list[ErrorGroupOut]
    error_signatures: int
    stop_reason: str | None
    pools: PoolsOut | None
    artifact_cap: ArtifactCapOut


class ArtifactOut(BaseModel):
    kind: str
    path: str = Field(description="Relative to the batch's folder.")
    name: str
    url: str = Field(description="Where the API serves it (the artifacts route).")


class AttemptOut(BaseModel):
    number: int
    ok: bool
    category: str
    message: str
    duration_s: float
    artifacts: list[ArtifactOut]


class RowOut(BaseModel):
    """One row (job), secret columns shown as ``***`` and masked inside messages."""

    number: int = Field(description="1-based data row number.")
    line: int = Field(description="Line in the CSV file.")
    status: JobStatus
    flaky: bool
    values: dict[str, str]
    category: str
    message: str
    duration_s: float
    extracted: dict[str, str]
    attempts: list[AttemptOut]


class RowPage(BaseModel):
    items: list[RowOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )
