"""The ``batchwright`` command: its commands, their output and the progress displays."""

from batch.cli import service_cmds  # noqa: F401 - imported to register `serve` and `keys`
from batch.cli.app import main

__all__ = ["main"]
