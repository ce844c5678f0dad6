"""Creating a group: one batch per CSV, every one made before any runs.

A file the CSV checks refuse (path guard, size, type, encoding, columns, duplicate
keys) is recorded in the group with its error and the others still make batches:
one bad export must not hold back the rest of the folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from batch.exceptions import ConfigurationError, FileProcessingError, SecurityError
from batch.ingest.creation import new_batch_id
from batch.ingest.sources import expand_sources
from batch.models import BatchGroup, RefusedFile
from runtime.flows.model import Flow

if TYPE_CHECKING:
    from batch.engine import BatchEngine

__all__ = ["REFUSED_FILE_ERRORS", "create_group", "new_group_id"]

REFUSED_FILE_ERRORS = (FileProcessingError, SecurityError, ConfigurationError)
"""What a file's checks raise: the file is refused, the group goes on (a flow error
is a ``ConfigurationError`` too: a column of the flow missing from this file)."""


def new_group_id() -> str:
    """``group-20261203-013000-1a2b3c``: sortable, and never mistaken for a batch id."""
    return f"group-{new_batch_id()}"


def create_group(
    engine: BatchEngine,
    sources: str | Path | Sequence[str | Path],
    flow: str | Path | Flow | None = None,
) -> BatchGroup:
    """Record a group, then a batch per CSV of ``sources`` (files, directories, glob
    patterns) joined to it; the refused files are recorded with their errors."""
    if isinstance(sources, (str, Path)):
        sources = [sources]
    if flow is None and engine.settings.flow is None:
        from batch.engine import NO_FLOW  # noqa: PLC0415 - batch.engine imports this module

        raise ConfigurationError(NO_FLOW)
    loaded = engine.load_flow(flow if flow is not None else str(engine.settings.flow))
    found = expand_sources(sources, engine.settings)
    group_id = new_group_id()
    engine.store.create_group(group_id, loaded.source, [str(s) for s in sources])
    refused = list(found.refused)
    for path in found.files:
        try:
            manifest = engine.create_batch_jobs(path, loaded)
        except REFUSED_FILE_ERRORS as exc:
            refused.append(RefusedFile(path=str(path), error=" ".join(str(exc).split())))
            continue
        engine.store.add_to_group(group_id, manifest.batch_id)
    if refused:
        engine.store.record_refused(group_id, refused)
    return engine.store.get_group(group_id)
