"""Where the store lives: paths and URLs, the password never shown, the setting, and
claims from separate connections (processes, machines) on both backends."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy

from batch.exceptions import StoreError
from batch.models import JobStatus
from batch.settings import BatchSettings, load_settings
from batch.store import ManifestStore, StoreUrl

from .test_store import jobs, manifest

SECRET = "s3cr3t-Pa55"


@pytest.mark.parametrize(
    ("target", "backend", "shown"),
    [
        (Path("/data/b.db"), "sqlite", "/data/b.db"),
        ("/data/b.db", "sqlite", "/data/b.db"),
        ("sqlite:////data/b.db", "sqlite", "/data/b.db"),
        (
            "postgresql://bw@db.internal:5432/batches",
            "postgresql",
            "postgresql://bw@db.internal:5432/batches",
        ),
        ("postgres://bw@db.internal/batches", "postgresql", "postgresql://bw@db.internal/batches"),
        ("postgresql+psycopg://bw@h/b", "postgresql", "postgresql://bw@h/b"),
    ],
)
def test_paths_and_urls_name_a_backend(target: str | Path, backend: str, shown: str) -> None:
    url = StoreUrl.parse(target)
    assert (url.backend, str(url)) == (backend, shown)
    assert url.path == (Path("/data/b.db") if backend == "sqlite" else None)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("mysql://bw@h/b", "unknown kind 'mysql'"),
        ("postgresql+psycopg2://bw@h/b", "unknown kind 'postgresql\\+psycopg2'"),
        ("sqlite://", "names no file"),
        ("postgresql://bw@h", "names no database"),
    ],
)
def test_a_bad_store_url_is_a_clear_error(target: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        StoreUrl.parse(target)


def test_the_password_is_never_shown() -> None:
    url = StoreUrl.parse(f"postgresql://bw:{SECRET}@127.0.0.1:1/batches")
    assert SECRET not in str(url)
    assert SECRET not in repr(url)
    assert "bw:***@" in repr(url)
    assert url.connect_url().password == SECRET
    with pytest.raises(StoreError) as refused:  # nothing listens on port 1
        ManifestStore(url)
    assert "cannot reach the manifest store postgresql://bw:***@127.0.0.1:1/batches" in str(
        refused.value
    )
    assert SECRET not in str(refused.value)
    with pytest.raises(StoreError) as bad:
        StoreUrl.parse(f"mysql://bw:{SECRET}@h/b")
    assert SECRET not in str(bad.value)
    settings = load_settings({"store_url": f"postgresql://bw:{SECRET}@h/b"}, read_env=False)
    assert SECRET not in repr(settings)


def test_a_store_opened_with_a_password_hides_it(pg_url: str) -> None:
    with_password = pg_url.replace("postgres@", f"postgres:{SECRET}@")  # trust ignores it
    with ManifestStore(with_password) as opened:
        opened.create_batch(manifest("b1"), jobs("b1", 1))
        assert SECRET not in repr(opened)
        assert SECRET not in str(opened.url)
        with pytest.raises(StoreError) as missing:
            opened.get_manifest("nope")
        assert SECRET not in str(missing.value)
        assert "postgres:***@" in str(missing.value)


def test_settings_choose_the_store(
    settings: BatchSettings, pg_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with ManifestStore.for_settings(settings) as default:
        assert default.path == settings.artifacts_dir / "batchwright.db"
    other = tmp_path / "elsewhere.db"
    with ManifestStore.for_settings(settings.with_overrides(store_url=f"sqlite:///{other}")) as s:
        assert s.path == other
    monkeypatch.setenv("BATCH_STORE_URL", pg_url)
    from_env = load_settings({"artifacts_dir": tmp_path / "artifacts"})
    with ManifestStore.for_settings(from_env) as shared:
        assert shared.url.backend == "postgresql"
        assert shared.path is None
        shared.create_batch(manifest("b1"), jobs("b1", 2))
    with ManifestStore(pg_url) as again:  # another machine pointed at the same database
        assert again.get_manifest("b1").total == 2


def test_claims_from_separate_connections_win_each_job_once(
    store: ManifestStore, store_url: StoreUrl
) -> None:
    """Each thread has a store (a connection) of its own, as processes or machines do:
    the database, not a lock in this process, decides who wins."""
    store.create_batch(manifest("b1"), jobs("b1", 120))
    ids = store.job_ids("b1")
    stores = [ManifestStore(store_url) for _ in range(4)]
    start = threading.Barrier(4)
    won: list[list[str]] = [[] for _ in range(4)]

    def worker(n: int) -> None:
        start.wait()
        won[n].extend(i for i in ids if stores[n].claim_job(i, f"w{n}", 60) is not None)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for opened in stores:
        opened.close()
    claimed = sorted(i for mine in won for i in mine)
    assert claimed == ids
    assert store.count_by_status("b1") == {JobStatus.RUNNING: 120}


def test_a_lost_postgresql_connection_fails_one_call_then_reconnects(pg_url: str) -> None:
    with ManifestStore(pg_url) as opened:
        opened.create_batch(manifest("b1"), jobs("b1", 2))
        killer = sqlalchemy.create_engine(StoreUrl.parse(pg_url).connect_url())
        with killer.connect() as conn:  # as a server restart would
            ended = conn.execute(
                sqlalchemy.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = 'batchwright'"
                )
            ).fetchall()
        killer.dispose()
        assert ended
        with pytest.raises(StoreError, match=r"manifest store postgresql://postgres@127\.0\.0\.1"):
            opened.get_manifest("b1")
        assert opened.get_manifest("b1").total == 2
