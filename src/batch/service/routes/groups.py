"""``/api/v1/groups``: many CSVs in one request, one batch each (docs/groups.md).

Create takes several uploaded ``csv`` files and/or ``csv_paths`` under ``base_dir``,
one flow and the run options, as the batch create route does; each batch made is
started on the server's launcher (so ``max_running_batches``, live progress, webhooks
and the workers apply to each). The reads compute the group's status from the store;
its report is the CLI's index page with its links through the batch report route.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import HTMLResponse

from batch.engine import BatchEngine
from batch.exceptions import BatchNotFoundError
from batch.groups import GroupSummary, summarise_group
from batch.groups.report import render_index
from batch.service.deps import Principal, Reader, State, Writer
from batch.service.group_creation import (
    SOURCE_FILE,
    create_group_from_request,
    read_group_request,
)
from batch.service.idempotency import one_at_a_time
from batch.service.problems import Problem, problem_responses
from batch.service.routes.batches_write import option_form_fields, refuse_when_full
from batch.service.schemas_groups import (
    CreateGroupFromPaths,
    GroupBatchOut,
    GroupItem,
    GroupOut,
    GroupPage,
    RefusedOut,
)
from batch.service.state import ServiceState
from batch.store._idempotency import Remembered
from runtime.run_context import RunContext

__all__ = ["router"]

PREFIX = "/api/v1/groups"
router = APIRouter(prefix=PREFIX, tags=["groups"])

_KEY_SPACE = "group\n"
"""Before a group's Idempotency-Key in the store: a header value never holds a newline,
so a group's key never meets a batch's."""
_FILE_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
_HTML: dict[int | str, dict[str, Any]] = {200: {"content": {"text/html": {}}}}

_CREATE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "csv": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "csv_paths": {"type": "array", "items": {"type": "string"}},
                        "flow": {"type": "string", "format": "binary"},
                        "flow_name": {"type": "string"},
                        **option_form_fields(),
                    },
                }
            },
            "application/json": {"schema": CreateGroupFromPaths.model_json_schema()},
        },
    }
}


def _engine(state: ServiceState) -> BatchEngine:
    """An engine on the server's store, for the group functions (never closed: the
    store is the server's)."""
    return BatchEngine(RunContext(settings=state.settings), store=state.store)


def _summary(state: ServiceState, group_id: str) -> GroupSummary:
    try:
        return summarise_group(_engine(state), group_id)
    except BatchNotFoundError:
        raise Problem(404, detail=f"no group {group_id!r}", field="group_id") from None


def group_out(state: ServiceState, summary: GroupSummary) -> GroupOut:
    """The group's status as the API answers it (blocking: store reads)."""
    files = {
        b.batch_id: str(state.store.get_manifest(b.batch_id).settings.get(SOURCE_FILE) or "")
        for b in summary.batches
    }
    return GroupOut(
        group_id=summary.group_id,
        created_at=summary.group.created_at,
        flow_ref=summary.group.flow_ref,
        sources=list(summary.group.sources),
        status=summary.status,  # type: ignore[arg-type]  # one of BatchStatus's values
        ok=summary.ok,
        total=summary.total,
        counts=summary.counts,
        success_rate=summary.success_rate,
        has_failures=summary.has_failures,
        refused=[RefusedOut(path=r.path, error=r.error) for r in summary.group.refused],
        pruned=list(summary.group.pruned),
        batches=[
            GroupBatchOut(
                batch_id=b.batch_id,
                file=files[b.batch_id] or b.csv_path,
                csv_path=b.csv_path,
                status=b.status,
                run=state.launcher.state_of(b.batch_id),
                total=b.total,
                counts=dict(b.counts),
                success_rate=b.success_rate,
                has_failures=b.has_failures,
                stop_reason=b.stop_reason,
                artifact_cap_reached=b.artifact_cap_reached,
                report=f"/api/v1/batches/{b.batch_id}/report.html",
            )
            for b in summary.batches
        ],
        report=f"{PREFIX}/{summary.group_id}/report",
    )


