"""Creating a batch: a checked CSV and a validated flow become a manifest and
one job per row in the store. Nothing runs yet.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from batch.distributed.flow_store import flow_record
from batch.exceptions import ConfigurationError, FileProcessingError
from batch.ingest.csv_reader import CsvInfo, CsvRecord, inspect_csv, iter_records
from batch.ingest.pools import read_pools
from batch.ingest.security import check_csv_file
from batch.models import BatchManifest, JobStatus, NewJob
from batch.settings import BatchSettings
from batch.store import BatchKeys, ManifestStore
from runtime.flows.model import Flow, check_columns

__all__ = ["create_batch", "new_batch_id", "row_key"]


def new_batch_id() -> str:
    """Sortable, unique, safe in file names: ``20261123-153000-1a2b3c``."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


_UNIT, _RECORD = "\x1f", "\x1e"  # ASCII unit/record separators: never typed in a CSV cell


def row_key(row: dict[str, str], key_columns: Sequence[str]) -> str:
    """The row's idempotency key: its key columns' values, or a hash of the whole row."""
    if key_columns:
        return _UNIT.join(row.get(c, "") for c in key_columns)
    content = _RECORD.join(f"{k}{_UNIT}{v}" for k, v in sorted(row.items()))
    return "sha256:" + hashlib.sha256(content.encode()).hexdigest()


def _jobs(
    batch_id: str, info: CsvInfo, records: Iterator[CsvRecord], flow: Flow
) -> Iterator[NewJob]:
    for record in records:
        data = record.data or {}
        key = row_key(data, flow.key)
        job_id = f"{batch_id}-{record.row_index:06d}"
        if record.problem:
            problem = f"{info.path.name} line {record.line}: {record.problem}"
            yield NewJob(
                job_id, batch_id, record.row_index, record.line, data, key,
                JobStatus.SKIPPED, problem,
            )  # fmt: skip
        else:
            yield NewJob(job_id, batch_id, record.row_index, record.line, data, key)


def _secret_columns(flow: Flow, settings: BatchSettings, headers: Sequence[str]) -> list[str]:
    """The flow's secret columns plus ``--secret`` ones, which must exist in the CSV."""
    missing = sorted(settings.secrets - set(headers))
    if missing:
        raise ConfigurationError(
            f"secret column(s) {', '.join(map(repr, missing))} not in the CSV; "
            f"its columns are {', '.join(headers)}"
        )
    return sorted(set(flow.secrets) | settings.secrets)


def _recorded_settings(
    settings: BatchSettings, secrets: list[str], flow: Flow
) -> dict[str, object]:
    """What a later resume, retry, report or worker must know about how the batch was
    made: the flow's hash lets every run (and every worker) refuse another flow, and a
    worker loads the flow from here (it has neither the CSV nor the flow file)."""
    recorded: dict[str, object] = {"secrets": secrets}
    if flow.content_hash:
        recorded["flow_hash"] = flow.content_hash
    with contextlib.suppress(OSError):  # a Flow built in code has no file to record
        recorded["flow"] = flow_record(flow)
    if settings.base_url:
        recorded["base_url"] = settings.base_url
    if flow.pools:  # the reports show each row's entries
        recorded["pools"] = [pool.name for pool in flow.pools]
    if settings.max_artifacts_mb:  # the batch's cap: a resume or retry keeps it
        recorded["max_artifacts_mb"] = settings.max_artifacts_mb
    return recorded


def _apply_key_policies(
    keys: BatchKeys, manifest: BatchManifest, flow: Flow, settings: BatchSettings
) -> None:
    """Duplicate keys fail the batch or are skipped; rows done by an earlier batch of
    the same flow are skipped with ``skip_completed``. Runs inside the transaction
    that inserts the batch, so a refusal rolls the whole batch back."""
    duplicates = keys.duplicates()
    if duplicates and settings.duplicate_rows == "fail":
        key = f"the same {', '.join(flow.key)}" if flow.key else "identical content"
        groups = "; ".join(" and ".join(map(str, lines)) for lines in duplicates[:5])
        raise FileProcessingError(
            f"rows with {key} would be entered twice: lines {groups}",
            path=manifest.csv_path,
            hint="remove the duplicates, or set BATCH_DUPLICATE_ROWS=skip to keep the "
            "first and skip the others",
        )
    if duplicates:
        keys.skip_duplicates()
    if settings.skip_completed:
        keys.skip_completed_elsewhere(flow.name)


def create_batch(
    csv_path: str | Path,
    flow: Flow,
    settings: BatchSettings,
    store: ManifestStore,
    *,
    run_id: str,
) -> BatchManifest:
    """Check the CSV, check the flow's columns, then write the manifest and its jobs."""
    path = check_csv_file(csv_path, settings)
    info = inspect_csv(path, settings)
    check_columns(flow, info.headers)
    secrets = _secret_columns(flow, settings, info.headers)
    pools = read_pools(flow, settings)
    now = datetime.now(UTC)
    batch_id = new_batch_id()
    manifest = BatchManifest(
        batch_id=batch_id,
        run_id=run_id,
        csv_path=str(path),
        csv_sha256=info.sha256,
        encoding=info.encoding,
        dialect=info.dialect,
        headers=list(info.headers),
        flow_ref=flow.source,
        flow_name=flow.name,
        created_at=now,
        settings=_recorded_settings(settings, secrets, flow),
    )
    store.create_batch(
        manifest,
        _jobs(batch_id, info, iter_records(info, settings), flow),
        chunk_size=settings.chunk_size,
        settle=lambda keys: _apply_key_policies(keys, manifest, flow, settings),
        pools=pools,
    )
    batch_dir = settings.artifacts_dir / batch_id
    store.export_manifest_json(batch_id, batch_dir / "manifest.json")
    return store.get_manifest(batch_id)
