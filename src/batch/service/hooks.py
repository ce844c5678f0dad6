"""Listeners of the batches a server runs: live progress (SSE), webhooks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from batch.models import ProgressEvent
from batch.reports.summary import BatchSummary

__all__ = ["BatchHooks"]


@dataclass
class BatchHooks:
    """Listeners of the batches this server runs (live progress, webhooks). Called in
    the server's event loop; a listener must not block (hand work to a task)."""

    on_progress: list[Callable[[ProgressEvent], None]] = field(default_factory=list)
    """After each row finishes."""
    on_finished: list[Callable[[BatchSummary], None]] = field(default_factory=list)
    """After a run of a batch ends (finished, stopped or cancelled)."""
