"""The ``batchwright`` command.

Exit codes: 0 every row completed; 1 some row failed or needs review;
2 usage, configuration or security error (one line on stderr, a traceback with
``--debug``); 130 interrupted (Ctrl-C), the batch staying resumable.
"""

from __future__ import annotations

import asyncio
import functools
import signal
import sys
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from batch.cli import output as cli_output
from batch.cli.displays import ProgressSink, make_progress
from batch.cli.global_options import (
    ArtifactsOpt,
    DebugOpt,
    State,
    VerboseOpt,
    apply_global_options,
    with_global_options,
)
from batch.cli.groups import is_group_run, print_group_status, run_group_command
from batch.cli.options import (
    BaseUrlOpt,
    ConcurrencyOpt,
    DelayOpt,
    DetachOpt,
    HeadedOpt,
    IsolationOpt,
    JsonOpt,
    MaxArtifactsOpt,
    MaxFailuresOpt,
    ProgressOpt,
    QueueOpt,
    QuietOpt,
    RateOpt,
    RetriesOpt,
    TraceOpt,
    WorkersOpt,
    exec_config,
    progress_mode,
)
from batch.cli.workers import follow_on_workers
from batch.engine import BatchEngine
from batch.exceptions import BatchEngineError, ConfigurationError
from batch.groups import write_group_reports
from batch.groups.report import group_dir
from batch.ingest.preview import preview_csv
from batch.models import BatchStatus, JobStatus
from batch.reports import write_github_step_summary
from batch.reports.summary import BatchSummary
from batch.run.concurrency import max_concurrency
from runtime.flows.model import load_flow

__all__ = ["app", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

app = typer.Typer(
    name="batchwright",
    help="Run a browser flow once per CSV row, in isolated headless Chromium contexts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Our errors become one line on stderr and exit code 2 (a traceback with --debug)."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except BatchEngineError as exc:
            if State.debug:
                raise
            message = " ".join(str(exc).split())  # one line, whatever the error's layout
            err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_USAGE) from None

    return wrapper


def engine(**config: Any) -> BatchEngine:
    """The command's engine; use it as ``with engine() as e:`` so its store is closed."""
    return BatchEngine(config={**State.config, **config})


@app.callback()
def global_options(
    artifacts: ArtifactsOpt = None, debug: DebugOpt = False, verbose: VerboseOpt = False
) -> None:
    apply_global_options(artifacts, debug, verbose)


def _run_with_signals(
    batch_engine: BatchEngine,
    work: Callable[[Callable[[Any], None]], Awaitable[R]],
    progress_mode: str,
    sink: ProgressSink | None = None,
) -> R:
    """Run ``work`` with first Ctrl-C = stop scheduling, second = cancel running jobs;
    progress goes to ``sink``, or to the display of ``progress_mode``."""
    presses = 0

    def on_sigint() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            err.print("stopping: running jobs finish (Ctrl-C again to cancel them)")
            batch_engine.stop()
        else:
            err.print("cancelling running jobs")
            batch_engine.abort()

    async def main() -> R:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, on_sigint)
        loop.add_signal_handler(signal.SIGTERM, on_sigint)
        display = sink or make_progress(progress_mode, sys.stdout)  # type: ignore[arg-type]
        with display as progress:
            return await work(progress)

    return asyncio.run(main())


def _finish(batch_engine: BatchEngine, summary: BatchSummary, progress_mode: str) -> None:
    batch_dir = batch_engine.batch_dir(summary.batch_id)
    report = batch_dir / "report.html"
    markdown = batch_dir / "summary.md"
    if markdown.is_file():  # on GitHub Actions, the job page shows the summary
        write_github_step_summary(markdown.read_text(encoding="utf-8"))
    cli_output.print_final(out, summary, report, json_mode=progress_mode == "json")
    if summary.stop_reason:  # stopped on purpose (--max-failures), not interrupted
        raise typer.Exit(EXIT_FAILED)
    if summary.status == BatchStatus.INTERRUPTED:
        raise typer.Exit(EXIT_INTERRUPTED)
    raise typer.Exit(EXIT_FAILED if summary.has_failures else EXIT_OK)


