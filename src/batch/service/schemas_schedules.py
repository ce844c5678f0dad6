"""Request and response models of ``/api/v1/schedules`` (docs/schedules.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from batch.service.schemas import BatchOptions

__all__ = ["LastBatch", "ScheduleCreate", "ScheduleInfo"]


class ScheduleCreate(BatchOptions):
    """A schedule of a CSV under the server's ``base_dir``, run with a flow registered on
    the server (``flow_name``) or under ``base_dir`` (``flow_path``) and the options of
    a batch (``POST /api/v1/batches``)."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="1 to 64 letters, digits, '.', '_' or '-'.",
    )
    cron: str = Field(
        min_length=1, max_length=200, description="Five-field cron expression: `0 2 * * *`."
    )
    timezone: str = Field(
        default="UTC", min_length=1, max_length=100, description="IANA zone of the cron times."
    )
    csv_path: str = Field(
        min_length=1,
        max_length=4096,
        description="A CSV file, a directory of CSVs or a glob pattern under `base_dir` "
        "(a directory or a pattern fires a group, one batch per file, at each slot).",
    )
    flow_path: str | None = Field(default=None, min_length=1, max_length=4096)
    flow_name: str | None = Field(default=None, min_length=1, max_length=200)


class LastBatch(BaseModel):
    """The last fired batch: its status and rows per status, or ``pruned`` since; of a
    group, its batches' summed (``group`` true), with how many batches and refused
    files it has and how many of its batches were pruned."""

    pruned: bool = False
    status: str | None = None
    total: int | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    group: bool = False
    batches: int | None = None
    refused: int | None = None
    pruned_batches: int | None = None


class ScheduleInfo(BaseModel):
    """A schedule as ``batchwright schedule list --json`` shows it."""

    name: str
    cron: str
    timezone: str
    csv_path: str
    """The CSV file (or directory, or pattern: a group) each slot runs (absolute, on
    the server)."""
    flow: str
    paused: bool
    next_run: datetime | None
    """The next slot (UTC); null while paused."""
    last_slot: datetime | None
    last_outcome: Literal["fired", "skipped", "failed"] | None
    """What the last slot gave; null: none yet, or one still being fired."""
    last_reason: str
    last_batch_id: str | None
    last_batch: LastBatch | None
    """Null until a slot fired a batch."""
    options: dict[str, Any] = Field(
        description="The settings its batches run with (BatchSettings names, as the CLI)."
    )
