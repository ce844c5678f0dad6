"""``/api/v1/schedules``: list, add, get, pause, resume and remove the schedules the
servers on this store fire (``batchwright schedule ...`` over HTTP).

Adding checks what ``schedule add`` checks (``add_schedule``), and what the create
route checks of its paths: the CSV under ``base_dir``, a Python flow only by name
(``flows_dir``) or path under ``base_dir``. Every refusal names the request field.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Response

from batch.exceptions import ConfigurationError
from batch.schedule import ScheduleView, add_schedule, list_schedules
from batch.schedule.cron import parse_cron, parse_zone
from batch.service import creation
from batch.service.deps import Reader, State, Writer
from batch.service.problems import Problem, problem_responses
from batch.service.schemas_schedules import LastBatch, ScheduleCreate, ScheduleInfo
from batch.service.state import ServiceState
from batch.store._schedules import ScheduleStore
from runtime.flows.model import load_flow

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"])

_OPTION_FIELDS = {
    "concurrency": "concurrency",
    "retries": "max_retries",
    "isolation": "isolation",
    "rate": "rate",
    "priority": "priority",
    "secrets": "secrets",
    "max_failures": "max_failures",
    "base_url": "base_url",
}
"""Request field -> the setting a schedule keeps (``definitions.RUN_OPTIONS``)."""


def _now() -> datetime:
    return datetime.now(UTC)


def _info(view: ScheduleView) -> ScheduleInfo:
    state = view.last_batch
    return ScheduleInfo(
        name=view.name,
        cron=view.cron,
        timezone=view.timezone,
        csv_path=view.source,
        flow=view.flow,
        paused=view.paused,
        next_run=view.next_run,
        last_slot=view.last_slot,
        last_outcome=view.last_outcome,  # type: ignore[arg-type]  # the store writes only these
        last_reason=view.last_reason,
        last_batch_id=view.last_batch_id,
        last_batch=LastBatch.model_validate(state) if state else None,
        options=dict(view.options),
    )


def _view(state: ServiceState, name: str) -> ScheduleInfo:
    for view in list_schedules(state.store, _now()):
        if view.name == name:
            return _info(view)
    raise Problem(404, detail=f"no schedule {name!r}", field="name")


def _checked_csv(state: ServiceState, csv_path: str) -> Path:
    base_dir = state.settings.base_dir
    try:
        path = (base_dir / csv_path).resolve()
    except (OSError, ValueError):  # a NUL, an unencodable character, a name too long
        path = Path("/")
    if not path.is_relative_to(base_dir.resolve()):
        raise Problem(
            422,
            detail=f"refused CSV path {csv_path!r}: it is outside the base directory",
            field="csv_path",
        )
    return path


def _checked_timing(cron: str, timezone: str) -> None:
    try:
        parse_zone(timezone)
    except ConfigurationError as exc:
        detail = "timezone" + str(exc).removeprefix("--tz")
        raise Problem(422, detail=detail, field="timezone") from None
    try:
        parse_cron(cron, timezone)
    except ConfigurationError as exc:
        raise Problem(422, detail=str(exc).removeprefix("--"), field="cron") from None


def _add(state: ServiceState, body: ScheduleCreate) -> ScheduleInfo:
    """Check the request and store the schedule (blocking: the flow loads)."""
    _checked_timing(body.cron, body.timezone)
    csv = _checked_csv(state, body.csv_path)
    flow, flow_field = creation.resolve_flow(
        state.settings, flow_name=body.flow_name, flow_path=body.flow_path
    )
    try:
        load_flow(flow)
    except ConfigurationError as exc:
        raise Problem(422, detail=" ".join(str(exc).split()), field=flow_field) from None
    given = body.model_dump(include=set(_OPTION_FIELDS), exclude_defaults=True)
    options: dict[str, Any] = {_OPTION_FIELDS[name]: value for name, value in given.items()}
    if any(record.name == body.name for record in ScheduleStore(state.store).all()):
        raise Problem(409, detail=f"a schedule named {body.name!r} already exists", field="name")
    try:
        add_schedule(
            state.store, body.name, body.cron, body.timezone, csv, str(flow), options,
            state.settings, _now(),
        )  # fmt: skip
    except ConfigurationError as exc:
        message = " ".join(str(exc).replace(str(csv), body.csv_path).split())
        if "already exists" in message:  # added by another request meanwhile
            raise Problem(409, detail=message, field="name") from None
        field = next((f for f, s in _OPTION_FIELDS.items() if f"'{s}'" in message), "csv_path")
        raise Problem(422, detail=message, field=field) from None
    return _view(state, body.name)


@router.get("", response_model=list[ScheduleInfo], responses=problem_responses(401))
async def list_(_principal: Reader, state: State) -> list[ScheduleInfo]:
    """Every schedule: its cron, next and last run, and its last result."""
    views = await asyncio.to_thread(list_schedules, state.store, _now())
    return [_info(view) for view in views]


@router.post(
    "",
    status_code=201,
    response_model=ScheduleInfo,
    responses=problem_responses(401, 403, 409, 422),
)
async def add(
    body: ScheduleCreate, response: Response, _principal: Writer, state: State
) -> ScheduleInfo:
    """Add a schedule: a batch of the CSV at every slot of the cron in the zone."""
    info = await asyncio.to_thread(_add, state, body)
    response.headers["Location"] = f"/api/v1/schedules/{info.name}"
    return info


# pause and resume come before /{name} in the schema: a client walking it in order (the
# fuzz test) tries them on a schedule before DELETE removes it
def _set_paused(state: ServiceState, name: str, paused: bool) -> ScheduleInfo:
    try:
        ScheduleStore(state.store).set_paused(name, paused, _now())
    except ConfigurationError:
        raise Problem(404, detail=f"no schedule {name!r}", field="name") from None
    return _view(state, name)


@router.post(
    "/{name}/pause", response_model=ScheduleInfo, responses=problem_responses(401, 403, 404)
)
async def pause(name: str, _principal: Writer, state: State) -> ScheduleInfo:
    """Fire none of its slots until resumed."""
    return await asyncio.to_thread(_set_paused, state, name, True)


@router.post(
    "/{name}/resume", response_model=ScheduleInfo, responses=problem_responses(401, 403, 404)
)
async def resume(name: str, _principal: Writer, state: State) -> ScheduleInfo:
    """Fire its slots again from the next one (those paused through are not caught up)."""
    return await asyncio.to_thread(_set_paused, state, name, False)


@router.get("/{name}", response_model=ScheduleInfo, responses=problem_responses(401, 404))
async def get(name: str, _principal: Reader, state: State) -> ScheduleInfo:
    """One schedule, as the list shows it."""
    return await asyncio.to_thread(_view, state, name)


@router.delete("/{name}", status_code=204, responses=problem_responses(401, 403, 404))
async def remove(name: str, _principal: Writer, state: State) -> Response:
    """Delete the schedule and its slot history; the batches it fired stay."""
    try:
        await asyncio.to_thread(ScheduleStore(state.store).remove, name)
    except ConfigurationError:
        raise Problem(404, detail=f"no schedule {name!r}", field="name") from None
    return Response(status_code=204)
