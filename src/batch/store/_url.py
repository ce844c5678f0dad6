"""Where a manifest store lives: a SQLite file or a PostgreSQL database, by URL.

The URL may carry a password; it is kept inside and never shown: ``str`` and
``repr`` render it as ``***``, and so does every error the store raises.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from batch.exceptions import StoreError

__all__ = ["Backend", "StoreUrl"]

Backend = Literal["sqlite", "postgresql"]

_POSTGRES_SCHEMES = {"postgresql", "postgres", "postgresql+psycopg"}
_EXAMPLES = "use sqlite:///path/to/batchwright.db or postgresql://user@host:5432/dbname"


class StoreUrl:
    """A parsed store location. ``backend`` is ``sqlite`` or ``postgresql``."""

    __slots__ = ("_url", "backend")

    def __init__(self, url: URL, backend: Backend) -> None:
        self._url = url
        self.backend: Backend = backend

    @classmethod
    def parse(cls, target: str | Path | StoreUrl) -> StoreUrl:
        """A ``Path`` (or a string without ``://``) is a SQLite file; else a URL."""
        if isinstance(target, StoreUrl):
            return target
        if isinstance(target, str) and "://" not in target:
            target = Path(target)
        if isinstance(target, Path):
            return cls(URL.create("sqlite", database=str(target)), "sqlite")
        try:
            url = make_url(target)
        except ArgumentError:
            raise StoreError(f"store_url is not a URL ({_EXAMPLES})") from None
        if url.drivername == "sqlite":
            if not url.database or url.database == ":memory:":
                raise StoreError(f"store_url {url!r} names no file: {_EXAMPLES}")
            return cls(url, "sqlite")
        if url.drivername in _POSTGRES_SCHEMES:
            if not url.database:
                raise StoreError(f"store_url {url!r} names no database: {_EXAMPLES}")
            return cls(url.set(drivername="postgresql+psycopg"), "postgresql")
        raise StoreError(f"store_url {url!r}: unknown kind {url.drivername!r} ({_EXAMPLES})")

    @property
    def path(self) -> Path | None:
        """The SQLite file, or None for PostgreSQL."""
        return Path(str(self._url.database)) if self.backend == "sqlite" else None

    def connect_url(self) -> URL:
        """The full URL, password included: for the driver only, never for messages."""
        return self._url

    def __str__(self) -> str:
        if self.backend == "sqlite":
            return str(self.path)
        return self._url.set(drivername="postgresql").render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"StoreUrl({str(self)!r})"
