"""The options the run-like commands share (``run``, ``resume``, ``retry``, ``schedule
add``), and the engine settings they map to."""

from __future__ import annotations

from typing import Annotated, Any

import typer

__all__ = [
    "BaseUrlOpt",
    "ConcurrencyOpt",
    "DelayOpt",
    "DetachOpt",
    "HeadedOpt",
    "IsolationOpt",
    "JsonOpt",
    "MaxArtifactsOpt",
    "MaxFailuresOpt",
    "ProgressOpt",
    "QueueOpt",
    "QuietOpt",
    "RateOpt",
    "RetriesOpt",
    "TraceOpt",
    "WorkersOpt",
    "exec_config",
    "progress_mode",
]


ProgressOpt = Annotated[
    str,
    typer.Option(
        "--progress", help="auto (a bar on a terminal), rich, lines, json or quiet.", metavar="MODE"
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only the final line.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON progress event per line.")]
ConcurrencyOpt = Annotated[
    str | None,
    typer.Option(help="Jobs at once: a number, or auto (adapts to CPU and memory)."),
]
RetriesOpt = Annotated[int | None, typer.Option("--retries", help="Retries per job.", min=0)]
HeadedOpt = Annotated[bool, typer.Option("--headed", help="Show the browser window.")]
BaseUrlOpt = Annotated[str | None, typer.Option(help="Overrides the flow's base_url.")]
RateOpt = Annotated[
    str | None, typer.Option(help="At most this many job starts, e.g. 2/s or 90/min.")
]
DelayOpt = Annotated[
    float | None, typer.Option("--delay", help="Seconds each worker pauses between jobs.", min=0)
]
IsolationOpt = Annotated[
    str | None,
    typer.Option(help="context (fresh per row), recycled (pooled, wiped) or page (read-only)."),
]
MaxFailuresOpt = Annotated[
    int | None,
    typer.Option(
        "--max-failures",
        help="Stop scheduling after N failed rows; the batch stays resumable. 0: never.",
        min=0,
        metavar="N",
    ),
]
TraceOpt = Annotated[
    str | None, typer.Option(help="Tracing: off, on-failure, retries (default), always.")
]
WorkersOpt = Annotated[
    bool,
    typer.Option(
        "--workers",
        help="Send the rows to `batchwright worker` processes (also whenever "
        "BATCH_BROKER_URL is set).",
    ),
]
DetachOpt = Annotated[
    bool, typer.Option("--detach", help="With workers: print the batch id and return.")
]
QueueOpt = Annotated[str, typer.Option(help="With workers: the queue to send to.")]
MaxArtifactsOpt = Annotated[
    float | None,
    typer.Option(
        "--max-artifacts-mb",
        help="Evidence a batch may write; past it attempts write none and say so. 0: no cap.",
        min=0,
        metavar="MB",
    ),
]


def exec_config(  # noqa: PLR0917 - one parameter per shared option, passed in their order
    concurrency: str | None,
    retries: int | None,
    headed: bool,
    base_url: str | None,
    trace: str | None,
    rate: str | None = None,
    delay: float | None = None,
    isolation: str | None = None,
    max_failures: int | None = None,
) -> dict[str, Any]:
    """The engine settings the shared options give (None: not given)."""
    return {
        "isolation": isolation,
        "concurrency": concurrency,
        "max_retries": retries,
        "headless": False if headed else None,
        "base_url": base_url,
        "trace": trace,
        "rate": rate,
        "delay_s": delay,
        "max_failures": max_failures,
    }


def progress_mode(progress: str, quiet: bool, json_: bool) -> str:
    """``--json`` and ``--quiet`` are shorthands for a ``--progress`` mode."""
    return "json" if json_ else "quiet" if quiet else progress
