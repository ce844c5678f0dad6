"""The read side of the API: batches (paged, filtered), one batch's summary, its rows
(paged, filtered, searched), its reports and its artifacts.

Secret columns are masked in every answer, as in the reports. The routes are plain
``def``: store reads and files block, so FastAPI runs them in its thread pool.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from batch.exceptions import BatchNotFoundError
from batch.models import BatchManifest, BatchStatus, JobStatus
from batch.service import browse
from batch.service.deps import Reader, State
from batch.service.problems import Problem, problem_responses
from batch.service.schemas_read import BatchPage, BatchSummaryOut, RowPage
from batch.store import BatchFilter, JobFilter
from runtime.outcome import ErrorCategory

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["batches"])

_MAX_OFFSET = 1_000_000_000
_MAX_SEARCH = 200
_FILE_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
_ARTIFACT_HEADERS = _FILE_HEADERS | {"Content-Security-Policy": "sandbox"}
"""An artifact (a page captured from a target site) runs no script in the API's origin."""

Limit = Annotated[int, Query(ge=1, le=500, description="Items per page.")]
Cursor = Annotated[
    str | None, Query(max_length=500, description="`next_cursor` of the previous page.")
]
Offset = Annotated[
    int | None, Query(ge=0, le=_MAX_OFFSET, description="Items to skip (instead of a cursor).")
]


def _manifest(state: State, batch_id: str) -> BatchManifest:
    try:
        return state.store.get_manifest(batch_id)
    except BatchNotFoundError:
        raise Problem(404, detail=f"no batch {batch_id!r}", field="batch_id") from None


def _one_of_cursor_or_offset(cursor: str | None, offset: int | None) -> None:
    if cursor is not None and offset is not None:
        raise Problem(422, detail="offset: give a cursor or an offset, not both", field="offset")


def _plain(value: str | None, field: str) -> str | None:
    """Text the store can hold: no NUL character (PostgreSQL refuses it in text)."""
    if value is not None and "\x00" in value:
        raise Problem(422, detail=f"{field}: must not contain a NUL character", field=field)
    return value


def _moment(value: datetime | None, field: str) -> datetime | None:
    """A time the store can compare: naive times are UTC; out of range is refused."""
    if value is None:
        return None
    try:
        (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        raise Problem(422, detail=f"{field}: a time out of range", field=field) from None
    return value


_NOT_FOUND = problem_responses(404)
_BAD = problem_responses(404, 422)


@router.get("/batches", response_model=BatchPage, responses=problem_responses(422))
def list_batches(
    state: State,
    _principal: Reader,
    *,
    limit: Limit = 50,
    cursor: Cursor = None,
    offset: Offset = None,
    status: Annotated[
        list[BatchStatus] | None, Query(description="Only these statuses (repeatable).")
    ] = None,
    flow: Annotated[str | None, Query(max_length=500, description="The flow's name.")] = None,
    created_after: Annotated[datetime | None, Query(description="ISO 8601; UTC if naive.")] = None,
    created_before: Annotated[datetime | None, Query(description="ISO 8601; UTC if naive.")] = None,
) -> BatchPage:
    """Batches, newest first."""
    _one_of_cursor_or_offset(cursor, offset)
    filters = BatchFilter(
        statuses=status,
        flow=_plain(flow, "flow"),
        created_after=_moment(created_after, "created_after"),
        created_before=_moment(created_before, "created_before"),
    )
    position = browse.decode_batch_cursor(cursor) if cursor is not None else None
    try:
        found, total = state.store.browse_batches(
            filters, limit=limit + 1, position=position, offset=offset or 0
        )
    except OverflowError:
        raise Problem(422, detail="cursor: a time out of range", field="cursor") from None
    items = found[:limit]
    more = len(found) > limit
    return BatchPage(
        items=[browse.batch_item(m) for m in items],
        total=total,
        next_cursor=browse.encode_batch_cursor(items[-1]) if more and items else None,
    )


@router.get("/batches/{batch_id}", response_model=BatchSummaryOut, responses=_NOT_FOUND)
def get_batch(batch_id: str, state: State, _principal: Reader) -> BatchSummaryOut:
    """The batch's summary (summary.json, docs/summary-json.md), computed now."""
    return browse.summary_of(state.store, _manifest(state, batch_id))


@router.get("/batches/{batch_id}/rows", response_model=RowPage, responses=_BAD)
def list_rows(
    batch_id: str,
    state: State,
    _principal: Reader,
    *,
    limit: Limit = 50,
    cursor: Cursor = None,
    offset: Offset = None,
    status: Annotated[
        list[JobStatus] | None, Query(description="Only rows in these statuses (repeatable).")
    ] = None,
    category: Annotated[
        list[ErrorCategory] | None,
        Query(description="Only rows whose error has these categories (repeatable)."),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=_MAX_SEARCH,
            description="A substring of one of the row's values (secret columns never searched).",
        ),
    ] = None,
) -> RowPage:
    """The batch's rows in CSV order."""
    _one_of_cursor_or_offset(cursor, offset)
    manifest = _manifest(state, batch_id)
    filters = JobFilter(
        statuses=status,
        categories=category,
        search=_plain(q, "q"),
        hidden=browse.secrets_of(manifest),
    )
    after = browse.decode_row_cursor(cursor) if cursor is not None else -1
    items, next_cursor = browse.rows_page(
        state.store, manifest, filters, limit=limit, after=after, offset=offset or 0
    )
    return RowPage(items=items, next_cursor=next_cursor)


