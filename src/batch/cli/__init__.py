"""The ``batchwright`` command: its commands, their output and the progress displays."""

from batch.cli.app import main

__all__ = ["main"]
