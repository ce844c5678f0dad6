"""The write side of ``/api/v1/batches``: create, cancel, resume, retry, review.

Create takes a multipart upload (``csv`` file, a ``flow`` file or ``flow_name``, the
options as fields) or JSON naming files under ``base_dir``; either way the batch is
checked like the CLI's and queued on the launcher, answered 202 with a Location.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import shutil
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response

from batch.exceptions import BatchBusyError, BatchNotFoundError, StoreError
from batch.models import BatchManifest, JobStatus
from batch.service import creation
from batch.service.deps import Principal, State, Writer
from batch.service.idempotency import one_at_a_time
from batch.service.launcher import SERVICE_OPTIONS
from batch.service.problems import Problem, problem_responses
from batch.service.schemas import BatchInfo, BatchOptions, CreateFromPaths, RetryBody, ReviewBody
from batch.service.state import ServiceState
from batch.service.uploads import read_upload

__all__ = ["option_form_fields", "refuse_when_full", "router"]

router = APIRouter(prefix="/api/v1/batches", tags=["batches"])

RETRY_AFTER_S = 30


def option_form_fields() -> dict[str, Any]:
    """The options as form fields: a field is a string, left out (or empty) when unset."""
    fields: dict[str, Any] = {}
    for name, schema in BatchOptions.model_json_schema()["properties"].items():
        choices = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
        fields[name] = choices[0] if len(choices) == 1 else {"anyOf": choices}
    return fields


_CREATE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["csv"],
                    "properties": {
                        "csv": {"type": "string", "format": "binary"},
                        "flow": {"type": "string", "format": "binary"},
                        "flow_name": {"type": "string"},
                        **option_form_fields(),
                    },
                }
            },
            "application/json": {"schema": CreateFromPaths.model_json_schema()},
        },
    }
}


def batch_info(state: ServiceState, manifest: BatchManifest) -> BatchInfo:
    return BatchInfo(
        batch_id=manifest.batch_id,
        status=manifest.status.value,
        run=state.launcher.state_of(manifest.batch_id),
        flow_name=manifest.flow_name,
        created_at=manifest.created_at,
        total=manifest.total,
        counts={status.value: manifest.counts.get(status, 0) for status in JobStatus},
    )


def _manifest(state: ServiceState, batch_id: str) -> BatchManifest:
    try:
        return state.store.get_manifest(batch_id)
    except BatchNotFoundError:
        raise Problem(404, detail=f"no batch {batch_id!r}", field="batch_id") from None


def _not_busy(state: ServiceState, batch_id: str) -> None:
    if state.launcher.busy(batch_id):
        raise Problem(
            409,
            detail=f"batch {batch_id} is running (or queued): cancel it first, or wait",
            field="batch_id",
        )


def refuse_when_full(state: ServiceState, batches: int = 1) -> None:
    """429 when ``batches`` more would make more than ``max_queued_batches`` wait."""
    launcher, settings = state.launcher, state.settings
    if launcher.on_workers:
        return
    free = max(0, settings.max_running_batches - launcher.running())
    waiting = launcher.queued() + max(0, batches - free)
    if waiting > settings.max_queued_batches:
        raise Problem(
            429,
            detail=f"{launcher.queued()} batches wait already; with {batches} more, {waiting} "
            f"would (max_queued_batches={settings.max_queued_batches}); try again later",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )


async def _read_request(
    request: Request, state: ServiceState, upload_dir: Path
) -> tuple[creation.BatchRequest, str]:
    """The request as a ``BatchRequest`` and its hash (for Idempotency-Key)."""
    content_type = request.headers.get("content-type", "")
    settings = state.settings
    if content_type.startswith("multipart/form-data"):
        await asyncio.to_thread(upload_dir.mkdir, parents=True)
        upload = await read_upload(
            content_type, request.stream(), upload_dir, settings.max_file_size_bytes
        )
        csv = upload.files.get("csv")
        if csv is None:
            raise Problem(422, detail="csv: upload the CSV file as the 'csv' field", field="csv")
        options = creation.options_from_fields(upload.fields)
        flow, flow_field, shown = creation.upload_flow(settings, upload)
        shown[str(csv.path)] = csv.filename
        built = creation.BatchRequest(
            csv.path.name, "csv", upload_dir, flow, flow_field, options, shown
        )
        return built, upload.sha256
    if content_type.split(";")[0].strip() == "application/json":
        body = creation.parse_json(CreateFromPaths, await request.body())
        flow, flow_field = creation.resolve_flow(
            settings, flow_name=body.flow_name, flow_path=body.flow_path
        )
        options = BatchOptions.model_validate(
            body.model_dump(include=set(BatchOptions.model_fields))
        )
        built = creation.BatchRequest(
            body.csv_path, "csv_path", settings.base_dir, flow, flow_field, options, {}
        )
        digest = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
        return built, digest
    raise Problem(
        415,
        detail="send multipart/form-data (an upload) or application/json (paths)",
        field="Content-Type",
    )


@router.post(
    "",
    status_code=202,
    response_model=BatchInfo,
    responses=problem_responses(400, 401, 403, 409, 413, 415, 422, 429),
    openapi_extra=_CREATE_BODY,
)
async def create(
    request: Request,
    response: Response,
    principal: Writer,
    state: State,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> BatchInfo:
    """Create a batch from an uploaded CSV (or one under base_dir) and queue it."""
    refuse_when_full(state)
    if idempotency_key is None:
        return await _create(request, response, principal, state, None)
    # the same key twice at once: the second waits, then replays
    async with one_at_a_time(principal.key_id, idempotency_key):
        return await _create(request, response, principal, state, idempotency_key)


async def _create(
    request: Request,
    response: Response,
    principal: Principal,
    state: ServiceState,
    idempotency_key: str | None,
) -> BatchInfo:
    upload_dir = state.settings.artifacts_dir / "uploads" / secrets.token_hex(8)
    try:
        built, digest = await _read_request(request, state, upload_dir)
        if idempotency_key is not None:
            earlier = state.idempotency.find(principal.key_id, idempotency_key)
            if earlier is not None:
                shutil.rmtree(upload_dir, ignore_errors=True)
                return _replayed(state, response, earlier.request_sha256, digest, earlier.batch_id)
        manifest = await asyncio.to_thread(
            creation.create_from_request, built, state.settings, state.store, "service"
        )
    except BaseException:
        shutil.rmtree(upload_dir, ignore_errors=True)
        raise
    recorded = built.options.model_dump(exclude_none=True, exclude_defaults=True)
    state.store.record_run_settings(manifest.batch_id, {SERVICE_OPTIONS: recorded})
    if idempotency_key is not None:
        kept = state.idempotency.remember(
            principal.key_id, idempotency_key, digest, manifest.batch_id
        )
        if kept.batch_id != manifest.batch_id:  # another server process won the race
            return _replayed(state, response, kept.request_sha256, digest, kept.batch_id)
    state.launcher.start(manifest.batch_id)
    response.headers["Location"] = f"/api/v1/batches/{manifest.batch_id}"
    return batch_info(state, state.store.get_manifest(manifest.batch_id))


def _replayed(
    state: ServiceState, response: Response, first_hash: str, digest: str, batch_id: str
) -> BatchInfo:
    if first_hash != digest:
        raise Problem(
            422,
            detail="this Idempotency-Key was used for a different request: use a new key "
            "for a new batch",
            field="Idempotency-Key",
        )
    response.headers["Location"] = f"/api/v1/batches/{batch_id}"
    response.headers["Idempotent-Replayed"] = "true"
    return batch_info(state, state.store.get_manifest(batch_id))


@router.post(
    "/{batch_id}/cancel",
    status_code=202,
    response_model=BatchInfo,
    responses=problem_responses(401, 403, 404),
)
async def cancel(batch_id: str, _principal: Writer, state: State) -> BatchInfo:
    """Stop the batch wherever it runs; its running rows finish; resumable."""
    _manifest(state, batch_id)
    state.launcher.cancel(batch_id)
    return batch_info(state, _manifest(state, batch_id))


@router.post(
    "/{batch_id}/resume",
    status_code=202,
    response_model=BatchInfo,
    responses=problem_responses(401, 403, 404, 409, 429),
)
async def resume(batch_id: str, _principal: Writer, state: State) -> BatchInfo:
    """Run what a stopped batch left: pending, cancelled and interrupted rows."""
    manifest = _manifest(state, batch_id)
    _not_busy(state, batch_id)
    left = sum(manifest.counts.get(s, 0) for s in (JobStatus.PENDING, JobStatus.CANCELLED))
    left += manifest.counts.get(JobStatus.RUNNING, 0)
    if not left:
        raise Problem(
            409,
            detail=f"batch {batch_id} has nothing to resume (retry runs its failed rows)",
            field="batch_id",
        )
    refuse_when_full(state)
    state.launcher.start(batch_id, resume=True)
    return batch_info(state, _manifest(state, batch_id))


@router.post(
    "/{batch_id}/retry",
    status_code=202,
    response_model=BatchInfo,
    responses=problem_responses(401, 403, 404, 409, 422, 429),
)
async def retry(
    batch_id: str, _principal: Writer, state: State, body: RetryBody | None = None
) -> BatchInfo:
    """Run failed rows again: all, or those with these job ids or error categories."""
    _manifest(state, batch_id)
    _not_busy(state, batch_id)
    refuse_when_full(state)
    wanted = body or RetryBody()
    engine = state.launcher.engine_for(batch_id)
    try:
        request = engine.retry_batch_jobs(
            batch_id, wanted.job_ids, categories=wanted.categories, max_retries=wanted.retries
        )
    except BatchBusyError as exc:
        raise Problem(409, detail=str(exc), field="batch_id") from None
    if not request["requeued"]:
        raise Problem(
            409, detail=f"batch {batch_id} has no failed rows matching the request", field="job_ids"
        )
    state.launcher.start(batch_id)
    return batch_info(state, _manifest(state, batch_id))


@router.post(
    "/{batch_id}/review",
    response_model=BatchInfo,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def review(batch_id: str, body: ReviewBody, _principal: Writer, state: State) -> BatchInfo:
    """Settle rows of unknown outcome; ``pending`` ones run again (``resume``)."""
    _manifest(state, batch_id)
    _not_busy(state, batch_id)
    engine = state.launcher.engine_for(batch_id)
    try:
        settled = engine.settle_review(batch_id, JobStatus(body.decision), body.job_ids)
    except StoreError as exc:
        raise Problem(422, detail=str(exc), field="job_ids") from None
    if settled and body.decision == "pending" and body.resume:
        state.launcher.start(batch_id, resume=True)
    return batch_info(state, _manifest(state, batch_id))
