"""Reading a flow's pool CSVs when its batch is created: each file passes the same gate
as the batch's CSV (path guard, size, MIME, encoding, headers), then its key and secret
columns, the columns the flow's templates read, and its keys are checked. A refused
pool file stops the batch before anything is stored or run."""

from __future__ import annotations

from pathlib import Path

from batch.exceptions import FileProcessingError, SecurityError
from batch.ingest.csv_reader import inspect_csv, iter_records
from batch.ingest.security import check_csv_file
from batch.settings import BatchSettings
from runtime.flows.actions import did_you_mean
from runtime.flows.model import Flow
from runtime.flows.pool_refs import pool_columns
from runtime.flows.pools import PoolSpec

__all__ = ["PoolRows", "read_pool", "read_pools"]

PoolRows = dict[str, list[tuple[str, dict[str, str]]]]
"""Each pool's entries, ``(key, row)`` in file order."""


def _checked(pool: PoolSpec, settings: BatchSettings) -> Path:
    try:
        return check_csv_file(pool.path, settings)
    except SecurityError as exc:
        raise SecurityError(f"pool {pool.name!r}: {exc}") from exc
    except FileProcessingError as exc:
        raise FileProcessingError(f"pool {pool.name!r}: {exc}") from exc


def _columns(flow: Flow, pool: PoolSpec, headers: tuple[str, ...], path: Path) -> None:
    """The key, secret and template columns must all be in the pool's CSV."""
    needed = [(f"'key' {pool.key!r}", pool.key)]
    needed += [(f"secret {column!r}", column) for column in pool.secrets]
    for step in (*flow.steps, *flow.verify):
        needed += [
            (f"{step.where} {step.label} reads {column!r}", column)
            for name, column in sorted(pool_columns(step), key=str)
            if name == pool.name and column is not None
        ]
    for what, column in needed:
        if column not in headers:
            raise FileProcessingError(
                f"pool {pool.name!r}: {what}, not a column of the pool's CSV"
                f"{did_you_mean(column, headers)}; its columns are {', '.join(headers)}",
                path=path,
            )


def read_pool(
    flow: Flow, pool: PoolSpec, settings: BatchSettings
) -> list[tuple[str, dict[str, str]]]:
    """One pool's entries; every problem names the file, and the line where there is one."""
    path = _checked(pool, settings)
    info = inspect_csv(path, settings)
    _columns(flow, pool, info.headers, path)
    entries: list[tuple[str, dict[str, str]]] = []
    seen: dict[str, int] = {}
    for record in iter_records(info, settings):
        if record.problem or record.data is None:
            raise FileProcessingError(
                f"pool {pool.name!r}: {record.problem}", path=path, line=record.line
            )
        key = record.data[pool.key]
        if not key.strip():
            raise FileProcessingError(
                f"pool {pool.name!r}: an entry without a {pool.key!r}", path=path, line=record.line
            )
        if key in seen:
            raise FileProcessingError(
                f"pool {pool.name!r}: {pool.key} {key!r} again (first on line {seen[key]}): "
                "each entry needs its own key",
                path=path,
                line=record.line,
            )
        seen[key] = record.line
        entries.append((key, record.data))
    if not entries:
        raise FileProcessingError(
            f"pool {pool.name!r} has no entries: no row could ever run", path=path
        )
    return entries


def read_pools(flow: Flow, settings: BatchSettings) -> PoolRows:
    """Every pool of ``flow``, read and checked."""
    return {pool.name: read_pool(flow, pool, settings) for pool in flow.pools}
