"""What the runtime is given (``JobSpec``) and what it returns (``AttemptOutcome``).

These frozen values are the whole contract between the batch side and the
browser side: a distributed worker needs nothing else. ``runtime.codec`` carries
them as versioned JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

__all__ = ["Artifact", "AttemptOutcome", "ErrorCategory", "JobSpec", "SettingValue"]

SettingValue = str | int | float | bool | None | tuple[str, ...]
"""One runtime setting as a spec carries it: a JSON scalar, or a list of names."""


class ErrorCategory(StrEnum):
    """Why an attempt failed; decides whether it is retried (docs/errors.md)."""

    TRANSIENT = "transient"
    RATE_LIMIT = "rate_limit"
    BUSINESS = "business"
    CONFIGURATION = "configuration"
    SECURITY = "security"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One attempt of one row: everything the runtime needs besides the flow and settings."""

    job_id: str
    batch_id: str
    row_index: int
    row: Mapping[str, str]
    attempt: int
    """1 for the first try of this job, 2 for its first retry, ..."""
    verify: bool = False
    """Run the flow's ``verify:`` steps instead: they pass when the record already exists."""
    flow_hash: str = ""
    """Content hash of the flow the batch was created with (``Flow.content_hash``): a
    runner holding another flow refuses the attempt. Empty: not checked."""
    settings: Mapping[str, SettingValue] = field(default_factory=lambda: MappingProxyType({}))
    """The runtime settings the attempt runs with (``runners.base.attempt_settings``):
    built once per batch and shared, read-only, by all its specs."""
    pool: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: MappingProxyType({}))
    """The entry leased for this attempt from each of the flow's pools (``pool: {account:
    {username: ..., password: ...}}``): templates see ``pool.account.username``."""


@dataclass(frozen=True, slots=True)
class Artifact:
    """A file captured during an attempt, relative to the batch's artifacts directory."""

    kind: str
    """screenshot | trace | html | console | download"""
    path: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """The result of one attempt. ``category`` is None exactly when it succeeded."""

    ok: bool
    duration_s: float
    category: ErrorCategory | None = None
    message: str = ""
    artifacts: tuple[Artifact, ...] = ()
    extracted: Mapping[str, str] = field(default_factory=dict)
    retry_after_s: float | None = None
    """Server-requested wait (HTTP 429 Retry-After), honoured by the retry policy."""
    pool_unusable: tuple[str, ...] = ()
    """Pools whose leased entry the attempt found unusable (a failed ``pool_error:``
    step, ``ctx.pool_failed(name)``): taken out of the pool for the rest of the batch."""
    evidence_note: str = ""
    """Why evidence of this attempt was not written (the artifact cap), or ""."""
