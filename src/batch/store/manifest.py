"""``ManifestStore``: the durable record of every batch, job and attempt.

It lives in a SQLite file (the default) or a PostgreSQL database shared by several
machines (``store_url``); the SQL, the checks and the semantics are the same. Every
status change is one ``UPDATE ... WHERE status IN (allowed sources)``, so two
engines (or threads) can never both move a job, and a writer holding a stale
attempt token is refused. Counts are derived from the jobs on every read. The
schema and the state machine are described in docs/store.md.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from batch.exceptions import BatchNotFoundError, StoreError
from batch.models import (
    AttemptRecord,
    BatchJob,
    BatchManifest,
    BatchStatus,
    JobStatus,
    NewJob,
)
from batch.settings import BatchSettings
from batch.store import _batches as sql
from batch.store import _codec as codec
from batch.store import _jobs as moves
from batch.store import _reads as reads
from batch.store._browse import BrowseReads
from batch.store._dialect import statement
from batch.store._engine import Database
from batch.store._events import EventReads
from batch.store._groups import GroupRecords
from batch.store._ingest import insert_jobs
from batch.store._jobs import REQUEUABLE
from batch.store._keys import BatchKeys
from batch.store._pools import PoolLeases, insert_pool_entries
from batch.store._schema import ensure_schema
from batch.store._url import StoreUrl
from runtime.outcome import ErrorCategory

__all__ = ["DB_FILENAME", "REQUEUABLE", "ManifestStore", "default_store_path"]

DB_FILENAME = "batchwright.db"


def default_store_path(artifacts_dir: Path) -> Path:
    """Where the store lives by default: ``<artifacts_dir>/batchwright.db``."""
    return artifacts_dir / DB_FILENAME


def _now() -> datetime:
    return datetime.now(UTC)


class ManifestStore(BrowseReads, PoolLeases, EventReads, GroupRecords):
    """The manifest store on a SQLite file or a PostgreSQL database. Thread-safe: one
    transaction at a time per store, under a lock.

    Several processes (and, on PostgreSQL, machines) may open the same store at once:
    one executes a batch while another runs ``status`` or ``cancel``.
    """

    def __init__(self, target: Path | str | StoreUrl) -> None:
        """``target``: a SQLite file's path, or a URL (``sqlite:///...``, ``postgresql://...``)."""
        self.url = StoreUrl.parse(target)
        self.path = self.url.path
        """The SQLite file, or None on PostgreSQL."""
        self._lock = threading.RLock()
        self._db = Database(self.url)
        try:
            ensure_schema(self._db)
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def for_settings(cls, settings: BatchSettings) -> ManifestStore:
        """``settings.store_url``, else ``<artifacts_dir>/batchwright.db``."""
        return cls(settings.store_url or default_store_path(settings.artifacts_dir))

    def __repr__(self) -> str:
        return f"ManifestStore({str(self.url)!r})"

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- transactions --------------------------------------------------------------

    @contextmanager
    def _tx(self, *, write: bool = True) -> Iterator[Connection]:
        """One transaction: a write takes SQLite's write lock up front (no upgrade
        deadlock); a read sees one snapshot. Rolled back on any exception."""
        with self._lock, self._db.transaction(write=write) as conn:
            yield conn

    def transaction(self, *, write: bool = True) -> AbstractContextManager[Connection]:
        """A transaction of this store for the modules keeping other tables (schedules,
        retention): the same lock and the same begin as the store's own."""
        return self._tx(write=write)

    def _missing(self, batch_id: str) -> BatchNotFoundError:
        return BatchNotFoundError(
            f"no batch {batch_id!r} in the manifest store {self.url} "
            "(run `batchwright list` to see the batches it holds)"
        )

    def _require_batch(self, conn: Connection, batch_id: str) -> None:
        found = conn.execute(
            text("SELECT 1 FROM batches WHERE batch_id = :batch_id"), {"batch_id": batch_id}
        ).fetchone()
        if found is None:
            raise self._missing(batch_id)

    # --- batches -------------------------------------------------------------------

    def create_batch(
        self,
        manifest: BatchManifest,
        jobs: Iterable[NewJob],
        chunk_size: int = 1000,
        *,
        settle: Callable[[BatchKeys], None] | None = None,
        pools: Mapping[str, Sequence[tuple[str, dict[str, str]]]] | None = None,
    ) -> int:
        """Insert the batch and its jobs in one transaction, streaming ``jobs`` in chunks.

        ``settle`` applies the key policies in the same transaction: if it raises (a
        batch refused for duplicate keys), or the iterable does (a bad CSV row), nothing
        is left behind, and no other connection ever saw the batch. ``pools``: the
        entries (key, row) of each of the flow's pools, stored with the batch.
        """
        created_at = codec.to_iso(manifest.created_at)

        def chunks() -> Iterator[list[tuple[Any, ...]]]:
            iterator = iter(jobs)
            while chunk := list(islice(iterator, chunk_size)):
                for job in chunk:
                    if job.batch_id != manifest.batch_id:
                        raise StoreError(
                            f"job {job.job_id!r} belongs to batch {job.batch_id!r}, "
                            f"not {manifest.batch_id!r}"
                        )
                yield [codec.new_job_params(job, created_at) for job in chunk]

        with self._tx() as conn:
            try:
                conn.execute(codec.INSERT_BATCH, codec.manifest_params(manifest))
            except IntegrityError:
                raise StoreError(
                    f"batch {manifest.batch_id!r} already exists in {self.url}"
                ) from None
            inserted = insert_jobs(conn, chunks())
            insert_pool_entries(conn, manifest.batch_id, pools or {})
            if settle is not None:
                settle(BatchKeys(conn, manifest.batch_id))
            return inserted

    def get_manifest(self, batch_id: str) -> BatchManifest:
        with self._tx(write=False) as conn:
            found = reads.manifest(conn, batch_id)
        if found is None:
            raise self._missing(batch_id)
        return found

    def list_batches(self, limit: int | None = None) -> list[BatchManifest]:
        """Newest first, with their counts."""
        with self._tx(write=False) as conn:
            return reads.manifests(conn, limit)

    def count_by_status(self, batch_id: str) -> dict[JobStatus, int]:
        with self._tx(write=False) as conn:
            self._require_batch(conn, batch_id)
            return reads.counts(conn, batch_id)

    def has_jobs_in(self, batch_id: str, statuses: Collection[JobStatus]) -> bool:
        """Whether any job of the batch is in one of ``statuses`` (cheap at any size)."""
        with self._tx(write=False) as conn:
            return reads.any_job_in(conn, batch_id, statuses)

    def set_batch_status(self, batch_id: str, status: BatchStatus) -> None:
        with self._tx() as conn:
            self._require_batch(conn, batch_id)
            conn.execute(sql.SET_STATUS, {"status": status.value, "batch_id": batch_id})

    def request_cancel(self, batch_id: str) -> None:
        """Ask the engine running ``batch_id`` (maybe in another process) to stop."""
        self._set_cancel(batch_id, True)

    def clear_cancel(self, batch_id: str) -> None:
        self._set_cancel(batch_id, False)

    def _set_cancel(self, batch_id: str, flag: bool) -> None:
        with self._tx() as conn:
            self._require_batch(conn, batch_id)
            conn.execute(sql.SET_CANCEL, {"flag": int(flag), "batch_id": batch_id})

    def cancel_requested(self, batch_id: str) -> bool:
        """Polled by the running engine: one indexed read."""
        with self._tx(write=False) as conn:
            row = conn.execute(sql.CANCEL_REQUESTED, {"batch_id": batch_id}).fetchone()
        if row is None:
            raise self._missing(batch_id)
        return bool(row[0])

    def acquire_batch(
        self, batch_id: str, owner: str, lease_s: float, now: datetime | None = None
    ) -> bool:
        """Become the engine running ``batch_id`` unless another owner's lease is live.

        Renewed by ``renew_lease`` and given up by ``release_owner`` with its jobs.
        """
        moment = now or _now()
        with self._tx() as conn:
            self._require_batch(conn, batch_id)
            cursor = conn.execute(
                sql.ACQUIRE,
                {
                    "owner": owner,
                    "expires": codec.to_iso(moment + timedelta(seconds=lease_s)),
                    "batch_id": batch_id,
                    "now": codec.to_iso(moment),
                },
            )
            return cursor.rowcount == 1

    def running_owners(self, batch_id: str) -> set[str]:
        """The owners holding leases on the batch's running jobs (live or not)."""
        with self._tx(write=False) as conn:
            rows = conn.execute(sql.RUNNING_OWNERS, {"batch_id": batch_id}).fetchall()
        return {str(row[0]) for row in rows}

    def batch_owner(self, batch_id: str, now: datetime | None = None) -> str | None:
        """The owner whose lease on ``batch_id`` is live (for ``status``), else None."""
        with self._tx(write=False) as conn:
            self._require_batch(conn, batch_id)
            moment = codec.to_iso(now or _now())
            row = conn.execute(sql.LIVE_OWNER, {"batch_id": batch_id, "now": moment}).fetchone()
        return None if row is None else str(row[0])

    def export_manifest_json(self, batch_id: str, path: Path) -> Path:
        """Write the manifest (with counts) as JSON, atomically: readers never see half."""
        text = self.get_manifest(batch_id).model_dump_json(indent=2)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return path

    # --- reading jobs --------------------------------------------------------------

    def get_job(self, job_id: str) -> BatchJob:
        with self._tx(write=False) as conn:
            found = reads.job(conn, job_id)
        if found is None:
            raise StoreError(f"no job {job_id!r} in the manifest store {self.url}")
        return found

    def iter_jobs(
        self,
        batch_id: str,
        statuses: Collection[JobStatus] | None = None,
        chunk_size: int = 1000,
        after: int = -1,
    ) -> Iterator[BatchJob]:
        """Jobs in row order with their attempts, read ``chunk_size`` at a time, from the
        first row past row index ``after`` (a keyset cursor for paged views).

        Each chunk is its own short read, so no transaction or lock stays open while
        the caller works (jobs changing meanwhile are seen in their newer state).
        """
        with self._tx(write=False) as conn:
            self._require_batch(conn, batch_id)
        while True:
            with self._tx(write=False) as conn:
                page = reads.jobs_page(conn, batch_id, statuses, after=after, size=chunk_size)
            if not page:
                return
            yield from page
            after = page[-1].row_index

    def job_ids(self, batch_id: str, statuses: Collection[JobStatus] | None = None) -> list[str]:
        """Ids in row order: cheap enough to hold for a million jobs."""
        with self._tx(write=False) as conn:
            self._require_batch(conn, batch_id)
            return reads.job_ids(conn, batch_id, statuses)

    def iter_job_ids(
        self, batch_id: str, statuses: Collection[JobStatus] | None = None, page: int = 1000
    ) -> Iterator[str]:
        """Ids in row order, a page per short query: flat memory for any batch size.

        Jobs that change status while the caller iterates are seen as they are when
        their page is read (the executor claims them one by one anyway)."""
        after = -1
        while rows := self._read_page(batch_id, statuses, after, page):
            yield from (job_id for job_id, _ in rows)
            after = rows[-1][1]

    def _read_page(
        self, batch_id: str, statuses: Collection[JobStatus] | None, after: int, page: int
    ) -> list[tuple[str, int]]:
        with self._tx(write=False) as conn:
            self._require_batch(conn, batch_id)
            return reads.job_ids_after(conn, batch_id, statuses, after, page)

    def find_completed_keys(self, flow_name: str, keys: Collection[str]) -> dict[str, str]:
        """row_key -> batch_id of an earlier completed job of the same flow (skip-completed)."""
        with self._tx(write=False) as conn:
            return reads.completed_keys(conn, flow_name, keys)

    def record_run_settings(self, batch_id: str, values: Mapping[str, object]) -> None:
        """Merge ``values`` into the batch's recorded settings (e.g. the concurrency used)."""
        with self._tx() as conn:
            self._require_batch(conn, batch_id)
            conn.execute(
                statement(conn, sql.merge_settings_sql),
                {"values": json.dumps(dict(values), ensure_ascii=False), "batch_id": batch_id},
            )

    # --- moving jobs (their SQL is in _store_jobs) -------------------------------------

    def claim_job(self, job_id: str, owner: str, lease_s: float) -> str | None:
        """pending -> running for ``owner``; the returned token must accompany its result.

        None when the job was not pending (another worker claimed it, or it was cancelled).
        """
        with self._tx() as conn:
            return moves.claim(conn, job_id, owner=owner, lease_s=lease_s, now=_now())

    def transition(
        self,
        job_id: str,
        to: JobStatus,
        *,
        expected: Collection[JobStatus] | None = None,
        token: str | None = None,
        error_category: ErrorCategory | None = None,
        error_message: str | None = None,
        extracted: Mapping[str, str] | None = None,
    ) -> None:
        """Move a job if ALLOWED_TRANSITIONS (and ``expected``, ``token``) allow it."""
        with self._tx() as conn:
            moves.transition(
                conn,
                job_id,
                to,
                now=_now(),
                expected=expected,
                token=token,
                error_category=error_category,
                error_message=error_message,
                extracted=extracted,
            )

    def record_attempt(self, job_id: str, attempt: AttemptRecord, token: str | None = None) -> None:
        """Record one attempt; with ``token``, only if that attempt still owns the job."""
        with self._tx() as conn:
            moves.record_attempt(conn, job_id, attempt, token=token)

    def finish_job(  # noqa: PLR0917 - the engine passes an outcome's fields in this order
        self,
        job_id: str,
        token: str,
        attempt: AttemptRecord,
        status: JobStatus,
        error_category: ErrorCategory | None = None,
        error_message: str = "",
        extracted: Mapping[str, str] | None = None,
    ) -> None:
        """The final attempt and the status change in one transaction: both or neither."""
        with self._tx() as conn:
            moves.record_attempt(conn, job_id, attempt, token=token)
            moves.transition(
                conn,
                job_id,
                status,
                now=_now(),
                token=token,
                error_category=error_category,
                error_message=error_message,
                extracted=extracted,
            )

    def mark_reached_commit(self, job_id: str, token: str) -> None:
        """Durably note (committed on return) that this run passed its point of no return."""
        with self._tx() as conn:
            moves.mark_reached_commit(conn, job_id, token)

    # --- leases, requeue, cancel ---------------------------------------------------

    def renew_lease(self, owner: str, lease_s: float) -> int:
        """Extend the leases of everything ``owner`` runs; returns the jobs renewed."""
        expires = codec.to_iso(_now() + timedelta(seconds=lease_s))
        with self._tx() as conn:
            params = {"expires": expires, "owner": owner}
            conn.execute(sql.RENEW, params)
            return conn.execute(sql.RENEW_JOBS, params).rowcount

    def requeue_stale(self, batch_id: str, now: datetime | None = None) -> tuple[int, int]:
        """Running jobs whose lease expired: (back to pending, held as needs_review)."""
        with self._tx() as conn:
            self._require_batch(conn, batch_id)
            return moves.interrupt_expired(conn, batch_id, now or _now())

    def release_owner(self, owner: str) -> tuple[int, int]:
        """All a finished or dead owner held, released like ``requeue_stale``."""
        with self._tx() as conn:
            conn.execute(sql.RELEASE, {"owner": owner})
            return moves.interrupt_owned(conn, owner, _now())

    def requeue(
        self,
        batch_id: str,
        statuses: Collection[JobStatus],
        job_ids: Collection[str] | None = None,
        categories: Collection[ErrorCategory] | None = None,
    ) -> int:
        """failed / cancelled / needs_review -> pending (retry, resume); returns how many."""
        with self._tx() as conn:
            self._require_batch(conn, batch_id)
            return moves.requeue(conn, batch_id, statuses, job_ids=job_ids, categories=categories)

    def cancel_pending(self, batch_id: str) -> int:
        """pending -> cancelled for the whole batch; returns how many."""
        with self._tx() as conn:
            self._require_batch(conn, batch_id)
            return moves.cancel_pending(conn, batch_id, _now())
