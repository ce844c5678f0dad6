"""Every error batchwright raises on purpose, in one tree.

::

    BatchEngineError                 root: catch this to catch them all
    ├── ConfigurationError           a setting, flow or command line is wrong (exit 2)
    │   ├── FlowError                invalid flow; .problems lists each with its step
    │   └── BrowserNotFoundError     no Chromium to launch, with how to get one
    ├── SecurityError                refused input: path traversal, sensitive path,
    │                                not a regular file, oversize, wrong MIME (exit 2)
    ├── FileProcessingError          the CSV cannot be read: encoding, headers, ragged
    │                                rows, NUL bytes; names file, line and column (exit 2)
    ├── BusinessError                the app rejected a row (raised by flows, not retried)
    ├── HttpStatusError              a navigation answered 5xx or 429; .status and
    │                                .retry_after_s decide the retry (transient, rate_limit)
    ├── BatchBusyError               another live engine runs the batch; names its
    │                                host and pid (exit 2)
    └── StoreError                   the manifest store refused an operation
        ├── BatchNotFoundError       no batch with that id
        └── InvalidTransitionError   a job status change the state machine forbids

The runtime's errors (root, configuration, flow, browser, business, HTTP status) are
defined in ``runtime.errors`` because the runtime never imports ``batch``; they are the
same classes re-exported here. docs/errors.md explains each, the error categories an
attempt's failure falls into (what is retried) and the CLI's exit codes.
"""

from __future__ import annotations

from pathlib import Path

from runtime.errors import (
    BatchEngineError,
    BrowserNotFoundError,
    BusinessError,
    ConfigurationError,
    FlowError,
    HttpStatusError,
)

__all__ = [
    "BatchBusyError",
    "BatchEngineError",
    "BatchNotFoundError",
    "BrowserNotFoundError",
    "BusinessError",
    "ConfigurationError",
    "FileProcessingError",
    "FlowError",
    "HttpStatusError",
    "InvalidTransitionError",
    "SecurityError",
    "StoreError",
]


class SecurityError(BatchEngineError):
    """Input refused for safety: never read, never run."""


class FileProcessingError(BatchEngineError):
    """The CSV cannot be processed. The message names the file, line and column."""

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        column: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.line = line
        self.column = column
        self.hint = hint
        where = []
        if path is not None:
            where.append(str(path))
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        text = f"{': '.join([', '.join(where), message]) if where else message}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)


class BatchBusyError(BatchEngineError):
    """Another live engine (this process, another one, or another host) runs the batch:
    two engines on one batch would race for its rows."""

    def __init__(self, batch_id: str, owner: str) -> None:
        self.batch_id = batch_id
        self.owner = owner
        host, _, rest = owner.partition(":")
        self.host = host
        self.pid = rest.partition(":")[0]
        super().__init__(
            f"batch {batch_id} is already being run by another engine ({host}, pid "
            f"{self.pid}); wait for it to finish, or stop it with `batchwright cancel "
            f"{batch_id}` and resume it then"
        )


class StoreError(BatchEngineError):
    """The manifest store refused an operation."""


class BatchNotFoundError(StoreError):
    """No batch with the given id exists in the store."""


class InvalidTransitionError(StoreError):
    """A job status change that the state machine forbids (e.g. completed -> running)."""
