"""``BatchSummary``: the numbers of a batch, computed in one streaming pass over its jobs.

Every report renders from this one value, so the HTML, JUnit, JSON and Markdown
outputs and the CLI's final line always agree. ``to_dict()`` is the stable
``summary.json`` schema documented in docs/summary-json.md.
"""

from __future__ import annotations

import math
import re
from array import array
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from batch.models import BatchJob, BatchManifest, BatchStatus, ErrorCategory, JobStatus
from batch.reports.pool_usage import PoolUsage, PoolUsageBuilder

__all__ = [
    "SCHEMA_VERSION",
    "BatchSummary",
    "DurationStats",
    "ErrorGroup",
    "HistogramBin",
    "SummaryBuilder",
    "build_summary",
    "final_error",
    "mask_secrets",
    "message_signature",
    "read_count",
]

SCHEMA_VERSION = 1
"""Bumped when a key of ``BatchSummary.to_dict()`` changes meaning or disappears."""

TOP_ERROR_GROUPS = 10
MAX_SIGNATURES = 10_000
"""Distinct error signatures tracked; beyond that they are counted under ``OTHER_SIGNATURE``
so a batch of all-different messages cannot grow memory without bound."""
OTHER_SIGNATURE = "<other messages>"
EXAMPLE_ROWS = 5
HISTOGRAM_BINS = 20
MASK = "***"
MIN_SECRET_LENGTH = 4
"""Shorter secret values are not searched for inside messages: masking every "1" or "ab"
would garble messages while protecting nothing a guess could not find."""

