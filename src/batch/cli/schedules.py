"""``batchwright schedule``: add, list, pause, resume, remove schedules, and
``run-due`` to fire what is due now once (cron-less hosts, tests). The service
(``batchwright serve``) fires them on its own loop."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich import box
from rich.table import Table

from batch.cli import output as cli_output
from batch.cli.app import EXIT_FAILED, engine, handle_errors, out
from batch.cli.global_options import State, with_global_options
from batch.cli.options import (
    BaseUrlOpt,
    ConcurrencyOpt,
    DelayOpt,
    IsolationOpt,
    MaxFailuresOpt,
    RateOpt,
    RetriesOpt,
    TraceOpt,
)
from batch.engine import BatchEngine
from batch.schedule import (
    Scheduler,
    ScheduleView,
    add_schedule,
    list_schedules,
    on_workers,
    run_in_process,
)
from batch.schedule.scheduler import utc_now
from batch.store._schedules import ScheduleStore

__all__ = ["schedule_app"]

schedule_app = typer.Typer(
    help="Batches fired by cron slots (docs/schedules.md).", no_args_is_help=True
)
JsonListOpt = Annotated[bool, typer.Option("--json", help="A JSON array, one object each.")]


@schedule_app.command("add")
@with_global_options
@handle_errors
def add(
    name: Annotated[str, typer.Argument(help="The schedule's name.")],
    csv: Annotated[
        Path,
        typer.Argument(
            help="The CSV file each slot runs, or a directory or glob pattern (a group: "
            "one batch per file)."
        ),
    ],
    cron: Annotated[str, typer.Option(help="Five-field cron expression, e.g. '0 2 * * *'.")],
    flow: Annotated[str, typer.Option(help="YAML/JSON flow file, .py file or module:function.")],
    tz: Annotated[str, typer.Option("--tz", help="IANA time zone of the cron times.")] = "UTC",
    base_url: BaseUrlOpt = None,
    concurrency: ConcurrencyOpt = None,
    retries: RetriesOpt = None,
    isolation: IsolationOpt = None,
    rate: RateOpt = None,
    delay: DelayOpt = None,
    max_failures: MaxFailuresOpt = None,
    trace: TraceOpt = None,
    priority: Annotated[
        str | None, typer.Option(help="On workers: high, normal (default) or low.")
    ] = None,
    secret: Annotated[
        list[str] | None, typer.Option("--secret", help="Mask this column's values (repeatable).")
    ] = None,
    skip_completed: Annotated[
        bool, typer.Option(help="Skip rows an earlier batch of this flow completed.")
    ] = False,
) -> None:
    """Fire a batch of CSV (a group, for a directory or a pattern) with FLOW at every
    slot of --cron in --tz."""
    options: dict[str, Any] = {
        "base_url": base_url,
        "concurrency": concurrency,
        "max_retries": retries,
        "isolation": isolation,
        "rate": rate,
        "delay_s": delay,
        "max_failures": max_failures,
        "trace": trace,
        "priority": priority,
        "secrets": sorted(secret) if secret else None,
        "skip_completed": skip_completed or None,
    }
    with engine() as batch_engine:
        now = utc_now()
        record = add_schedule(
            batch_engine.store, name, cron, tz, csv, flow, options, batch_engine.settings, now
        )
        view = next(v for v in list_schedules(batch_engine.store, now) if v.name == name)
    when = f"{record.cron} ({record.timezone}), next run {_when(view)}"
    out.print(f"schedule [bold]{record.name}[/]: {when}")


def _local(moment: datetime | None, view: ScheduleView) -> str:
    """``moment`` in the schedule's zone, as its cron reads."""
    if moment is None:
        return "-"
    return moment.astimezone(ZoneInfo(view.timezone)).isoformat(sep=" ", timespec="minutes")


def _when(view: ScheduleView) -> str:
    return "paused" if view.paused else _local(view.next_run, view)


def _last(view: ScheduleView) -> str:
    if view.last_outcome is None:
        return "never ran"
    text = view.last_outcome
    if view.last_batch_id:
        text += f" {view.last_batch_id}"
    state = view.last_batch
    if "status" in state:
        counts = ", ".join(f"{n} {status}" for status, n in state["counts"].items())
        text += f" ({state['status']}: {counts})"
    elif state:
        text += " (pruned)"
    if state.get("group"):
        text += f" [{state['batches']} batches, {state['refused']} refused]"
    if view.last_reason:
        text += f": {view.last_reason}"
    return text


@schedule_app.command("list")
@with_global_options
@handle_errors
def list_(json_: JsonListOpt = False) -> None:
    """Every schedule: its cron, last and next run, and its last result."""
    with engine() as batch_engine:
        views = list_schedules(batch_engine.store, utc_now())
    if json_:
        cli_output.print_json(out, [view.to_dict() for view in views])
        return
    if not views:
        out.print("no schedules (`batchwright schedule add` creates one)")
        return
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("name", "cron", "tz", "csv", "last run", "next run", "last result"):
        table.add_column(column, overflow="fold")
    for view in views:
        last = _local(view.last_slot, view)
        table.add_row(
            view.name,
            view.cron,
            view.timezone,
            Path(view.source).name,
            last,
            _when(view),
            _last(view),
        )
    out.print(table)


def _set_paused(name: str, paused: bool) -> None:
    with engine() as batch_engine:
        ScheduleStore(batch_engine.store).set_paused(name, paused, utc_now())


@schedule_app.command()
@with_global_options
@handle_errors
def pause(name: str) -> None:
    """Stop firing NAME's slots until `schedule resume`."""
    _set_paused(name, True)
    out.print(f"schedule {name} paused")


@schedule_app.command()
@with_global_options
@handle_errors
def resume(name: str) -> None:
    """Fire NAME's slots again, from the next one (the paused ones are not caught up)."""
    _set_paused(name, False)
    out.print(f"schedule {name} resumed")


@schedule_app.command()
@with_global_options
@handle_errors
def remove(name: str) -> None:
    """Delete NAME and its slot history; the batches it fired stay."""
    with engine() as batch_engine:
        ScheduleStore(batch_engine.store).remove(name)
    out.print(f"schedule {name} removed")


@schedule_app.command("run-due")
@with_global_options
@handle_errors
def run_due(json_: Annotated[bool, typer.Option("--json", help="One JSON array.")] = False) -> None:
    """Fire the slots due now, once, and run their batches here to the end (on the
    workers when BATCH_BROKER_URL is set). Exit 1 when a slot failed to fire.

    For hosts without the service (a system cron running it every minute) and tests."""
    with engine() as batch_engine:
        settings = batch_engine.settings
        launcher = on_workers() if settings.broker_url else run_in_process
        scheduler = Scheduler(
            batch_engine.store,
            launcher,
            lambda options: BatchEngine(config={**State.config, **options}),
        )
        results = asyncio.run(scheduler.tick(utc_now()))
    if json_:
        cli_output.print_json(out, [{**vars(r), "slot": r.slot.isoformat()} for r in results])
    else:
        for r in results:
            detail = f" {r.batch_id}" if r.batch_id else ""
            reason = f": {r.reason}" if r.reason else ""
            out.print(
                f"{r.schedule} {r.slot.isoformat(timespec='minutes')}: {r.outcome}{detail}{reason}"
            )
        if not results:
            out.print("nothing due")
    if any(r.outcome == "failed" for r in results):
        raise typer.Exit(EXIT_FAILED)
