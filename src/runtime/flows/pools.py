"""A flow's resource pools: ``pools: { account: { file: accounts.csv, key: username } }``.

Each pool is a CSV of entries (test accounts, licences, devices); every attempt of a
row leases one entry of each pool exclusively (the batch side does the leasing, in
the store). Here: the declaration, checked with every problem named by its line,
and the pool file resolved against the flow file's directory.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.flows.actions import did_you_mean

__all__ = ["POOL_FIELDS", "PoolSpec", "parse_duration", "parse_pools"]

POOL_FIELDS = ("file", "key", "secrets", "max_uses", "cooldown")
"""Every key a pool's declaration may have."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


@dataclass(frozen=True)
class PoolSpec:
    """One declared pool; ``path`` is the pool CSV resolved against the flow's directory."""

    name: str
    path: Path
    key: str
    secrets: tuple[str, ...] = ()
    max_uses: int = 0
    """Leases of one entry per batch (0: unlimited)."""
    cooldown_s: float = 0.0
    """Time an entry rests after a lease ends before it is leased again."""


def parse_duration(value: Any) -> float | None:
    """``2``, ``2.5``, ``"2s"``, ``"500ms"``, ``"1m"`` -> seconds; None when invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value >= 0 else None
    if isinstance(value, str) and (match := _DURATION.fullmatch(value)):
        return float(match.group(1)) * _UNIT_S[match.group(2)]
    return None


def _names(value: Any) -> tuple[str, ...] | None:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        return None
    return tuple(values)


def _pool(name: str, raw: Any, directory: Path, problems: list[str]) -> PoolSpec | None:
    """One pool's declaration; appends what is wrong with it (unprefixed) to ``problems``."""
    if not isinstance(raw, dict):
        problems.append("must be a mapping, e.g. `{ file: accounts.csv, key: username }`")
        return None
    found = [
        f"unknown key {key!r}{did_you_mean(str(key), POOL_FIELDS)}; allowed: "
        f"{', '.join(POOL_FIELDS)}"
        for key in raw
        if key not in POOL_FIELDS
    ]
    file, key = raw.get("file"), raw.get("key")
    if not isinstance(file, str) or not file.strip():
        found.append("'file' must be the path of a CSV (relative to the flow file)")
    if not isinstance(key, str) or not key:
        found.append("'key' must name the column that identifies an entry")
    secrets = _names(raw.get("secrets", []))
    if secrets is None:
        found.append("'secrets' must be a column name or a list of column names")
    elif key in secrets:
        found.append(
            f"the key column {key!r} cannot be a secret: reports name each row's entry by "
            "its key (key on a column that is not secret, e.g. a username)"
        )
    max_uses = raw.get("max_uses", 0)
    if isinstance(max_uses, bool) or not isinstance(max_uses, int) or max_uses < 0:
        found.append(f"'max_uses' must be a whole number (0: unlimited), got {max_uses!r}")
    cooldown = parse_duration(raw.get("cooldown", 0))
    if cooldown is None:
        found.append(f"'cooldown' must be a duration like 2s or 500ms, got {raw['cooldown']!r}")
    problems += found
    if found:
        return None
    return PoolSpec(
        name,
        (directory / str(file)).resolve(),
        str(key),
        secrets or (),
        int(max_uses),
        cooldown or 0.0,
    )


def parse_pools(
    data: Mapping[str, Any], lines: Mapping[str, Sequence[int]], directory: Path
) -> tuple[tuple[PoolSpec, ...], list[str]]:
    """The ``pools:`` section: its pools and every problem, each naming its pool and line."""
    raw = data.get("pools", {})
    if not isinstance(raw, dict):
        return (), ["'pools' must be a mapping of pool names to `{ file: ..., key: ... }`"]
    pools, problems = [], []
    for name, value in raw.items():
        line = lines.get(f"pools.{name}")
        where = f"pool {name!r}" + (f" (line {line[0]})" if line else "")
        found: list[str] = []
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            found.append("a pool's name must be a word (letters, digits, _): templates use it")
        pool = _pool(str(name), value, directory, found)
        problems += [f"{where}: {problem}" for problem in found]
        if pool is not None and not found:
            pools.append(pool)
    return tuple(pools), problems
