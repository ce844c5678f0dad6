"""Response and request models of the skeleton's routes (health, session)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from runtime.outcome import ErrorCategory

__all__ = [
    "BatchInfo",
    "BatchOptions",
    "CreateFromPaths",
    "Health",
    "RetryBody",
    "ReviewBody",
    "SessionInfo",
    "SignIn",
]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


class SignIn(BaseModel):
    key: str = Field(min_length=1, max_length=200, description="An API key.")


class SessionInfo(BaseModel):
    """Who is signed in; ``csrf_token`` goes in ``X-CSRF-Token`` on every change."""

    name: str
    scope: Literal["read", "write"]
    csrf_token: str | None = None
    """Only for a session (the cookie); a Bearer caller needs none."""


class BatchOptions(BaseModel):
    """How a batch runs, as the CLI's options (unset: the server's settings)."""

    model_config = ConfigDict(extra="forbid")

    concurrency: Annotated[int, Field(ge=1, le=64)] | Literal["auto"] | None = None
    retries: int | None = Field(default=None, ge=0, le=20)
    isolation: Literal["context", "recycled", "page"] | None = None
    rate: str | None = Field(
        default=None,
        pattern=r"^[0-9]{1,6}(\.[0-9]{1,6})?(/(s|sec|m|min|h))?$",
        description="Job starts at most: 2/s, 90/min, 1000/h (a number: per second).",
    )
    priority: Literal["high", "normal", "low"] | None = None
    secrets: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=100, description="Columns whose values are masked."
    )
    max_failures: int | None = Field(default=None, ge=0)
    base_url: str | None = Field(
        default=None,
        max_length=2000,
        pattern=r"^(https?|file)://",
        description="Overrides the flow's base URL.",
    )


class CreateFromPaths(BatchOptions):
    """A batch from files already on the server, under its ``base_dir``."""

    csv_path: str = Field(min_length=1, max_length=4096)
    flow_path: str | None = Field(default=None, min_length=1, max_length=4096)
    flow_name: str | None = Field(default=None, min_length=1, max_length=200)


class BatchInfo(BaseModel):
    """A batch as the write routes return it (``GET /api/v1/batches/{id}`` has more)."""

    batch_id: str
    status: str
    """The store's status: created, running, finished or interrupted."""
    run: Literal["queued", "running", "workers", "idle"]
    """What this server does with it now."""
    flow_name: str
    created_at: datetime
    total: int
    counts: dict[str, int]
    """Rows per status (pending, running, completed, failed, ...)."""


class RetryBody(BaseModel):
    """Which failed rows to run again (none given: every failed row)."""

    model_config = ConfigDict(extra="forbid")

    job_ids: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        default=None, max_length=10_000
    )
    categories: list[ErrorCategory] | None = None
    retries: int | None = Field(default=None, ge=0, le=20)


class ReviewBody(BaseModel):
    """Settle rows of unknown outcome: ``completed`` (it was entered) or ``pending``
    (run it again); ``job_ids`` unset: every row needing review."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["completed", "pending"]
    job_ids: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        default=None, max_length=10_000
    )
    resume: bool = True
    """With ``pending``: run the batch again right away."""
