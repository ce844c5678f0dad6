"""The flow model: what to do for one row, loaded from YAML/JSON or Python, rendered per row.

``load_flow`` checks a whole flow before anything runs and reports every problem
at once, each with its step number (and YAML line). ``render_steps`` turns a row
into concrete steps: the flow's strings are sandboxed Jinja2 templates, the
row's values are data (``steps.run_flow`` then performs them on a page).
"""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeGuard

from jinja2 import TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError

from runtime.errors import ConfigurationError, FlowError
from runtime.flows.actions import ACTIONS, check_args, did_you_mean, step_label
from runtime.flows.pool_refs import (
    ALL_POOLS,
    pool_error_names,
    pool_error_problems,
    reference_problems,
)
from runtime.flows.pools import PoolSpec, parse_pools
from runtime.flows.python_flow import PythonFlow, is_module_ref, load_python_flow
from runtime.flows.reader import (
    column_names,
    header_problems,
    parse_flow_text,
    read_flow_document,
)
from runtime.flows.templating import (
    VARIABLES,
    RowView,
    render_template,
    template_columns,
    undeclared_variables,
)

__all__ = [
    "Flow",
    "JobInfo",
    "RenderedStep",
    "StepSpec",
    "check_columns",
    "load_flow",
    "load_flow_text",
    "render_steps",
]

MODIFIERS = ("commit", "timeout", "name", "pool_error")
DECLARATIVE_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class StepSpec:
    """One step as written in the flow (templates not rendered)."""

    index: int
    """1-based; verify steps are numbered on their own."""
    action: str
    args: Mapping[str, Any]
    commit: bool
    timeout_s: float | None
    label: str
    """Short description for logs and previews: ``fill "#name"``."""
    line: int | None = None
    """Line in the YAML file, when known."""
    verify: bool = False
    name: str | None = None
    """The step's ``name:`` modifier, which replaces the generated label."""
    pool_error: tuple[str, ...] = ()
    """Pools whose leased entry is unusable when this step fails (``pool_error:``)."""

    @property
    def where(self) -> str:
        """``step 3 (line 12)`` / ``verify step 1``: how messages name this step."""
        place = f"{'verify step' if self.verify else 'step'} {self.index}"
        return f"{place} (line {self.line})" if self.line else place


@dataclass(frozen=True)
class RenderedStep:
    """One step made concrete for one row: every template rendered."""

    index: int
    action: str
    args: Mapping[str, Any]
    commit: bool
    timeout_s: float | None
    label: str
    verify: bool = False
    pool_error: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return f"{'verify step' if self.verify else 'step'} {self.index}"


@dataclass(frozen=True)
class JobInfo:
    """Templates see it as ``job``: ``{{ job.index }}``, ``{{ job.id }}``, ``{{ job.attempt }}``."""

    index: int
    id: str
    attempt: int


@dataclass(frozen=True)
class Flow:
    """A validated flow: declarative steps, or a Python function (``python``)."""

    name: str
    source: str
    base_url: str | None
    timeout_s: float | None
    steps: tuple[StepSpec, ...]
    verify: tuple[StepSpec, ...]
    key: tuple[str, ...]
    idempotent: bool
    secrets: tuple[str, ...]
    python: PythonFlow | None
    directory: Path | None = None
    """The flow file's directory: ``upload`` paths must stay inside it."""
    description: str = ""
    content_hash: str = ""
    """``sha256:...`` of the files as loaded (``load_flow``); a batch records it so that a
    runner can refuse to run another flow. Empty for a flow built in code."""
    pools: tuple[PoolSpec, ...] = ()
    """Resource pools an attempt leases one entry of each (``pools:``)."""

    @property
    def pool_secrets(self) -> bool:
        """Some pool has secret columns: such a flow is traced only on request."""
        return any(pool.secrets for pool in self.pools)

    @property
    def columns(self) -> frozenset[str]:
        """Every column the templates reference (dynamic ``row[expr]`` lookups excepted)."""
        return frozenset(c for step in (*self.steps, *self.verify) for c in _step_columns(step))

    @property
    def has_commit_step(self) -> bool:
        return any(step.commit for step in self.steps)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _step_columns(step: StepSpec) -> set[str]:
    return {c for value in step.args.values() for s in _strings(value) for c in template_columns(s)}


