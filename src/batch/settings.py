"""``BatchSettings``: the runtime's settings plus what the batch side decides: CSV
ingestion, the flow, concurrency, retries and data-entry safety.

Precedence, highest first: the explicit ``config`` mapping (API and CLI flags),
``BATCH_*`` environment variables, a ``.env`` file in the working directory, then
the defaults below. Invalid values and unknown keys raise ``ConfigurationError``
naming the setting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator

from batch.service.settings import ServiceSettings
from runtime.outcome import ErrorCategory
from runtime.settings import RuntimeSettings, build_settings

__all__ = ["BadRowPolicy", "BatchSettings", "Priority", "load_settings", "settings_over"]

BadRowPolicy = Literal["fail", "skip"]
Priority = Literal["high", "normal", "low"]


def _default_concurrency() -> int:
    # Each job is a Chromium renderer; two per core keeps the CPU busy while
    # pages wait on the network, without thrashing a small machine.
    return max(2, min(8, 2 * (os.cpu_count() or 1)))


class BatchSettings(RuntimeSettings, ServiceSettings):
    """All batchwright options. Environment variables use the ``BATCH_`` prefix."""

    strict_dotenv: ClassVar[bool] = True

    # --- the flow --------------------------------------------------------------
    flow: str | None = None
    """The flow used when none is passed: a ``.yaml``/``.yml``/``.json`` or ``.py`` file
    (relative to ``base_dir``) or ``package.module:function`` (``BATCH_FLOW``)."""

    # --- the store --------------------------------------------------------------
    store_url: str | None = Field(None, repr=False)
    """Where the manifest store lives. Unset: the SQLite file ``<artifacts_dir>/batchwright.db``;
    ``sqlite:///path`` another file; ``postgresql://user:password@host:5432/db`` a store
    shared by machines (docs/store.md). Its password is never shown."""

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

    # --- scheduling ----------------------------------------------------------
    concurrency: Annotated[int, Field(ge=1, le=64)] | Literal["auto"] = Field(
        default_factory=_default_concurrency
    )
    """Jobs running at once. ``auto``: adapt between 1 and 4 per core to the CPU, memory
    (Chromium included) and event-loop lag, starting at the core count."""

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
    circuit_breaker: int = Field(10, ge=0)
    """Stop the batch (resumable) after this many consecutive transient failures: the
    target is probably down. 0: never."""
    max_failures: int = Field(0, ge=0)
    """Stop scheduling new rows after this many rows failed in one run (``--max-failures``),
    as when every row fails the same way (a wrong base URL); running rows finish and the
    batch stays resumable. 0: never."""
    rate: float | None = Field(None, gt=0)
    """At most this many job starts per second across all workers (``--rate 2/s``)."""
    delay_s: float = Field(0.0, ge=0)
    """Pause of each worker between two jobs, for fragile targets (``--delay``)."""

    # --- workers (docs/distributed.md) -----------------------------------------
    broker_url: str | None = None
    """Redis URL of the Celery broker (``redis://host:6379/0``). Set: ``run`` hands the
    batch's jobs to ``batchwright worker`` processes instead of running them itself."""
    priority: Priority = "normal"
    """A batch's priority on the workers: ``high`` rows start before ``normal``, then ``low``."""
    lease_s: float = Field(30.0, ge=1)
    """A running job whose worker stops renewing its lease this long is re-run (or held
    in needs_review past an unsafe commit step), and its pool entries serve again.
    Workers renew every ``lease_s / 6``, the in-process engine every second (or ``lease_s / 3``),
    from a thread of their own (``batch.run.heartbeat``): a blocked event loop does not delay it."""

    # --- retention (docs/schedules.md) ------------------------------------------
    retention_days: int | None = Field(None, ge=1)
    """Batches older than this many days are pruned once a day by ``batchwright serve``
    (rows, attempts and artifact folders; never a running batch nor rows needing
    review). Unset: never."""

    @field_validator("broker_url", mode="after")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://")):
            raise ValueError("must be a Redis URL: redis://host:6379/0 (or rediss:// for TLS)")
        return value

    @field_validator("flow", mode="before")
    @classmethod
    def _flow_path(cls, value: object) -> object:
        return os.fspath(value) if isinstance(value, os.PathLike) else value

    @field_validator("base_dir", mode="after")
    @classmethod
    def _absolute_base(cls, value: Path) -> Path:
        return value.expanduser().resolve()

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

    @property
    def max_file_size_bytes(self) -> int:
        return int(self.max_file_size_mb * 1024 * 1024)


def load_settings(
    config: Mapping[str, Any] | None = None, *, read_env: bool = True
) -> BatchSettings:
    """Build settings from ``config`` (None values: not given) over the environment."""
    values = {k: v for k, v in (config or {}).items() if v is not None}
    return build_settings(BatchSettings, values, read_env=read_env)


def settings_over(base: RuntimeSettings, config: Mapping[str, Any] | None = None) -> BatchSettings:
    """``BatchSettings`` from ``base`` with ``config`` on top. Runtime-only settings (a
    ``RunContext()``) are completed by the batch options of the environment and ``.env``."""
    if isinstance(base, BatchSettings):
        return base.with_overrides(**(config or {}))
    given = {k: v for k, v in (config or {}).items() if v is not None}
    return build_settings(BatchSettings, {**base.model_dump(), **given})