# Order matters: URL queries before quoted values before hex ids before numbers.
_SIGNATURE_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#\"']*)\?[^\s#\"']*"), r"\1?<query>"),
    (re.compile(r'"[^"\n]*"'), '"<str>"'),
    (re.compile(r"(?<!\w)'[^'\n]*'"), "'<str>'"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(r"\b[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
    (re.compile(r"\s+"), " "),
)
_SIGNATURE_LENGTH = 200


def message_signature(message: str) -> str:
    """The message with its variable parts (numbers, ids, query strings, quoted values)
    replaced by placeholders, so one failure seen on many rows forms one group."""
    signature = message
    for pattern, placeholder in _SIGNATURE_RULES:
        signature = pattern.sub(placeholder, signature)
    return signature.strip()[:_SIGNATURE_LENGTH]


def read_count(counts: Mapping[str, int], key: str) -> int:
    """``counts[key]``, or a ``KeyError`` that names the keys there are."""
    try:
        return counts[key]
    except KeyError:
        raise KeyError(f"{key!r}: not a count here; use one of {', '.join(counts)}") from None


def mask_secrets(text: str, secret_values: Collection[str]) -> str:
    """``text`` with each secret value (long enough to search for) replaced by ``***``."""
    for value in sorted(secret_values, key=len, reverse=True):
        if len(value) >= MIN_SECRET_LENGTH:
            text = text.replace(value, MASK)
    return text


@dataclass(frozen=True, slots=True)
class DurationStats:
    """Job durations (all attempts summed) over jobs with at least one attempt.

    Percentiles use the nearest-rank method: the value at rank ``ceil(p/100 * n)``.
    """

    count: int = 0
    min_s: float | None = None
    p50_s: float | None = None
    p95_s: float | None = None
    max_s: float | None = None
    mean_s: float | None = None


@dataclass(frozen=True, slots=True)
class HistogramBin:
    lower_s: float
    upper_s: float
    count: int


@dataclass(frozen=True, slots=True)
class ErrorGroup:
    """Failed rows whose final errors share a category and a message signature."""

    category: str
    signature: str
    count: int
    example_message: str
    example_rows: tuple[int, ...]
    """0-based row indexes of the first few rows in the group."""


@dataclass(frozen=True, slots=True)
class BatchSummary:
    batch_id: str
    flow_name: str
    flow_ref: str
    csv_path: str
    created_at: datetime
    status: BatchStatus
    """created, running, finished, or interrupted (resumable)."""
    concurrency: str
    """Jobs at once in the last run: ``"4"``, or ``"auto (start 2, peak 3, final 3)"``."""
    total: int
    counts: dict[str, int]
    success_rate: float
    flaky: int
    total_attempts: int
    attempts_histogram: dict[int, int]
    durations: DurationStats
    duration_histogram: tuple[HistogramBin, ...]
    started_at: datetime | None
    finished_at: datetime | None
    wall_time_s: float
    throughput_rows_per_s: float
    errors_by_category: dict[str, int]
    failed_attempts_by_category: dict[str, int]
    error_groups: tuple[ErrorGroup, ...]
    error_signatures: int
    has_failures: bool
    stop_reason: str | None = None
    pools: PoolUsage | None = None
    """The pools' entries used, waits and unusable entries (None: the flow has no pools)."""
    artifact_cap_mb: float = 0.0
    """The batch's ``max_artifacts_mb`` at its last run (0: no cap)."""
    evidence_skipped: int = 0
    """Attempts whose evidence the artifact cap kept from being written."""

    @property
    def artifact_cap_reached(self) -> bool:
        return self.evidence_skipped > 0

    """Why the last run stopped scheduling with rows left, e.g. after ``--max-failures``."""

    def count(self, status: JobStatus) -> int:
        return self.counts[status.value]

    def __getitem__(self, key: str) -> int:
        """The spec's ``result['completed']``: a count by status name, or ``'total'``."""
        return read_count({**self.counts, "total": self.total}, key)

    @property
    def runnable(self) -> int:
        return self.total - self.count(JobStatus.SKIPPED)

    @property
    def total_jobs(self) -> int:
        """The spec's name for ``total``."""
        return self.total

    @property
    def completed_jobs(self) -> int:
        return self.count(JobStatus.COMPLETED)

    @property
    def failed_jobs(self) -> int:
        return self.count(JobStatus.FAILED)

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON form (docs/summary-json.md): plain types, fixed keys."""
        d = self.durations
        return {
            "schema_version": SCHEMA_VERSION,
            "batch_id": self.batch_id,
            "flow_name": self.flow_name,
            "flow_ref": self.flow_ref,
            "status": self.status.value,
            "concurrency": self.concurrency,
            "csv_path": self.csv_path,
            "created_at": self.created_at.isoformat(),
            "total": self.total,
            "counts": dict(self.counts),
            "success_rate": self.success_rate,
            "flaky": self.flaky,
            "has_failures": self.has_failures,
            "total_attempts": self.total_attempts,
            "attempts_histogram": {str(k): v for k, v in sorted(self.attempts_histogram.items())},
            "durations": {
                "method": "nearest-rank",
                "count": d.count,
                "min_s": d.min_s,
                "p50_s": d.p50_s,
                "p95_s": d.p95_s,
                "max_s": d.max_s,
                "mean_s": d.mean_s,
            },
            "duration_histogram": [
                {"lower_s": b.lower_s, "upper_s": b.upper_s, "count": b.count}
                for b in self.duration_histogram
            ],
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "wall_time_s": self.wall_time_s,
            "throughput_rows_per_s": self.throughput_rows_per_s,
            "errors_by_category": dict(self.errors_by_category),
            "failed_attempts_by_category": dict(self.failed_attempts_by_category),
            "error_groups": [
                {
                    "category": g.category,
                    "signature": g.signature,
                    "count": g.count,
                    "example_message": g.example_message,
                    "example_rows": list(g.example_rows),
                }
                for g in self.error_groups
            ],
            "error_signatures": self.error_signatures,
            "stop_reason": self.stop_reason,
            "pools": self.pools.to_dict() if self.pools else None,
            "artifact_cap": {
                "max_mb": self.artifact_cap_mb,
                "reached": self.artifact_cap_reached,
                "attempts_without_evidence": self.evidence_skipped,
            },
        }


def final_error(job: BatchJob) -> tuple[ErrorCategory, str]:
    """The category and message a failed job ended with (its last attempt's when the job
    itself records none)."""
    last = job.attempts[-1] if job.attempts else None
    category = job.error_category or (last.category if last else None) or ErrorCategory.UNKNOWN
    return category, job.error_message or (last.message if last else "")


def _utc(moment: datetime) -> datetime:
    """Naive timestamps are taken as UTC so they compare with aware ones."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(slots=True)
class _GroupAcc:
    category: str
    example_message: str
    count: int = 0
    example_rows: list[int] = field(default_factory=list)


def _nearest_rank(ordered: list[float], percent: float) -> float:
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def _histogram(ordered: list[float], bins: int = HISTOGRAM_BINS) -> tuple[HistogramBin, ...]:
    """Equal-width bins from the fastest to the slowest job (one bin when all are equal)."""
    if not ordered:
        return ()
    low, high = ordered[0], ordered[-1]
    if high == low:
        return (HistogramBin(low, high, len(ordered)),)
    width = (high - low) / bins
    counts = [0] * bins
    for value in ordered:
        counts[min(bins - 1, int((value - low) / width))] += 1
    return tuple(
        HistogramBin(round(low + i * width, 6), round(low + (i + 1) * width, 6), c)
        for i, c in enumerate(counts)
    )


class SummaryBuilder:
    """Accumulates a summary job by job (``add``), so callers can tee one pass over
    the store into several consumers. Memory: one float per job that ran, plus at most
    ``MAX_SIGNATURES`` error groups."""

    def __init__(
        self,
        manifest: BatchManifest,
        *,
        secrets: Collection[str] = (),
        top_errors: int = TOP_ERROR_GROUPS,
    ) -> None:
        self._manifest = manifest
        self._secret_columns = tuple(secrets)
        self._top_errors = top_errors
        self._counts: Counter[str] = Counter()
        self._total = 0
        self._flaky = 0
        self._attempts: Counter[int] = Counter()
        self._durations = array("d")
        self._started: datetime | None = None
        self._finished: datetime | None = None
        self._finished_jobs = 0
        self._by_category: Counter[str] = Counter()
        self._failed_attempts: Counter[str] = Counter()
        self._groups: dict[tuple[str, str], _GroupAcc] = {}
        self._pools = PoolUsageBuilder()
        self._evidence_skipped = 0

    def add(self, job: BatchJob) -> None:
        self._total += 1
        self._counts[job.status.value] += 1
        self._attempts[job.attempt_count] += 1
        self._flaky += job.flaky
        self._pools.add(job)
        for attempt in job.attempts:
            self._evidence_skipped += bool(attempt.note)
            if not attempt.ok:
                self._failed_attempts[(attempt.category or ErrorCategory.UNKNOWN).value] += 1
        if job.attempts:
            self._durations.append(job.duration_s)
        self._track_times(job)
        if job.status is JobStatus.FAILED:
            self._add_error(job)

    def _track_times(self, job: BatchJob) -> None:
        started = job.started_at or (job.attempts[0].started_at if job.attempts else None)
        if started is not None:
            started = _utc(started)
            self._started = started if self._started is None else min(self._started, started)
        if job.finished_at is not None:
            finished = _utc(job.finished_at)
            self._finished_jobs += 1
            self._finished = finished if self._finished is None else max(self._finished, finished)

    def _add_error(self, job: BatchJob) -> None:
        category, message = final_error(job)
        secret_values = [job.row_data.get(column, "") for column in self._secret_columns]
        message = mask_secrets(message, secret_values)
        self._by_category[category.value] += 1
        key = (category.value, message_signature(message))
        group = self._groups.get(key)
        if group is None:
            if len(self._groups) >= MAX_SIGNATURES:
                key = (category.value, OTHER_SIGNATURE)
                group = self._groups.setdefault(key, _GroupAcc(category.value, message))
            else:
                group = self._groups[key] = _GroupAcc(category.value, message)
        group.count += 1
        if len(group.example_rows) < EXAMPLE_ROWS:
            group.example_rows.append(job.row_index)

    def build(self) -> BatchSummary:
        counts = {status.value: self._counts[status.value] for status in JobStatus}
        completed = counts[JobStatus.COMPLETED.value]
        runnable = self._total - counts[JobStatus.SKIPPED.value]
        ordered = sorted(self._durations)
        durations = DurationStats()
        if ordered:
            durations = DurationStats(
                count=len(ordered),
                min_s=ordered[0],
                p50_s=_nearest_rank(ordered, 50),
                p95_s=_nearest_rank(ordered, 95),
                max_s=ordered[-1],
                mean_s=math.fsum(ordered) / len(ordered),
            )
        wall = 0.0
        if self._started is not None and self._finished is not None:
            wall = max(0.0, (self._finished - self._started).total_seconds())
        ranked = sorted(self._groups.items(), key=lambda item: (-item[1].count, item[0]))
        groups = tuple(
            ErrorGroup(acc.category, sig, acc.count, acc.example_message, tuple(acc.example_rows))
            for (_, sig), acc in ranked[: self._top_errors]
        )
        failed = counts[JobStatus.FAILED.value] + counts[JobStatus.NEEDS_REVIEW.value]
        return BatchSummary(
            batch_id=self._manifest.batch_id,
            flow_name=self._manifest.flow_name,
            flow_ref=self._manifest.flow_ref,
            status=self._manifest.status,
            concurrency=str(self._manifest.settings.get("concurrency", "")),
            csv_path=self._manifest.csv_path,
            created_at=self._manifest.created_at,
            total=self._total,
            counts=counts,
            success_rate=completed / runnable if runnable else 0.0,
            flaky=self._flaky,
            total_attempts=sum(n * jobs for n, jobs in self._attempts.items()),
            attempts_histogram=dict(sorted(self._attempts.items())),
            durations=durations,
            duration_histogram=_histogram(ordered),
            started_at=self._started,
            finished_at=self._finished,
            wall_time_s=wall,
            throughput_rows_per_s=self._finished_jobs / wall if wall > 0 else 0.0,
            errors_by_category={c.value: self._by_category[c.value] for c in ErrorCategory},
            failed_attempts_by_category={
                c.value: self._failed_attempts[c.value] for c in ErrorCategory
            },
            error_groups=groups,
            error_signatures=len(self._groups),
            has_failures=failed > 0,
            stop_reason=self._manifest.settings.get("stop_reason"),
            pools=self._pools.build(),
            artifact_cap_mb=float(self._manifest.settings.get("max_artifacts_mb") or 0),
            evidence_skipped=self._evidence_skipped,
        )


def build_summary(
    manifest: BatchManifest,
    jobs: Iterable[BatchJob],
    *,
    secrets: Collection[str] = (),
    top_errors: int = TOP_ERROR_GROUPS,
) -> BatchSummary:
    """Summarise ``jobs`` (any iterable, read once). ``secrets`` names columns whose
    values are masked inside the example error messages."""
    builder = SummaryBuilder(manifest, secrets=secrets, top_errors=top_errors)
    for job in jobs:
        builder.add(job)
    return builder.build()