# --- checking steps -----------------------------------------------------------------------


def _check_templates(args: Mapping[str, Any]) -> list[str]:
    problems = []
    for key, value in args.items():
        for text in _strings(value):
            try:
                unknown = undeclared_variables(text)
            except TemplateSyntaxError as exc:
                problems.append(f"template error in {key!r} (line {exc.lineno}): {exc.message}")
                continue
            problems += [
                f"{key!r} uses unknown variable {name!r}{did_you_mean(name, VARIABLES)}; "
                f"templates can use {', '.join(sorted(VARIABLES))}"
                for name in sorted(unknown)
            ]
    return problems


def _find_action(raw: dict[Any, Any]) -> tuple[str | None, list[str]]:
    keys = [key for key in raw if key not in MODIFIERS]
    actions = [key for key in keys if key in ACTIONS]
    problems = [
        f"unknown action {key!r}{did_you_mean(str(key), [*ACTIONS, *MODIFIERS])}"
        for key in keys
        if key not in ACTIONS
    ]
    if len(actions) > 1:
        problems.append(f"two actions in one step ({', '.join(actions)}): give each its own step")
    if not keys:
        problems.append(f"no action; one of: {', '.join(ACTIONS)}")
    return (actions[0] if actions else None), problems


def _step_args(action: str, value: Any) -> tuple[dict[str, Any], list[str]]:
    spec = ACTIONS[action]
    if isinstance(value, dict):
        args: dict[str, Any] = dict(value)
    elif spec.shorthand and value is not None and not isinstance(value, list):
        args = {spec.shorthand: value}
    else:
        return {}, [f"needs arguments, e.g. `{spec.example}`"]
    return args, check_args(action, args) + _check_templates(args)


def _modifier_problems(raw: Mapping[Any, Any], verify: bool) -> list[str]:
    commit, timeout, name = raw.get("commit", False), raw.get("timeout"), raw.get("name")
    problems = []
    if not isinstance(commit, bool):
        problems.append(f"'commit' must be true or false, got {commit!r}")
    elif commit and verify:
        problems.append("verify steps only look: 'commit' is not allowed here")
    if timeout is not None and not _positive(timeout):
        problems.append(f"'timeout' must be a number of seconds > 0, got {timeout!r}")
    if name is not None and not isinstance(name, str):
        problems.append(f"'name' must be text, got {name!r}")
    return problems + pool_error_problems(raw.get("pool_error"))


