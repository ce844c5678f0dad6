"""``RunContext``: what one process run of batchwright carries around."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from runtime.settings import RuntimeSettings, load_settings

__all__ = ["RunContext", "new_run_id"]


def new_run_id() -> str:
    """Sortable and unique enough: ``20261123T153000-1a2b3c``."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class RunContext:
    """Run id, settings, artifacts root and logger for one run of the engine.

    ``RunContext()`` reads the runtime's settings from the environment; the batch
    engine completes them with its own options (``batch.settings``) or takes a
    ``BatchSettings`` given here as ``settings``."""

    settings: RuntimeSettings = field(default_factory=load_settings)
    run_id: str = field(default_factory=new_run_id)
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("batchwright"))

    @property
    def artifacts_root(self) -> Path:
        return self.settings.artifacts_dir

    @classmethod
    def create(cls, config: dict[str, object] | None = None) -> RunContext:
        """A context from runtime ``config`` over the environment, its logger leveled."""
        settings = load_settings(config)
        logger = logging.getLogger("batchwright")
        logger.setLevel(settings.log_level)
        return cls(settings=settings, logger=logger)
