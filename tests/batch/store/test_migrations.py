"""The store's schema under migrations: a file from before them upgraded in place,
a newer database refused, concurrent first opens, the same schema on both backends."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy
from alembic.config import Config
from alembic.script import ScriptDirectory

from batch.exceptions import StoreError
from batch.models import JobStatus
from batch.store import ManifestStore, StoreUrl
from batch.store._schema import HEAD_REVISION, MIGRATIONS, SCHEMA_VERSION

from .test_store import attempt, jobs, manifest

SCHEMA_V1 = Path(__file__).with_name("schema_v1.sql")


def write_v1_store(path: Path) -> None:
    """A store as batchwright wrote it before migrations: its DDL and its own INSERTs."""
    conn = sqlite3.connect(path)
    try:
        conn.executescript(SCHEMA_V1.read_text(encoding="utf-8"))
        conn.execute(
            "INSERT INTO batches (batch_id, run_id, csv_path, csv_sha256, encoding, dialect,"
            " headers, flow_ref, flow_name, created_at, status, settings) VALUES"
            " ('old', 'run-0', '/data/c.csv', 'ab', 'utf-8', '{\"delimiter\":\";\"}',"
            " '[\"name\"]', 'f.yaml', 'signup', '2026-01-01T00:00:00.000000+00:00', 'finished',"
            " '{\"secrets\":[]}')"
        )
        for index, status in enumerate(["completed", "failed", "pending"]):
            conn.execute(
                "INSERT INTO jobs (job_id, batch_id, row_index, source_line, row_data, row_key,"
                " status, error_message, created_at) VALUES (?, 'old', ?, ?, ?, ?, ?, '', ?)",
                (
                    f"old-{index}",
                    index,
                    index + 2,
                    f'{{"name":"Zoë {index}"}}',
                    f"key-{index}",
                    status,
                    "2026-01-01T00:00:00.000000+00:00",
                ),
            )
        conn.execute(
            "INSERT INTO attempts (job_id, number, started_at, duration_s, ok, category, message,"
            " artifacts) VALUES ('old-1', 1, '2026-01-01T00:00:01.000000+00:00', 0.5, 0,"
            " 'business', 'rejected', '[]')"
        )
        conn.commit()
    finally:
        conn.close()


def schema_of(path: Path) -> dict[str, object]:
    """Tables with their columns, and the index names, as SQLite describes them."""
    conn = sqlite3.connect(path)
    try:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'alembic_version'"
                " ORDER BY name"
            )
        ]
        shape: dict[str, object] = {
            table: [row[1:] for row in conn.execute(f"PRAGMA table_info({table})")]
            for table in tables
        }
        shape["indexes"] = sorted(
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
        )
        return shape
    finally:
        conn.close()


def test_a_file_from_before_migrations_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "batchwright.db"
    write_v1_store(path)
    with ManifestStore(path) as store:
        old = store.get_manifest("old")
        assert (old.flow_name, old.dialect.delimiter, old.headers) == ("signup", ";", ["name"])
        assert old.counts == {JobStatus.COMPLETED: 1, JobStatus.FAILED: 1, JobStatus.PENDING: 1}
        failed = store.get_job("old-1")
        assert failed.row_data == {"name": "Zoë 1"}
        assert [(a.number, a.message, a.host) for a in failed.attempts] == [(1, "rejected", "")]
        token = store.claim_job("old-2", "w", 60)  # still usable: moves, new batches
        assert token is not None
        ran = attempt(1, ok=True).model_copy(update={"host": "worker-7:4242"})
        store.finish_job("old-2", token, ran, JobStatus.COMPLETED)
        assert [a.host for a in store.get_job("old-2").attempts] == ["worker-7:4242"]
        store.create_batch(manifest("new"), jobs("new", 3))
        assert store.find_completed_keys("signup", ["key-0", "key-2"]) == {
            "key-0": "old",
            "key-2": "old",
        }
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (HEAD_REVISION,)
        ]
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    finally:
        conn.close()
    ManifestStore(path).close()  # a second open finds it current


def test_a_file_upgraded_from_before_migrations_has_the_schema_of_a_new_file(
    tmp_path: Path,
) -> None:
    write_v1_store(tmp_path / "old.db")
    ManifestStore(tmp_path / "old.db").close()
    ManifestStore(tmp_path / "new.db").close()
    assert schema_of(tmp_path / "new.db") == schema_of(tmp_path / "old.db")


def test_the_head_revision_is_the_newest_migration() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD_REVISION]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_store_from_a_newer_batchwright_is_refused(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    target = (
        StoreUrl.parse(tmp_path / "store.db")
        if backend == "sqlite"
        else StoreUrl.parse(request.getfixturevalue("pg_url"))
    )
    with ManifestStore(target) as store:
        store.create_batch(manifest("b1"), jobs("b1", 2))
    engine = sqlalchemy.create_engine(target.connect_url())
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("UPDATE alembic_version SET version_num = '0999'"))
    engine.dispose()
    with pytest.raises(StoreError, match=r"revision '0999', written by a newer batchwright"):
        ManifestStore(target)


def test_a_postgresql_database_with_foreign_tables_is_refused(pg_url: str) -> None:
    engine = sqlalchemy.create_engine(StoreUrl.parse(pg_url).connect_url())
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("CREATE TABLE batches (id integer)"))
    engine.dispose()
    with pytest.raises(StoreError, match="not a batchwright store"):
        ManifestStore(pg_url)


def _open_at_once(target: str | Path, openers: int = 4) -> list[BaseException]:
    """``openers`` threads open the store at the same moment; what they raised."""
    start = threading.Barrier(openers)
    errors: list[BaseException] = []

    def open_it() -> None:
        start.wait()
        try:
            ManifestStore(target).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(openers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_processes_opening_a_new_store_at_once_create_it_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    target = tmp_path / "store.db" if backend == "sqlite" else request.getfixturevalue("pg_url")
    assert _open_at_once(target) == []
    with ManifestStore(target) as store:
        store.create_batch(manifest("b1"), jobs("b1", 1))
        assert store.get_manifest("b1").total == 1


def test_new_sqlite_files_opened_at_once_never_answer_locked(tmp_path: Path) -> None:
    """Switching a new file to WAL answers "database is locked" at once, past the busy
    timeout, when two openers race (about 1 race in 10 before it was waited for)."""
    for round_ in range(40):
        errors = _open_at_once(tmp_path / f"store-{round_}.db")
        assert errors == [], f"round {round_}: {errors}"
