"""Flows written in Python: ``package.module:function`` or a ``.py`` file defining ``run``.

The function is ``async def run(page, row, ctx)`` and may return a dict of
extracted values. Everything that can be wrong with it (missing module, missing
function, not async, wrong parameters) is a ``ConfigurationError`` raised at load
time, before any job runs.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from runtime.errors import ConfigurationError

if TYPE_CHECKING:
    from playwright.async_api import Page

    from runtime.flows.context import FlowContext

__all__ = ["PythonFlow", "PythonFlowFn", "is_module_ref", "load_python_flow"]

PythonFlowFn = Callable[
    ["Page", Mapping[str, str], "FlowContext"], Awaitable[Mapping[str, Any] | None]
]
"""``async def run(page, row, ctx) -> dict | None``."""

FILE_FUNCTION = "run"
"""The function a ``.py`` flow file must define."""


@dataclass(frozen=True)
class PythonFlow:
    """A loaded Python flow: where it came from and the coroutine function to call."""

    source: str
    run: PythonFlowFn


def is_module_ref(ref: str) -> bool:
    """``package.module:function`` (and not a path such as ``C:\\flows\\x.py``)."""
    module, sep, function = ref.partition(":")
    return bool(sep and module and function) and all(
        part.isidentifier() for part in [*module.split("."), function]
    )


def load_python_flow(ref: str | Path, *, base_dir: Path | None = None) -> PythonFlow:
    """Load and check a Python flow; relative file paths are resolved against ``base_dir``."""
    text = str(ref)
    if not isinstance(ref, Path) and is_module_ref(text):
        module_name, _, function = text.partition(":")
        module = _import_module(module_name, text)
        return PythonFlow(text, _check_function(module, function, text))
    path = Path(ref).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    path = path.resolve()
    module = _import_file(path)
    return PythonFlow(str(path), _check_function(module, FILE_FUNCTION, str(path)))


def _import_module(name: str, ref: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise ConfigurationError(
            f"cannot load Python flow {ref}: {exc}. Install the package or put its "
            f"directory on PYTHONPATH; a file can be given as a path (flows/my_flow.py)."
        ) from exc
    except Exception as exc:
        raise ConfigurationError(
            f"cannot load Python flow {ref}: importing {name} failed:\n{_short_traceback(exc)}"
        ) from exc


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise ConfigurationError(
            f"Python flow file not found: {path}. Check the path (relative paths are "
            f"resolved against the directory of the flow that names them)."
        )
    # A stable, unique module name per file, so two flows named run.py do not collide.
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    name = f"batchwright_flow_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigurationError(f"cannot load Python flow {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise ConfigurationError(
            f"cannot load Python flow {path}: running the file failed:\n{_short_traceback(exc)}"
        ) from exc
    return module


def _check_function(module: ModuleType, name: str, ref: str) -> PythonFlowFn:
    function = getattr(module, name, None)
    if function is None:
        candidates = sorted(
            attr
            for attr, value in vars(module).items()
            if inspect.iscoroutinefunction(value) and not attr.startswith("_")
        )
        found = f" (async functions in it: {', '.join(candidates)})" if candidates else ""
        raise ConfigurationError(
            f"Python flow {ref}: {module.__name__} has no function {name!r}{found}. "
            f"Define `async def {name}(page, row, ctx)`."
        )
    if not inspect.iscoroutinefunction(function):
        raise ConfigurationError(
            f"Python flow {ref}: {name!r} must be a coroutine function: "
            f"`async def {name}(page, row, ctx)`."
        )
    try:
        inspect.signature(function).bind(object(), object(), object())
    except TypeError as exc:
        raise ConfigurationError(
            f"Python flow {ref}: {name}{inspect.signature(function)} cannot be called as "
            f"{name}(page, row, ctx) ({exc}). Use `async def {name}(page, row, ctx)`."
        ) from exc
    result: PythonFlowFn = function
    return result


def _short_traceback(exc: BaseException) -> str:
    """The exception and the frames inside the user's code, not importlib's."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "importlib" not in f.filename]
    lines = [f"  {f.filename}, line {f.lineno}" for f in frames[-3:]]
    if isinstance(exc, SyntaxError) and exc.filename:
        lines.append(f"  {exc.filename}, line {exc.lineno}, column {exc.offset}")
    return "\n".join([*lines, f"  {type(exc).__name__}: {exc}"])
