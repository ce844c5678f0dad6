"""The exception tree as documented (batch.exceptions' docstring, docs/errors.md) is
the tree the code defines: no class missing, none under the wrong parent."""

from __future__ import annotations

import inspect
import re
from types import ModuleType

import pytest
from paths import REPO

import batch.exceptions
import runtime.errors
from runtime.outcome import ErrorCategory

ERRORS_DOC = REPO / "docs" / "errors.md"
_NODE = re.compile(r"── (\w+)")


def defined_in(module: ModuleType) -> list[type[BaseException]]:
    return [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__ == module.__name__
    ]


EXCEPTIONS = defined_in(runtime.errors) + defined_in(batch.exceptions)


def tree_of(text: str) -> dict[str, str | None]:
    """``{class: parent}`` from the box-drawn tree in ``text``: a line starting with the
    root, then ``├──``/``└──`` lines four columns deeper per level (other lines carry on
    a comment) until a blank line."""
    lines = text.splitlines()
    start = next(n for n, line in enumerate(lines) if line.lstrip().startswith("BatchEngineError"))
    root_column = lines[start].index("BatchEngineError")
    parents: dict[str, str | None] = {"BatchEngineError": None}
    path = ["BatchEngineError"]
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        found = _NODE.search(line)
        if found is None:
            continue
        depth = (found.start() - 1 - root_column) // 4 + 1
        del path[depth:]
        parents[found.group(1)] = path[-1]
        path.append(found.group(1))
    return parents


def documented(where: str) -> str:
    if where == "docstring":
        return batch.exceptions.__doc__ or ""
    return ERRORS_DOC.read_text(encoding="utf-8")


@pytest.mark.parametrize("where", ["docstring", "docs/errors.md"])
def test_the_documented_tree_is_the_class_tree(where: str) -> None:
    actual = {
        cls.__name__: None if cls is runtime.errors.BatchEngineError else cls.__base__.__name__
        for cls in EXCEPTIONS
    }
    assert tree_of(documented(where)) == actual


def test_every_exception_is_importable_from_batch_exceptions() -> None:
    for cls in EXCEPTIONS:
        assert getattr(batch.exceptions, cls.__name__) is cls
        assert cls.__name__ in batch.exceptions.__all__


def test_every_error_category_is_explained() -> None:
    text = documented("docs/errors.md")
    for category in ErrorCategory:
        assert re.search(rf"^\| `{category.value}` \|", text, re.MULTILINE), category
