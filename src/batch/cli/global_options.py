"""The global options ``--artifacts``, ``-v/--verbose`` and ``--debug``: accepted before
the command (``batchwright --debug run ...``) and after it (``batchwright run ... --debug``),
where users naturally type them. Each command declares them, so its ``--help`` lists them.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

__all__ = [
    "ArtifactsOpt",
    "DebugOpt",
    "State",
    "VerboseOpt",
    "apply_global_options",
    "with_global_options",
]

R = TypeVar("R")

PANEL = "Global options (before or after the command)"
ArtifactsOpt = Annotated[
    Path | None,
    typer.Option(
        "--artifacts", help="Output root (store, reports, artifacts).", rich_help_panel=PANEL
    ),
]
DebugOpt = Annotated[
    bool, typer.Option("--debug", help="Show tracebacks and debug logs.", rich_help_panel=PANEL)
]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Show info logs.", rich_help_panel=PANEL)
]


class State:
    """The global options of this invocation (one CLI invocation, one state)."""

    artifacts: Path | None = None
    debug = False
    verbose = False
    config: dict[str, Any] = {}  # noqa: RUF012 - one CLI invocation, one state


def apply_global_options(artifacts: Path | None, debug: bool, verbose: bool) -> None:
    """Record the options and set up logging: the command prints its own progress; logs
    add warnings (retries giving up, the circuit breaker, a relaunched browser) unless
    asked for more."""
    State.artifacts, State.debug, State.verbose = artifacts, debug, verbose
    State.config = {"artifacts_dir": artifacts}
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO, handlers=[handler], force=True
    )


def _keyword(name: str, default: object, annotation: object) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


_OPTIONS = (
    _keyword("artifacts", None, ArtifactsOpt),
    _keyword("debug", False, DebugOpt),
    _keyword("verbose", False, VerboseOpt),
)


def with_global_options(command: Callable[..., R]) -> Callable[..., R]:
    """``command`` also taking the global options; given after the command, they add to
    (``--debug``, ``--verbose``) or replace (``--artifacts``) those given before it."""
    signature = inspect.signature(command, eval_str=True)

    @functools.wraps(command)
    def wrapper(
        *args: Any,
        artifacts: Path | None = None,
        debug: bool = False,
        verbose: bool = False,
        **kwargs: Any,
    ) -> R:
        if artifacts is not None or debug or verbose:
            apply_global_options(
                artifacts or State.artifacts, debug or State.debug, verbose or State.verbose
            )
        return command(*args, **kwargs)

    # typer reads a command's options from its signature
    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), *_OPTIONS]
    )
    return wrapper
