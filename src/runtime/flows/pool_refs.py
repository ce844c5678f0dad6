"""How steps refer to a flow's pools: ``pool_error:`` modifiers and ``{{ pool.x.col }}``
templates, checked against the declared pools when the flow loads."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from jinja2 import TemplateSyntaxError

from runtime.flows.actions import did_you_mean
from runtime.flows.pools import PoolSpec
from runtime.flows.templating import template_pool_columns

__all__ = [
    "ALL_POOLS",
    "pool_columns",
    "pool_error_names",
    "pool_error_problems",
    "reference_problems",
]

ALL_POOLS = "*"
"""``pool_error: true``: every pool of the flow."""


class _Step(Protocol):
    @property
    def where(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def args(self) -> Mapping[str, Any]: ...
    @property
    def pool_error(self) -> tuple[str, ...]: ...


def pool_error_problems(value: Any) -> list[str]:
    """What is wrong with a step's ``pool_error:`` (true, a pool name or a list of them)."""
    if value is None or isinstance(value, bool) or (isinstance(value, str) and value):
        return []
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return []
    return [f"'pool_error' must be true, a pool's name or a list of them, got {value!r}"]


def pool_error_names(value: Any) -> tuple[str, ...]:
    """The pools a ``pool_error:`` names (``*``: all of them); () when absent or invalid."""
    if value is True:
        return (ALL_POOLS,)
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return ()


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def pool_columns(step: _Step) -> set[tuple[str, str | None]]:
    """``(pool, column)`` pairs a step's templates read (column None: not a constant)."""
    found: set[tuple[str, str | None]] = set()
    for value in step.args.values():
        for text in _strings(value):
            try:
                found |= template_pool_columns(text)
            except TemplateSyntaxError:
                continue  # reported by the template check
    return found


def reference_problems(
    steps: Sequence[_Step], pools: Sequence[PoolSpec], declared: bool
) -> list[str]:
    """Steps naming pools the flow does not declare (in ``pool_error`` or templates)."""
    names = [pool.name for pool in pools]
    problems = []
    for step in steps:
        used = {name for name, _ in pool_columns(step)} | set(step.pool_error) - {ALL_POOLS}
        for name in sorted(used - set(names)):
            hint = did_you_mean(name, names) if names else "; declare it under 'pools:'"
            if declared and not names:
                continue  # the pools section itself is wrong: reported there
            problems.append(f"{step.where} {step.label}: no pool {name!r}{hint}")
    return problems
