"""The dashboard's pages at ``/``: sign in, the batches, one batch, start a batch.

Pages are read-only and server-rendered from the store; every change (signing in
and out, starting, cancelling, resuming, retrying) is the page's script calling the
API with the session cookie and the CSRF token. Not in the OpenAPI schema: these
routes answer HTML, not the API's JSON.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from batch.exceptions import BatchNotFoundError
from batch.models import BatchManifest
from batch.service.dashboard.rendering import page, redirect, static_file
from batch.service.dashboard.session import viewer_of
from batch.service.dashboard.views import RowCursor, RowsPage, batch_view, rows_page
from batch.service.deps import State
from batch.service.problems import Problem
from batch.service.state import ServiceState

__all__ = ["BATCHES_SHOWN", "ROWS_PER_PAGE", "router"]

router = APIRouter(include_in_schema=False)

BATCHES_SHOWN = 100
"""The batches page lists the newest this many."""
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


def _batch_and_rows(
    state: ServiceState, batch_id: str, cursor: RowCursor
) -> tuple[BatchManifest, RowsPage] | None:
    """The store's reads of the batch page (in a worker thread); None for no batch."""
    try:
        manifest = state.store.get_manifest(batch_id)
    except BatchNotFoundError:
        return None
    return manifest, rows_page(state.store, manifest, cursor, ROWS_PER_PAGE)


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
    manifest, found = read
    return page(
        "batch.html.j2",
        b=batch_view(manifest, state.launcher.state_of(batch_id)),
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


@router.get("/static/{name}")
def static(name: str) -> Response:
    found = static_file(name)
    if found is None:
        raise Problem(404, detail=f"no static file {name!r}", field="name")
    return found
