"""The store's schema version and its migrations (Alembic, ``batch/store/migrations/``).

Opening a store brings its schema to ``HEAD_REVISION`` in one transaction: a new
database gets the tables, an older one is upgraded in place, and one written by a
newer batchwright is refused instead of being misread. A SQLite file from before
migrations (``PRAGMA user_version = 1``, no ``alembic_version`` table) holds the
initial revision's tables and is stamped with it. On SQLite ``user_version`` keeps
following the schema (``SCHEMA_VERSION``) so that older batchwrights refuse newer files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text

from batch.exceptions import StoreError
from batch.store._engine import Database
from batch.store._url import StoreUrl

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD_REVISION", "MIGRATIONS", "SCHEMA_VERSION", "ensure_schema"]

SCHEMA_VERSION = 9
"""SQLite's ``PRAGMA user_version`` at ``HEAD_REVISION``; raised with each new revision."""
HEAD_REVISION = "0009"
"""The newest revision in ``migrations/versions`` (a test checks they agree)."""
MIGRATIONS = Path(__file__).with_name("migrations")
_INITIAL_REVISION = "0001"
_LEGACY_VERSION = 1
"""``user_version`` of SQLite files written before migrations: the initial revision."""
_LOCK_KEY = 0x6277_5F73  # PostgreSQL advisory lock: one migrating process at a time


def ensure_schema(database: Database) -> None:
    """Create or upgrade the schema to ``HEAD_REVISION``; refuse a newer one.

    A store already at the head costs one read; Alembic is imported only to migrate."""
    url = database.url
    with database.transaction(write=False) as conn:
        if url.backend == "sqlite":
            _refuse_newer_file(conn, url)
        if _revision(conn) == HEAD_REVISION:
            return
    # The write transaction (SQLite's write lock, PostgreSQL's advisory lock) makes
    # two processes opening a new store at once migrate it once.
    from alembic import command  # noqa: PLC0415 - see the docstring

    with database.transaction() as conn:
        if url.backend == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        revision = _revision(conn)
        config = _config(conn)
        if revision is None:
            _adopt(conn, url, config)
        elif revision != HEAD_REVISION:
            _require_known(revision, url, config)
        command.upgrade(config, "head")
        if url.backend == "sqlite":
            conn.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    row = conn.execute(text("SELECT version_num FROM alembic_version")).fetchone()
    return None if row is None else str(row[0])


def _config(conn: Connection) -> Config:
    from alembic.config import Config  # noqa: PLC0415 - only when migrating

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def _adopt(conn: Connection, url: StoreUrl, config: Config) -> None:
    """A store without ``alembic_version``: new, or a SQLite file from before migrations."""
    from alembic import command  # noqa: PLC0415 - only when migrating

    if url.backend == "sqlite":
        (version,) = conn.exec_driver_sql("PRAGMA user_version").one()
        if version == _LEGACY_VERSION:
            command.stamp(config, _INITIAL_REVISION)
        elif version != 0:
            raise _newer(url, version)
    elif inspect(conn).has_table("batches"):
        raise StoreError(
            f"the database {url} has a batches table but no alembic_version: it is not a "
            "batchwright store (point store_url at an empty database)"
        )


def _refuse_newer_file(conn: Connection, url: StoreUrl) -> None:
    """A SQLite file whose ``user_version`` is past ours comes from a newer batchwright."""
    (version,) = conn.exec_driver_sql("PRAGMA user_version").one()
    if version > SCHEMA_VERSION:
        raise _newer(url, version)


def _newer(url: StoreUrl, version: int) -> StoreError:
    return StoreError(
        f"the manifest store {url} has schema version {version}, this batchwright "
        f"reads version {SCHEMA_VERSION} (use the batchwright that created it, "
        "or point artifacts_dir elsewhere)"
    )


def _require_known(revision: str, url: StoreUrl, config: Config) -> None:
    from alembic.script import ScriptDirectory  # noqa: PLC0415 - only when migrating
    from alembic.util import CommandError  # noqa: PLC0415

    try:
        ScriptDirectory.from_config(config).get_revision(revision)
    except CommandError:
        raise StoreError(
            f"the manifest store {url} has schema revision {revision!r}, written by a newer "
            f"batchwright; this one reads up to revision {HEAD_REVISION!r} (schema version "
            f"{SCHEMA_VERSION}): upgrade batchwright, or point store_url elsewhere"
        ) from None
