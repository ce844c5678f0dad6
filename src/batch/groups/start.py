"""``start_batch_group``: a group created and run in one call, like ``start_batch``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from batch.engine import BatchEngine
from batch.groups.summary import GroupSummary
from batch.run.progress import ProgressCallback
from runtime.flows.model import Flow
from runtime.run_context import RunContext

__all__ = ["start_batch_group"]


async def start_batch_group(
    sources: str | Path | Sequence[str | Path],
    flow: str | Path | Flow | None = None,
    *,
    run_context: RunContext | None = None,
    config: Mapping[str, Any] | None = None,
    progress_callback: ProgressCallback | None = None,
) -> GroupSummary:
    """Create a group from ``sources`` (CSV files, directories, glob patterns) and run
    it on an engine of its own (closed afterwards); its summary after the run."""
    with BatchEngine(run_context, config) as engine:
        group = engine.create_batch_group(sources, flow)
        return await engine.execute_group(group.group_id, progress_callback)
