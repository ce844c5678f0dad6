"""The dashboard's pages at ``/``: sign in, the batches, one batch, start a batch, the
groups, one group, the schedules.

Pages are read-only and server-rendered from the store; every change (signing in
and out, starting, cancelling, resuming, retrying) is the page's script calling the
API with the session cookie and the CSRF token. Not in the OpenAPI schema: these
routes answer HTML, not the API's JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from batch.exceptions import BatchNotFoundError
from batch.models import BatchManifest
from batch.schedule import list_schedules
from batch.service.dashboard.group_views import GroupView, group_view
from batch.service.dashboard.rendering import page, redirect, static_file
from batch.service.dashboard.schedule_views import schedule_row
from batch.service.dashboard.session import viewer_of
from batch.service.dashboard.views import RowCursor, RowsPage, batch_view, rows_page
from batch.service.deps import State
from batch.service.problems import Problem
from batch.service.state import ServiceState
from batch.store._schedules import ScheduleStore

__all__ = ["BATCHES_SHOWN", "GROUPS_SHOWN", "ROWS_PER_PAGE", "router"]

router = APIRouter(include_in_schema=False)

BATCHES_SHOWN = 100
"""The batches page lists the newest this many."""
GROUPS_SHOWN = 50
"""The groups page lists the newest this many (a manifest read per batch of each)."""
ROWS_PER_PAGE = 50
SIGN_IN = "/sign-in"


@router.get("/sign-in")
async def sign_in(request: Request, state: State) -> Response:
    if await viewer_of(request, state) is not None:
        return redirect("/")
    return page("sign_in.html.j2")


@router.get("/")
async def batches(request: Request, state: State) -> Response:
    viewer = await viewer_of(request, state)
    if viewer is None:
        return redirect(SIGN_IN)
    manifests = await run_in_threadpool(state.store.list_batches, BATCHES_SHOWN + 1)
    shown = manifests[:BATCHES_SHOWN]
    return page(
        "batches.html.j2",
        principal=viewer.principal,
        csrf_token=viewer.csrf_token,
        batches=[batch_view(m, state.launcher.state_of(m.batch_id)) for m in shown],
        more=len(manifests) > BATCHES_SHOWN,
    )


@dataclass(frozen=True, slots=True)
class _BatchRead:
    manifest: BatchManifest
    rows: RowsPage
    group_id: str | None
    schedule: str | None
    """The schedule that fired the batch, or its group."""


def _batch_and_rows(state: ServiceState, batch_id: str, cursor: RowCursor) -> _BatchRead | None:
    """The store's reads of the batch page (in a worker thread); None for no batch."""
    try:
        manifest = state.store.get_manifest(batch_id)
    except BatchNotFoundError:
        return None
    rows = rows_page(state.store, manifest, cursor, ROWS_PER_PAGE)
    group_id = state.store.groups_of([batch_id]).get(batch_id)
    schedules = ScheduleStore(state.store)
    fired = schedules.schedule_of(batch_id)
    if fired is None and group_id is not None:  # a schedule on a directory fires groups
        fired = schedules.schedule_of(group_id)
    return _BatchRead(manifest, rows, group_id, fired)


@router.get("/batches/{batch_id}")
async def batch(
    batch_id: str,
    request: Request,
    state: State,
    part: Literal["failures", "others"] = "failures",
    after: Annotated[int, Query(ge=-1)] = -1,
) -> Response:
    viewer = await viewer_of(request, state)
    if viewer is None:
        return redirect(SIGN_IN)
    cursor = RowCursor(failures=part == "failures", after=after)
    read = await run_in_threadpool(_batch_and_rows, state, batch_id, cursor)
    signed: dict[str, Any] = {"principal": viewer.principal, "csrf_token": viewer.csrf_token}
    if read is None:
        return page("not_found.html.j2", 404, detail=f"No batch {batch_id!r}.", **signed)
    found = read.rows
    return page(
        "batch.html.j2",
        b=batch_view(read.manifest, state.launcher.state_of(batch_id)),
        group_id=read.group_id,
        schedule=read.schedule,
        can_write=viewer.principal.scope == "write",
        rows=found.rows,
        key_columns=found.key_columns,
        first_page=cursor.first,
        next_url=None if found.next is None else f"?{found.next.query()}",
        **signed,
    )


@router.get("/start")
async def start(request: Request, state: State) -> Response:
    viewer = await viewer_of(request, state)
    if viewer is None:
        return redirect(SIGN_IN)
    return page("start.html.j2", principal=viewer.principal, csrf_token=viewer.csrf_token)


def _groups(state: ServiceState) -> tuple[list[GroupView], bool]:
    """The newest groups and whether there are more (in a worker thread)."""
    found, total = state.store.list_groups(limit=GROUPS_SHOWN)
    views = [group_view(state.store, g, state.launcher.state_of) for g in found]
    return views, total > len(found)


@router.get("/groups")
async def groups(request: Request, state: State) -> Response:
    viewer = await viewer_of(request, state)
    if viewer is None:
        return redirect(SIGN_IN)
    views, more = await run_in_threadpool(_groups, state)
    return page(
        "groups.html.j2",
        principal=viewer.principal,
        csrf_token=viewer.csrf_token,
        groups=views,
        more=more,
    )


def _group(state: ServiceState, group_id: str) -> GroupView | None:
    group = state.store.find_group(group_id)
    return None if group is None else group_view(state.store, group, state.launcher.state_of)


@router.get("/groups/{group_id}")
async def group(group_id: str, request: Request, state: State) -> Response:
    viewer = await viewer_of(request, state)
    if viewer is None:
        return redirect(SIGN_IN)
    view = await run_in_threadpool(_group, state, group_id)
    signed: dict[str, Any] = {"principal": viewer.principal, "csrf_token": viewer.csrf_token}
    if view is None:
        return page("not_found.html.j2", 404, detail=f"No group {group_id!r}.", **signed)
    can_write = viewer.principal.scope == "write"
    return page("group.html.j2", g=view, can_write=can_write, **signed)


@router.get("/schedules")
async def schedules(request: Request, state: State) -> Response:
    viewer = await viewer_of(request, state)
    if viewer is None:
        return redirect(SIGN_IN)
    views = await run_in_threadpool(list_schedules, state.store, datetime.now(UTC))
    return page(
        "schedules.html.j2",
        principal=viewer.principal,
        csrf_token=viewer.csrf_token,
        schedules=[schedule_row(v) for v in views],
        can_write=viewer.principal.scope == "write",
    )


@router.get("/static/{name}")
def static(name: str) -> Response:
    found = static_file(name)
    if found is None:
        raise Problem(404, detail=f"no static file {name!r}", field="name")
    return found
