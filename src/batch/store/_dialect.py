"""The few pieces of SQL that SQLite and PostgreSQL spell differently.

Every other statement of the store is the same text on both backends. Statements
are built once per backend and cached (``statement``), so a query pays nothing for
being portable.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable

from sqlalchemy import Connection, TextClause, text

__all__ = ["each", "json_list", "merge_json", "statement"]


def json_list(items: Iterable[str]) -> str:
    """A JSON array for ``IN {each(...)}``: one parameter, any length."""
    return json.dumps(sorted(items), ensure_ascii=False)


def each(backend: str, param: str) -> str:
    """A subquery of the strings in the JSON array parameter ``param``."""
    if backend == "sqlite":
        return f"(SELECT value FROM json_each(:{param}))"
    return f"(SELECT json_array_elements_text(CAST(:{param} AS json)))"


def merge_json(backend: str, column: str, param: str) -> str:
    """``column`` (a JSON object as text) with the keys of JSON parameter ``param`` set."""
    if backend == "sqlite":
        return f"json_patch({column}, :{param})"
    return f"CAST(CAST({column} AS jsonb) || CAST(:{param} AS jsonb) AS text)"


@functools.cache
def _cached(build: Callable[[str], str], backend: str) -> TextClause:
    return text(build(backend))


def statement(conn: Connection, build: Callable[[str], str]) -> TextClause:
    """``build(backend)``'s SQL for ``conn``'s backend, built once per process."""
    return _cached(build, conn.dialect.name)
