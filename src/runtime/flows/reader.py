"""Reading a declarative flow file (YAML or JSON) into plain data, and its top-level fields.

Syntax errors become ``FlowError`` naming the line and column; YAML duplicate
keys are refused (PyYAML would silently keep the last one, dropping an argument);
the line of every step is kept so messages can say ``step 3 (line 12)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from runtime.errors import FlowError
from runtime.flows.actions import did_you_mean

__all__ = [
    "TOP_LEVEL",
    "column_names",
    "header_problems",
    "parse_flow_text",
    "read_flow_document",
]

TOP_LEVEL = (
    "name",
    "description",
    "base_url",
    "timeout",
    "key",
    "idempotent",
    "secrets",
    "steps",
    "verify",
    "python",
    "pools",
)
"""Every key a flow file may have at its top level."""


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, str | int | float | bool) and key in seen:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"duplicate key {key!r} (first on line {seen[key]}): keep one",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(text: str, source: str) -> tuple[Any, dict[str, list[int]]]:
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        context = f" ({exc.context})" if exc.context else ""
        raise FlowError(source, [f"YAML error{where}: {exc.problem}{context}"]) from exc
    except yaml.YAMLError as exc:
        raise FlowError(source, [f"YAML error: {exc}"]) from exc
    finally:
        loader.dispose()
    lines: dict[str, list[int]] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(value_node, yaml.SequenceNode):
                lines[str(key_node.value)] = [n.start_mark.line + 1 for n in value_node.value]
            elif isinstance(value_node, yaml.MappingNode):  # pools: the line of each entry
                for sub_key, _ in value_node.value:
                    lines[f"{key_node.value}.{sub_key.value}"] = [sub_key.start_mark.line + 1]
    return data, lines


def _read_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise FlowError(source, [f"JSON error at {where}: {exc.msg}"]) from exc


def read_flow_document(path: Path) -> tuple[Any, dict[str, list[int]]]:
    """The parsed document and, for YAML, the line of each item of each top-level list
    (``{"steps": [7, 8, 10], "verify": [...]}``) and of each key of a top-level mapping
    (``{"pools.account": [4]}``)."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FlowError(source, [f"not UTF-8 text (byte {exc.start}): save it as UTF-8"]) from exc
    return parse_flow_text(text, source)


def parse_flow_text(text: str, source: str) -> tuple[Any, dict[str, list[int]]]:
    """``read_flow_document`` for text already read (a flow recorded in the store);
    ``source``'s suffix says JSON or YAML."""
    if source.lower().endswith(".json"):
        return _read_json(text, source), {}
    return _read_yaml(text, source)


def column_names(data: Mapping[str, Any], field: str, problems: list[str]) -> tuple[str, ...]:
    """``key:``/``secrets:``: one column name or a list of them."""
    value = data.get(field, [])
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        problems.append(f"'{field}' must be a column name or a list of column names")
        return ()
    return tuple(values)


def header_problems(data: Mapping[str, Any]) -> list[str]:
    """What is wrong with the top-level fields other than ``steps``/``verify``/``python``."""
    problems = [
        f"unknown top-level key {key!r}{did_you_mean(str(key), TOP_LEVEL)}; "
        f"allowed: {', '.join(TOP_LEVEL)}"
        for key in data
        if key not in TOP_LEVEL
    ]
    name, base_url = data.get("name", "-"), data.get("base_url")
    if not isinstance(name, str) or not name:
        problems.append("'name' must be non-empty text")
    if not isinstance(data.get("description", ""), str):
        problems.append("'description' must be text")
    if base_url is not None and not (
        isinstance(base_url, str) and base_url.startswith(("http://", "https://", "file://"))
    ):
        problems.append(f"'base_url' must start with http://, https:// or file://: {base_url!r}")
    timeout = data.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
    ):
        problems.append(f"'timeout' must be a number of seconds > 0, got {data['timeout']!r}")
    if not isinstance(data.get("idempotent", True), bool):
        problems.append(f"'idempotent' must be true or false, got {data['idempotent']!r}")
    return problems