@app.command()
@with_global_options
@handle_errors
def run(
    csvs: Annotated[
        list[str],
        typer.Argument(
            help="The CSV (one row, one job); or several files, directories of CSVs or "
            "glob patterns: one batch per file, run together as a group.",
            metavar="CSV...",
        ),
    ],
    flow: Annotated[str, typer.Option(help="YAML/JSON flow file, .py file or module:function.")],
    base_url: BaseUrlOpt = None,
    concurrency: ConcurrencyOpt = None,
    retries: RetriesOpt = None,
    headed: HeadedOpt = False,
    trace: TraceOpt = None,
    isolation: IsolationOpt = None,
    rate: RateOpt = None,
    delay: DelayOpt = None,
    max_failures: MaxFailuresOpt = None,
    secret: Annotated[
        list[str] | None, typer.Option("--secret", help="Mask this column's values (repeatable).")
    ] = None,
    skip_completed: Annotated[
        bool, typer.Option(help="Skip rows an earlier batch of this flow completed.")
    ] = False,
    workers: WorkersOpt = False,
    detach: DetachOpt = False,
    priority: Annotated[
        str | None, typer.Option(help="With workers: high, normal (default) or low.")
    ] = None,
    queue: QueueOpt = "batchwright",
    max_artifacts_mb: MaxArtifactsOpt = None,
    progress: ProgressOpt = "auto",
    quiet: QuietOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Create a batch from CSV and FLOW (a group from several), run it, print the
    summary and report paths."""
    with engine(
        **exec_config(
            concurrency, retries, headed, base_url, trace, rate, delay, isolation, max_failures
        ),
        max_artifacts_mb=max_artifacts_mb,
        secrets=frozenset(secret or ()) or None,
        skip_completed=skip_completed or None,
        priority=priority,
    ) as batch_engine:
        mode = progress_mode(progress, quiet, json_)
        on_workers = _use_workers(batch_engine, workers, detach=detach, priority=priority)
        if is_group_run(csvs, batch_engine.settings):
            code = run_group_command(
                batch_engine, csvs, flow, mode, on_workers, detach=detach, queue=queue,
                consoles=(out, err), run_locally=_run_with_signals,
            )  # fmt: skip
            raise typer.Exit(code)
        csv = Path(csvs[0])
        manifest = batch_engine.create_batch_jobs(csv, flow)
        if mode != "json":
            out.print(f"batch [bold]{manifest.batch_id}[/]: {manifest.total} rows from {csv}")
        if on_workers:
            _on_workers(batch_engine, manifest.batch_id, mode, detach=detach, queue=queue)
            return
        summary = _run_with_signals(
            batch_engine,
            lambda cb: batch_engine.execute_batch_jobs(manifest.batch_id, cb),
            mode,
        )
        _finish(batch_engine, summary, mode)


def _use_workers(
    batch_engine: BatchEngine, workers: bool, *, detach: bool, priority: str | None = None
) -> bool:
    """Whether the rows go to workers; wrong combinations are refused before any change."""
    on_workers = workers or bool(batch_engine.settings.broker_url)
    if (detach or priority) and not on_workers:
        raise ConfigurationError("--detach and --priority apply to --workers runs only")
    if on_workers and not batch_engine.settings.broker_url:
        raise ConfigurationError(
            "--workers needs a broker: set BATCH_BROKER_URL (e.g. redis://localhost:6379/0)"
        )
    return on_workers


def _on_workers(
    batch_engine: BatchEngine, batch_id: str, mode: str, *, detach: bool, queue: str
) -> None:
    try:
        summary = follow_on_workers(
            batch_engine, batch_id, mode, detach=detach, queue=queue, err=err
        )
    except KeyboardInterrupt:
        err.print(f"left batch {batch_id} running on the workers: `batchwright cancel {batch_id}`")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if summary is None:
        out.print(batch_id)
        raise typer.Exit(EXIT_OK)
    _finish(batch_engine, summary, mode)


@app.command()
@with_global_options
@handle_errors
def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Jobs at once in this process (one browser).", min=1)
    ] = None,
    queues: Annotated[
        str, typer.Option(help="Comma-separated queues to take rows from.")
    ] = "batchwright",
) -> None:
    """Run rows of batches sent by `run --workers` (needs BATCH_BROKER_URL)."""
    from batch.distributed.worker import run_worker  # noqa: PLC0415 - Celery on demand

    with engine() as batch_engine:
        settings = batch_engine.settings
    jobs_at_once = concurrency or max_concurrency(settings)
    run_worker(settings, jobs_at_once, [q.strip() for q in queues.split(",") if q.strip()])


class ReviewMark(StrEnum):
    """What a person found when checking a row of unknown outcome."""

    COMPLETED = "completed"
    PENDING = "pending"


@app.command()
@with_global_options
@handle_errors
def review(
    batch_id: str,
    mark: Annotated[
        ReviewMark | None,
        typer.Option(help="Settle the rows: completed (it was entered) or pending (re-run it)."),
    ] = None,
    job: Annotated[list[str] | None, typer.Option("--job", help="Only this job id.")] = None,
) -> None:
    """Rows whose outcome is unknown (interrupted after their commit step)."""
    with engine() as batch_engine:
        if mark is None:
            cli_output.print_review(out, batch_engine.jobs_needing_review(batch_id))
            return
        settled = batch_engine.settle_review(batch_id, JobStatus(mark.value), job)
    out.print(f"{settled} row(s) marked {mark.value}")
    if mark is ReviewMark.PENDING and settled:
        out.print(f"`batchwright resume {batch_id}` enters them")


@app.command()
@with_global_options
@handle_errors
def status(
    batch_id: str,
    json_: Annotated[
        bool, typer.Option("--json", help="The summary.json document (docs/summary-json.md).")
    ] = False,
) -> None:
    """Counts, success rate and state of one batch, or of each batch of a group."""
    with engine() as batch_engine:
        if batch_engine.store.find_group(batch_id) is not None:
            grouped = batch_engine.get_group_summary(batch_id)
            if json_:
                cli_output.print_json(out, grouped.to_dict())
            else:
                print_group_status(out, grouped)
            return
        summary = batch_engine.get_batch_summary(batch_id)
    if json_:
        cli_output.print_json(out, summary.to_dict())
        return
    cli_output.print_status(out, summary)


@app.command("list")
@with_global_options
@handle_errors
def list_(
    limit: Annotated[int, typer.Option(help="Newest first, at most this many.")] = 20,
    json_: Annotated[
        bool,
        typer.Option("--json", help="A JSON array, one object per batch (docs/summary-json.md)."),
    ] = False,
) -> None:
    """The batches in the store."""
    with engine() as batch_engine:
        batches = batch_engine.list_batches(limit)
        groups = batch_engine.store.groups_of([m.batch_id for m in batches])
    if json_:
        listing = [
            {**cli_output.batch_listing(m), "group_id": groups.get(m.batch_id)} for m in batches
        ]
        cli_output.print_json(out, listing)
        return
    cli_output.print_batches(out, batches, groups)


@app.command()
@with_global_options
@handle_errors
def preview(
    csv: Annotated[Path, typer.Argument(help="The CSV to inspect.")],
    flow: Annotated[str | None, typer.Option(help="Also render this flow's steps.")] = None,
    rows: Annotated[int, typer.Option(help="How many rows to show.", min=1)] = 5,
    base_url: BaseUrlOpt = None,
) -> None:
    """Detected encoding, delimiter, headers, the first rows and their concrete steps."""
    with engine(base_url=base_url) as batch_engine:
        settings = batch_engine.settings
    loaded = load_flow(flow, base_dir=settings.base_dir) if flow else None
    cli_output.print_preview(out, preview_csv(csv, settings, flow=loaded, rows=rows))


@app.command()
@with_global_options
@handle_errors
def report(
    batch_id: str,
    format_: Annotated[
        list[str] | None,
        typer.Option("--format", help="html, junit, csv, json, markdown or all (repeatable)."),
    ] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Directory to write to.")] = None,
) -> None:
    """Write the reports of a batch again (default: all formats, in its artifacts dir);
    of a group: each batch's, and the group's index.html and group.json."""
    formats = None if not format_ or "all" in format_ else format_
    with engine() as batch_engine:
        if batch_engine.store.find_group(batch_id) is not None:
            write_group_reports(batch_engine, batch_id, out_dir)
            target = out_dir or group_dir(batch_engine, batch_id)
            out.print(f"group report: {target / 'index.html'}", highlight=False, soft_wrap=True)
            return
        summary = batch_engine.write_reports(batch_id, formats, out_dir)
        target = out_dir or batch_engine.batch_dir(batch_id)
    out.print(f"reports for {summary.batch_id} written to {target}")


# The sub-commands use handle_errors, engine and the options above: imported once
# they exist (whichever module is imported first).
from batch.cli.prune import prune_command  # noqa: E402
from batch.cli.reruns import cancel, resume, retry  # noqa: E402
from batch.cli.schedules import schedule_app  # noqa: E402

for command in (resume, retry, cancel):
    app.command()(command)
app.add_typer(schedule_app, name="schedule")
app.command("prune")(prune_command)


def main() -> None:
    app()
