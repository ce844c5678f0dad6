"""Jinja2 templates in flows: sandboxed, compiled once, row values kept as data.

A flow's own strings are templates (``"Saved {{ row.name }}"``); the values of a
CSV row are only ever *inserted*, never rendered, so a cell holding
``{{ 7*7 }}`` comes out literally. The flow's templates run in Jinja2's sandbox:
``{{ ''.__class__ }}`` raises ``jinja2.sandbox.SecurityError``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, meta, nodes
from jinja2.runtime import Undefined
from jinja2.sandbox import SandboxedEnvironment

__all__ = [
    "ENV",
    "VARIABLES",
    "RowView",
    "compile_template",
    "is_template",
    "render_template",
    "template_columns",
    "template_pool_columns",
    "undeclared_variables",
]

VARIABLES = frozenset({"row", "base_url", "job", "pool"})
"""The names a flow template can use."""


class RowView(Mapping[str, str]):
    """A read-only row for templates: ``row.name`` and ``row["Col with spaces"]``."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, str]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"RowView({len(self._data)} columns)"


class _FlowEnvironment(SandboxedEnvironment):
    """The sandbox, where ``row.<anything>`` is a column, never a method like ``row.items``."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, RowView):
            return self._column(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, RowView) and isinstance(argument, str):
            return self._column(obj, argument)
        return super().getitem(obj, argument)

    def _column(self, row: RowView, name: str) -> str | Undefined:
        try:
            return row[name]
        except KeyError:
            return self.undefined(hint=f"the row has no column {name!r}", name=name)


ENV = _FlowEnvironment(undefined=StrictUndefined, autoescape=False)
"""The one environment every flow template is compiled in."""


def is_template(text: str) -> bool:
    """Whether ``text`` needs Jinja2 at all; plain strings skip it (cheap rendering)."""
    return "{{" in text or "{%" in text or "{#" in text


@lru_cache(maxsize=4096)
def compile_template(source: str) -> Template:
    """Compile once per distinct source: rendering a row then costs one call."""
    return ENV.from_string(source)


def render_template(source: str, context: Mapping[str, Any]) -> str:
    """Render a flow string; plain strings come back unchanged."""
    if not is_template(source):
        return source
    return compile_template(source).render(context)


@lru_cache(maxsize=4096)
def _parse_columns(source: str) -> frozenset[str]:
    columns: set[str] = set()
    tree = ENV.parse(source)
    for attr in tree.find_all(nodes.Getattr):
        if isinstance(attr.node, nodes.Name) and attr.node.name == "row":
            columns.add(attr.attr)
    for item in tree.find_all(nodes.Getitem):
        is_row = isinstance(item.node, nodes.Name) and item.node.name == "row"
        if is_row and isinstance(item.arg, nodes.Const) and isinstance(item.arg.value, str):
            columns.add(item.arg.value)
    return frozenset(columns)


def template_columns(source: str) -> set[str]:
    """Columns a template reads (``row.x``, ``row["x"]``); dynamic lookups are not listed.

    Raises ``jinja2.TemplateSyntaxError`` when the template does not parse.
    """
    if not is_template(source):
        return set()
    return set(_parse_columns(source))


def _key(node: nodes.Node) -> str | None:
    """The constant name of a ``x.name`` / ``x["name"]`` lookup, else None."""
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return node.arg.value if isinstance(node.arg.value, str) else None
    return None


@lru_cache(maxsize=4096)
def _parse_pool_columns(source: str) -> frozenset[tuple[str, str | None]]:
    used: dict[int, tuple[str, str | None]] = {}
    tree = ENV.parse(source)
    lookups: list[nodes.Getattr | nodes.Getitem] = [
        *tree.find_all(nodes.Getattr),
        *tree.find_all(nodes.Getitem),
    ]
    for lookup in lookups:  # pool.<name>
        if isinstance(lookup.node, nodes.Name) and lookup.node.name == "pool":
            name = _key(lookup)
            if name is not None:
                used[id(lookup)] = (name, None)
    for lookup in lookups:  # pool.<name>.<column>
        if id(lookup.node) in used:
            name = used.pop(id(lookup.node))[0]
            used[id(lookup)] = (name, _key(lookup))
    return frozenset(used.values())


def template_pool_columns(source: str) -> set[tuple[str, str | None]]:
    """``(pool, column)`` pairs a template reads (``pool.account.username``); the column
    is None when it is not a constant. Raises ``jinja2.TemplateSyntaxError``."""
    if not is_template(source):
        return set()
    return set(_parse_pool_columns(source))


def undeclared_variables(source: str) -> set[str]:
    """Top-level names a template uses that are neither defined in it nor in ``VARIABLES``."""
    if not is_template(source):
        return set()
    return set(meta.find_undeclared_variables(ENV.parse(source))) - VARIABLES
