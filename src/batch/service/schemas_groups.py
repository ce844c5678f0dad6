"""Request and response models of ``/api/v1/groups``: a group's request by paths, and
its status as ``GroupSummary`` computes it (``group.json``, docs/groups.md) with what
this server does with each batch and an exit-like ``ok``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from batch.models import BatchStatus
from batch.service.schemas import BatchOptions

__all__ = [
    "MAX_PATHS",
    "CreateGroupFromPaths",
    "GroupBatchOut",
    "GroupItem",
    "GroupOut",
    "GroupPage",
    "RefusedOut",
]

MAX_PATHS = 100
"""``csv_paths`` in one request (a directory or a pattern stands for many files)."""


class CreateGroupFromPaths(BatchOptions):
    """A group from files already on the server: files, directories (their ``*.csv``)
    or glob patterns under its ``base_dir``."""

    csv_paths: list[Annotated[str, Field(min_length=1, max_length=4096)]] = Field(
        min_length=1, max_length=MAX_PATHS
    )
    flow_path: str | None = Field(default=None, min_length=1, max_length=4096)
    flow_name: str | None = Field(default=None, min_length=1, max_length=200)


class RefusedOut(BaseModel):
    """A file the CSV checks refused: no batch was made of it."""

    path: str = Field(description="As the request named it (an upload: its file name).")
    error: str


class GroupBatchOut(BaseModel):
    batch_id: str
    file: str = Field(description="The file as the request named it (an upload: its name).")
    csv_path: str
    status: BatchStatus
    run: Literal["queued", "running", "workers", "idle"]
    """What this server does with it now."""
    total: int
    counts: dict[str, int]
    success_rate: float
    has_failures: bool
    stop_reason: str | None
    artifact_cap_reached: bool
    report: str = Field(description="Its HTML report, through the API.")


class GroupOut(BaseModel):
    """A group's status, computed now from its batches."""

    group_id: str
    created_at: datetime
    flow_ref: str
    sources: list[str]
    status: Literal["created", "running", "interrupted", "finished"]
    """The least settled batch's."""
    ok: bool
    """Finished, and every row of every file completed (or was a skipped duplicate):
    the CLI's exit code 0."""
    total: int
    counts: dict[str, int] = Field(description="Rows per status over all batches.")
    success_rate: float
    has_failures: bool
    refused: list[RefusedOut]
    pruned: list[str] = Field(description="Ids of its batches a prune removed since.")
    batches: list[GroupBatchOut]
    report: str = Field(description="The group's index page, through the API.")


class GroupItem(BaseModel):
    """A group in the list (``GET /api/v1/groups/{id}`` has its status)."""

    group_id: str
    created_at: datetime
    flow_ref: str
    sources: list[str]
    batch_ids: list[str]
    refused: int = Field(description="How many files were refused.")


class GroupPage(BaseModel):
    items: list[GroupItem]
    total: int = Field(description="Groups over all pages.")
    next_offset: int | None = Field(
        description="Pass as `offset` for the next page; null on the last page."
    )