def _report_responses(content_type: str) -> dict[int | str, dict[str, Any]]:
    ok: dict[int | str, dict[str, Any]] = {200: {"content": {content_type: {}}}}
    return ok | problem_responses(404)


@router.get(
    "/batches/{batch_id}/report.html",
    response_class=FileResponse,
    responses=_report_responses("text/html"),
)
def report_html(batch_id: str, state: State, _principal: Reader) -> FileResponse:
    """The HTML report, rendered now; its evidence links reach the artifacts route."""
    path = browse.html_for_api(state.store, _manifest(state, batch_id))
    return FileResponse(
        path,
        media_type="text/html; charset=utf-8",
        headers=_FILE_HEADERS,
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


def _report(batch_id: str, state: State, name: str) -> FileResponse:
    manifest = _manifest(state, batch_id)
    root = browse.batch_dir(state.settings.artifacts_dir, manifest)
    path = browse.report_file(state.store, manifest, root, name)
    _, media_type = browse.REPORT_TYPES[name]
    return FileResponse(path, media_type=media_type, headers=_FILE_HEADERS)


@router.get(
    "/batches/{batch_id}/junit.xml",
    response_class=FileResponse,
    responses=_report_responses("application/xml"),
)
def report_junit(batch_id: str, state: State, _principal: Reader) -> FileResponse:
    """The JUnit XML report (written from the store first if missing)."""
    return _report(batch_id, state, "junit.xml")


@router.get(
    "/batches/{batch_id}/results.csv",
    response_class=FileResponse,
    responses=_report_responses("text/csv"),
)
def report_csv(batch_id: str, state: State, _principal: Reader) -> FileResponse:
    """One line per row with its status and extracted values (written first if missing)."""
    return _report(batch_id, state, "results.csv")


@router.get(
    "/batches/{batch_id}/summary.json",
    response_class=FileResponse,
    responses=_report_responses("application/json"),
)
def report_summary(batch_id: str, state: State, _principal: Reader) -> FileResponse:
    """summary.json as written in the batch's folder (written first if missing)."""
    return _report(batch_id, state, "summary.json")


@router.get(
    "/batches/{batch_id}/artifacts/{path:path}",
    response_class=FileResponse,
    responses=_report_responses("application/octet-stream"),
)
def artifact(batch_id: str, path: str, state: State, _principal: Reader) -> FileResponse:
    """A file of the batch's folder (screenshots, traces, page captures); nothing outside."""
    manifest = _manifest(state, batch_id)
    root = browse.batch_dir(state.settings.artifacts_dir, manifest)
    if not root.resolve().is_relative_to(Path(state.settings.artifacts_dir).resolve()):
        raise Problem(404, detail=f"no artifact {path!r} in this batch's folder")
    target, media_type = browse.artifact_file(root, path)
    return FileResponse(target, media_type=media_type, headers=_ARTIFACT_HEADERS)
