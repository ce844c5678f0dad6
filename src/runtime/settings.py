"""``BatchSettings``: every option, its default, and where it can be set.

Precedence, highest first: the explicit ``config`` mapping (API and CLI flags),
``BATCH_*`` environment variables, a ``.env`` file in the working directory, then
the defaults below. Invalid values raise ``ConfigurationError`` naming the setting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from runtime.errors import ConfigurationError
from runtime.outcome import ErrorCategory

__all__ = ["BadRowPolicy", "BatchSettings", "Isolation", "TraceMode", "load_settings"]

TraceMode = Literal["off", "on-failure", "retries", "always"]
Isolation = Literal["context", "recycled", "page"]
BadRowPolicy = Literal["fail", "skip"]


def _default_concurrency() -> int:
    # Each job is a Chromium renderer; two per core keeps the CPU busy while
    # pages wait on the network, without thrashing a small machine.
    return max(2, min(8, 2 * (os.cpu_count() or 1)))


class BatchSettings(BaseSettings):
    """All batchwright options. Environment variables use the ``BATCH_`` prefix."""

    model_config = SettingsConfigDict(
        env_prefix="BATCH_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    # --- CSV ingestion -------------------------------------------------------
    max_file_size_mb: float = Field(500, gt=0)
    """Largest CSV accepted, checked before a byte is read."""
    chunk_size: int = Field(1000, ge=1, le=1_000_000)
    """Rows read and written to the store per chunk: memory stays flat for any file size."""
    encoding: str = "utf-8"
    """Expected encoding; BOMs are honoured and non-UTF-8 files fall back to cp1252/latin-1."""
    delimiter_fallback: str = Field(",", min_length=1, max_length=1)
    """Delimiter used when sniffing cannot decide (e.g. one-column files)."""
    allow_path_traversal: bool = False
    """Allow CSV paths outside ``base_dir``. Sensitive system paths stay refused."""
    base_dir: Path = Field(default_factory=Path.cwd)
    """Directory CSV paths must stay inside (symlinks resolved) unless traversal is allowed."""
    validate_headers: bool = True
    """Require a header row with non-empty, unique names."""
    skip_empty_rows: bool = True
    """Ignore rows whose fields are all blank instead of making jobs of them."""
    bad_rows: BadRowPolicy = "fail"
    """A row with too many or too few fields: ``fail`` the file, or keep it as a ``skipped`` job."""
    max_field_size_kb: int = Field(1024, ge=1)
    """Longest single CSV field accepted; longer ones are a clear error, not a memory blow-up."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Logging threshold for the ``batchwright`` logger."""
    artifacts_dir: Path = Path("artifacts")
    """Root for the store, reports and per-job artifacts (``<artifacts_dir>/<batch_id>/``)."""

    # --- browser -------------------------------------------------------------
    browser_path: Path | None = None
    """Chromium executable. Unset: Playwright's own browser, then a system Chromium."""
    headless: bool = True
    """Run without a window. ``--headed`` to watch (prefers full Chromium)."""
    concurrency: Annotated[int, Field(ge=1, le=64)] | Literal["auto"] = Field(
        default_factory=_default_concurrency
    )
    """Jobs running at once. ``auto``: adapt between 1 and 4 per core to the CPU, memory
    (Chromium included) and event-loop lag, starting at the core count."""
    isolation: Isolation = "context"
    """How jobs share browser state: ``context`` (a fresh context per row, safest),
    ``recycled`` (pooled contexts wiped between rows: cookies, storage, permissions),
    ``page`` (one page per worker, nothing wiped: read-only flows). docs/performance.md."""
    recycle_context_every: int = Field(50, ge=1)
    """With ``isolation=recycled`` or ``page``: a pooled context serves this many rows,
    then is replaced by a fresh one."""
    base_url: str | None = None
    """Overrides the flow's ``base_url`` (``--base-url``)."""
    job_timeout_s: float = Field(60.0, gt=0)
    """Watchdog per attempt: a job running longer is ended and its context closed."""
    step_timeout_s: float = Field(15.0, gt=0)
    """Playwright timeout for each step (navigation, clicks, expectations)."""
    browser_recycle_jobs: int = Field(500, ge=0)
    """Relaunch the browser after this many jobs to bound its memory (0: never)."""
    browser_recycle_memory_mb: int = Field(2048, ge=0)
    """Relaunch the browser when this engine's Chromium processes use more memory than
    this (resident set, checked every 20 jobs; 0: never)."""

    # --- retries ---------------------------------------------------------------
    max_retries: int = Field(2, ge=0, le=20)
    """Retries after the first attempt, for the categories in ``retry_on``."""
    retry_delay: float = Field(1.0, ge=0)
    """First backoff delay in seconds."""
    backoff_factor: float = Field(2.0, ge=1)
    """Multiplier of the delay per retry."""
    max_delay: float = Field(30.0, ge=0)
    """Cap on any single backoff delay, Retry-After included."""
    jitter: float = Field(0.5, ge=0)
    """Up to this many random seconds added to each delay, so retries do not stampede."""
    retry_on: frozenset[ErrorCategory] = frozenset(
        {ErrorCategory.TRANSIENT, ErrorCategory.RATE_LIMIT, ErrorCategory.UNKNOWN}
    )
    """Error categories that are retried. Business errors never should be."""

    # --- data-entry safety -------------------------------------------------------
    duplicate_rows: BadRowPolicy = "fail"
    """Rows sharing an idempotency key in one CSV: ``fail`` before anything runs, or keep
    the later ones as ``skipped`` jobs pointing at the first."""
    skip_completed: bool = False
    """Skip rows whose key an earlier batch of the same flow already completed."""
    secrets: frozenset[str] = frozenset()
    """Columns whose values are masked as ``***`` in logs, messages and reports, on top of
    the flow's ``secrets:`` list (``--secret COLUMN``)."""
    trace_secrets: bool = False
    """Allow Playwright traces for flows with secrets (traces record typed values)."""
    circuit_breaker: int = Field(10, ge=0)
    """Stop the batch (resumable) after this many consecutive transient failures: the
    target is probably down. 0: never."""
    rate: float | None = Field(None, gt=0)
    """At most this many job starts per second across all workers (``--rate 2/s``)."""
    delay_s: float = Field(0.0, ge=0)
    """Pause of each worker between two jobs, for fragile targets (``--delay``)."""

    # --- artifacts -----------------------------------------------------------
    trace: TraceMode = "retries"
    """Playwright tracing: ``retries`` traces attempts after the first (failures that
    persist get a trace, passing rows pay nothing); ``on-failure`` traces every
    attempt and keeps failed ones (~40 % slower); ``always`` keeps all; ``off``."""
    screenshot_on_failure: bool = True
    """Full-page screenshot of a failed attempt."""
    html_on_failure: bool = True
    """Page HTML of a failed attempt."""

    @field_validator("artifacts_dir", "base_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("browser_path", mode="after")
    @classmethod
    def _existing_browser(cls, value: Path | None) -> Path | None:
        if value is not None and not value.expanduser().is_file():
            raise ValueError(f"no executable file at {value}")
        return value.expanduser() if value is not None else None

    @field_validator("rate", mode="before")
    @classmethod
    def _rate(cls, value: object) -> object:
        """Accept ``2``, ``"2/s"``, ``"90/min"`` or ``"1000/h"``."""
        if not isinstance(value, str) or "/" not in value:
            return value
        amount, _, unit = value.partition("/")
        per = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}.get(unit.strip())
        if per is None:
            raise ValueError("use a rate like 2/s, 90/min or 1000/h")
        return float(amount) / per

    @field_validator("base_url", mode="after")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://", "file://")):
            raise ValueError("must start with http://, https:// or file://")
        return value.rstrip("/") if value else value

    @property
    def max_file_size_bytes(self) -> int:
        return int(self.max_file_size_mb * 1024 * 1024)

    def with_overrides(self, **overrides: Any) -> BatchSettings:
        """A copy with some values changed, validated like the original."""
        return load_settings({**self.model_dump(), **overrides}, read_env=False)


def load_settings(
    config: Mapping[str, Any] | None = None, *, read_env: bool = True
) -> BatchSettings:
    """Build settings from ``config`` over the environment; errors become ``ConfigurationError``."""
    values = {k: v for k, v in (config or {}).items() if v is not None}
    try:
        if read_env:
            return BatchSettings(**values)
        return BatchSettings.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(p) for p in error["loc"]) or "settings"
            given = error.get("input")
            problems.append(f"setting {name!r} = {given!r}: {error['msg']}")
        raise ConfigurationError("; ".join(problems)) from None