def _positive(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _parse_step(raw: Any, index: int, line: int | None, verify: bool) -> tuple[StepSpec, list[str]]:
    """Always returns a step (to keep the numbering); problems say what is wrong with it."""
    if not isinstance(raw, dict) or not raw:
        problem = 'must be a mapping with one action, e.g. `- click: "#save"`'
        return StepSpec(index, "", {}, False, None, "", line, verify), [problem]
    action, problems = _find_action(raw)
    args: dict[str, Any] = {}
    if action is not None:
        args, found = _step_args(action, raw[action])
        problems += found
    problems += _modifier_problems(raw, verify)
    name, timeout = raw.get("name"), raw.get("timeout")
    label = step_label(action, args, name) if action and not problems else ""
    seconds = float(timeout) if _positive(timeout) else None
    step = StepSpec(
        index, action or "", args, raw.get("commit") is True, seconds, label, line, verify, name,
        pool_error_names(raw.get("pool_error")),
    )  # fmt: skip
    return step, problems


def _parse_steps(
    raw: Any, lines: Sequence[int], verify: bool
) -> tuple[tuple[StepSpec, ...], list[str]]:
    if not isinstance(raw, list):
        section = "verify" if verify else "steps"
        return (), [f"'{section}' must be a list of steps (each line starting with '- ')"]
    steps, problems = [], []
    for i, item in enumerate(raw, start=1):
        step, found = _parse_step(item, i, lines[i - 1] if i <= len(lines) else None, verify)
        steps.append(step)
        where = f"{step.where} {step.action}".strip()
        problems += [f"{where}: {problem}" for problem in found]
    return tuple(steps), problems


def _resolve_pool_errors(
    steps: tuple[StepSpec, ...], pools: Sequence[PoolSpec]
) -> tuple[StepSpec, ...]:
    """``pool_error: true`` made concrete: the names of every declared pool."""
    names = tuple(pool.name for pool in pools)
    return tuple(replace(s, pool_error=names) if ALL_POOLS in s.pool_error else s for s in steps)


# --- checking the whole flow --------------------------------------------------------------


def _python_body(
    data: Mapping[str, Any], directory: Path, problems: list[str]
) -> PythonFlow | None:
    if "steps" in data:
        problems.append("give either 'steps' or 'python', not both")
    elif not isinstance(data["python"], str):
        problems.append("'python' must be `package.module:function` or a path to a .py file")
    else:
        try:
            return load_python_flow(data["python"], base_dir=directory)
        except ConfigurationError as exc:
            problems.append(str(exc))
    return None


def _parse_document(
    data: Any, source: str, directory: Path, lines: Mapping[str, Sequence[int]]
) -> Flow:
    if not isinstance(data, dict):
        raise FlowError(source, ["a flow is a mapping with at least a 'steps:' list"])
    problems = header_problems(data)
    key, secrets = column_names(data, "key", problems), column_names(data, "secrets", problems)
    verify, found = _parse_steps(data.get("verify", []), lines.get("verify", []), verify=True)
    problems += found
    pools, found = parse_pools(data, lines, directory)
    problems += found
    steps: tuple[StepSpec, ...] = ()
    python = None
    if "python" in data:
        python = _python_body(data, directory, problems)
    elif "steps" not in data:
        problems.append("no 'steps': a flow needs a list of steps (or 'python: module:function')")
    else:
        steps, found = _parse_steps(data["steps"], lines.get("steps", []), verify=False)
        problems += found or ([] if steps else ["'steps' is empty: add at least one step"])
    steps, verify = _resolve_pool_errors(steps, pools), _resolve_pool_errors(verify, pools)
    problems += reference_problems((*steps, *verify), pools, bool("pools" in data))
    if problems:
        raise FlowError(source, problems)
    base_url, timeout = data.get("base_url"), data.get("timeout")
    return Flow(
        name=data.get("name", Path(source).stem),
        source=source,
        base_url=base_url.rstrip("/") if base_url else None,
        timeout_s=float(timeout) if timeout is not None else None,
        steps=steps,
        verify=verify,
        key=key,
        idempotent=data.get("idempotent", True),
        secrets=secrets,
        python=python,
        directory=directory,
        description=data.get("description", ""),
        pools=pools,
    )


def _python_flow(python: PythonFlow, name: str, directory: Path | None) -> Flow:
    return Flow(name, python.source, None, None, (), (), (), True, (), python, directory)


def _content_hash(flow_file: Path | None, python: PythonFlow | None) -> str:
    """Hash of the flow file and, for a Python flow, of the file defining its function
    (not of the modules that file imports)."""
    files = [flow_file] if flow_file is not None else []
    if python is not None:
        try:
            defined_in = inspect.getsourcefile(python.run)
        except TypeError:  # a builtin or C function: no source file
            defined_in = None
        if defined_in is not None:
            files.append(Path(defined_in))
    digest = hashlib.sha256()
    for path in files:
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return f"sha256:{digest.hexdigest()}"


def load_flow(ref: str | Path, *, base_dir: Path | None = None) -> Flow:
    """Load and validate a flow: a ``.yaml``/``.yml``/``.json`` file, a ``.py`` file or
    ``package.module:function``. Relative paths are resolved against ``base_dir`` (or
    the working directory). Raises ``FlowError`` listing every problem."""
    if isinstance(ref, str) and is_module_ref(ref):
        flow = _python_flow(load_python_flow(ref), ref, None)
        return replace(flow, content_hash=_content_hash(None, flow.python))
    path = Path(ref).expanduser()
    path = (path if path.is_absolute() else (base_dir or Path.cwd()) / path).resolve()
    suffix = path.suffix.lower()
    if suffix == ".py":
        flow = _python_flow(load_python_flow(path), path.stem, path.parent)
        return replace(flow, content_hash=_content_hash(None, flow.python))
    if suffix not in DECLARATIVE_SUFFIXES:
        raise ConfigurationError(
            f"cannot use {ref} as a flow: expected a .yaml, .yml, .json or .py file, "
            f"or package.module:function"
        )
    if not path.is_file():
        raise ConfigurationError(f"flow file not found: {path} (check the path and spelling)")
    data, lines = read_flow_document(path)
    flow = _parse_document(data, str(path), path.parent, lines)
    return replace(flow, content_hash=_content_hash(path, flow.python))


def load_flow_text(text: str, *, source: str, directory: Path) -> Flow:
    """A declarative flow from its recorded text (a worker has no flow file): checked
    like ``load_flow``; relative paths in it resolve against ``directory``."""
    data, lines = parse_flow_text(text, source)
    return _parse_document(data, source, directory, lines)


# --- columns and rendering ------------------------------------------------------


def check_columns(flow: Flow, headers: Collection[str]) -> None:
    """Refuse a CSV that lacks a column the flow uses, listing every one at once."""
    available, problems = list(headers), []
    for step in (*flow.steps, *flow.verify):
        for column in sorted(_step_columns(step)):
            if column not in available:
                hint = did_you_mean(column, available)
                problems.append(f"{step.where} {step.label}: no column {column!r} in the CSV{hint}")
    for field, columns in (("key", flow.key), ("secrets", flow.secrets)):
        for column in columns:
            if column not in available:
                hint = did_you_mean(column, available)
                problems.append(f"'{field}' names column {column!r}, not in the CSV{hint}")
    if problems:
        problems.append(f"the CSV's columns are: {', '.join(map(repr, available)) or '(none)'}")
        raise FlowError(flow.source, problems)


def _render_value(value: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return render_template(value, context)
    if isinstance(value, list):
        return [_render_value(item, context) for item in value]
    return value


def _render_problem(exc: Exception) -> str:
    if isinstance(exc, UndefinedError) and "'base_url' is undefined" in str(exc):
        return "base_url is not set: add 'base_url:' to the flow or pass --base-url"
    if isinstance(exc, SecurityError):
        return f"refused by the template sandbox: {exc}"
    if isinstance(exc, re.error):
        return f"'regex' is not a valid regular expression once rendered: {exc}"
    return f"template failed: {type(exc).__name__}: {exc}"


def _upload_paths(flow: Flow, step: StepSpec, value: str | list[str]) -> str | list[str]:
    """Absolute paths inside the flow's directory, so a row cannot upload /etc/passwd."""
    root = (flow.directory or Path.cwd()).resolve()
    paths = []
    for item in [value] if isinstance(value, str) else value:
        path = (root / item).resolve()
        if not path.is_relative_to(root):
            raise FlowError(
                flow.source,
                [
                    f"{step.where} {step.label}: upload path {item!r} is outside the flow's "
                    f"directory {root}; keep files to upload next to the flow"
                ],
            )
        paths.append(str(path))
    return paths[0] if isinstance(value, str) else paths


def _render_step(flow: Flow, step: StepSpec, context: Mapping[str, Any]) -> RenderedStep:
    try:
        args = {key: _render_value(value, context) for key, value in step.args.items()}
        if "regex" in args:
            re.compile(args["regex"])
    except Exception as exc:  # whatever a flow's template raises is a problem of the flow
        raise FlowError(
            flow.source, [f"{step.where} {step.label}: {_render_problem(exc)}"]
        ) from exc
    if step.action == "upload":
        args["path"] = _upload_paths(flow, step, args["path"])
    label = step_label(step.action, args, step.name)
    return RenderedStep(
        step.index,
        step.action,
        MappingProxyType(args),
        step.commit,
        step.timeout_s,
        label,
        step.verify,
        step.pool_error,
    )


def render_steps(
    flow: Flow,
    row: Mapping[str, str],
    *,
    base_url: str | None,
    job: JobInfo,
    steps: Sequence[StepSpec] | None = None,
    pool: Mapping[str, Mapping[str, str]] | None = None,
) -> list[RenderedStep]:
    """The concrete steps for one row. ``base_url`` overrides the flow's (``--base-url``);
    ``steps`` defaults to ``flow.steps`` (pass ``flow.verify`` for the verify steps);
    ``pool`` holds the entries leased for this attempt (``{{ pool.account.username }}``)."""
    context: dict[str, Any] = {"row": RowView(row), "job": job}
    context["pool"] = {name: RowView(entry) for name, entry in (pool or {}).items()}
    effective = base_url or flow.base_url
    if effective:
        context["base_url"] = effective.rstrip("/")
    return [_render_step(flow, step, context) for step in (flow.steps if steps is None else steps)]