@router.post(
    "",
    status_code=201,
    response_model=GroupOut,
    responses=problem_responses(400, 401, 403, 413, 415, 422, 429),
    openapi_extra=_CREATE_BODY,
)
async def create(
    request: Request,
    response: Response,
    principal: Writer,
    state: State,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> GroupOut:
    """Create a group (a batch per CSV; refused files named) and start its batches."""
    refuse_when_full(state)
    if idempotency_key is None:
        return await _create(request, response, principal, state, None)
    key = _KEY_SPACE + idempotency_key
    async with one_at_a_time(principal.key_id, key):  # the same key at once: wait, replay
        return await _create(request, response, principal, state, key)


async def _create(
    request: Request,
    response: Response,
    principal: Principal,
    state: ServiceState,
    key: str | None,
) -> GroupOut:
    upload_dir = state.settings.artifacts_dir / "uploads" / secrets.token_hex(8)
    try:
        built = await read_group_request(request, state.settings, upload_dir)
        if key is not None:
            earlier = state.idempotency.find(principal.key_id, key)
            if earlier is not None:
                shutil.rmtree(upload_dir, ignore_errors=True)
                return await _replayed(state, response, earlier, built.sha256)
        group = await asyncio.to_thread(
            create_group_from_request,
            built,
            state.settings,
            state.store,
            lambda batches: refuse_when_full(state, batches),
        )
    except BaseException:
        shutil.rmtree(upload_dir, ignore_errors=True)
        raise
    with contextlib.suppress(OSError):  # only csv_paths, no flow uploaded: nothing kept
        upload_dir.rmdir()
    if key is not None:
        first = group.batch_ids[0]
        kept = state.idempotency.remember(principal.key_id, key, built.sha256, first)
        if kept.batch_id != first:  # another server process won the race
            return await _replayed(state, response, kept, built.sha256)
    for batch_id in group.batch_ids:
        state.launcher.start(batch_id)
    response.headers["Location"] = f"{PREFIX}/{group.group_id}"
    summary = await asyncio.to_thread(_summary, state, group.group_id)
    return await asyncio.to_thread(group_out, state, summary)


async def _replayed(
    state: ServiceState, response: Response, earlier: Remembered, digest: str
) -> GroupOut:
    """The group the key made first (its first batch is what the store remembers)."""
    group_id = state.store.groups_of([earlier.batch_id]).get(earlier.batch_id)
    if earlier.request_sha256 != digest or group_id is None:
        raise Problem(
            422,
            detail="this Idempotency-Key was used for a different request: use a new key "
            "for a new group",
            field="Idempotency-Key",
        )
    response.headers["Location"] = f"{PREFIX}/{group_id}"
    response.headers["Idempotent-Replayed"] = "true"
    summary = await asyncio.to_thread(_summary, state, group_id)
    return await asyncio.to_thread(group_out, state, summary)


@router.get("", response_model=GroupPage, responses=problem_responses(422))
def list_groups(
    state: State,
    _principal: Reader,
    *,
    limit: Annotated[int, Query(ge=1, le=100, description="Groups per page.")] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000, description="Groups to skip.")] = 0,
) -> GroupPage:
    """Groups, newest first."""
    found, total = state.store.list_groups(limit=limit, offset=offset)
    return GroupPage(
        items=[
            GroupItem(
                group_id=g.group_id,
                created_at=g.created_at,
                flow_ref=g.flow_ref,
                sources=list(g.sources),
                batch_ids=list(g.batch_ids),
                refused=len(g.refused),
            )
            for g in found
        ],
        total=total,
        next_offset=offset + len(found) if offset + len(found) < total and found else None,
    )


@router.get("/{group_id}", response_model=GroupOut, responses=problem_responses(404))
def get_group(group_id: str, state: State, _principal: Reader) -> GroupOut:
    """The group's status: each batch's, the totals, the refused files, ``ok``."""
    return group_out(state, _summary(state, group_id))


@router.get(
    "/{group_id}/report",
    response_class=HTMLResponse,
    responses=_HTML | problem_responses(404),
)
def report(group_id: str, state: State, _principal: Reader) -> HTMLResponse:
    """The group's index page (totals, a line per file, the refused files), rendered
    now; each batch's line links to its report through the API."""
    summary = _summary(state, group_id)
    # relative to this page (…/groups/{id}/report): works behind a path prefix too
    links = {b.batch_id: Path(f"../../batches/{b.batch_id}/report.html") for b in summary.batches}
    return HTMLResponse(render_index(summary, links), headers=_FILE_HEADERS)


@router.post(
    "/{group_id}/cancel",
    status_code=202,
    response_model=GroupOut,
    responses=problem_responses(401, 403, 404),
)
async def cancel(group_id: str, _principal: Writer, state: State) -> GroupOut:
    """Stop every batch of the group wherever it runs; running rows finish; each stays
    resumable (``POST /api/v1/batches/{id}/resume``)."""
    summary = await asyncio.to_thread(_summary, state, group_id)
    for batch_id in summary.group.batch_ids:
        state.launcher.cancel(batch_id)  # in the loop: it cancels the queued runs' tasks
    summary = await asyncio.to_thread(_summary, state, group_id)
    return await asyncio.to_thread(group_out, state, summary)
