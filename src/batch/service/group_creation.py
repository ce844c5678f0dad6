"""From a group's create request to a stored group: one batch per CSV, each made like
the batch create route's (``creation.create_from_request``: the same path guard, CSV
checks and flow rules), the refused files named with their errors.

The flow and the options are checked once first: a bad one is the request's error
(422 naming its field), not every file's. A file the CSV checks refuse is recorded in
the group and the others still become batches; when every file is refused nothing is
stored and the request fails with 422 naming them.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request

from batch.groups import new_group_id
from batch.ingest.sources import expand_sources
from batch.models import BatchGroup, RefusedFile
from batch.service import creation
from batch.service.launcher import SERVICE_OPTIONS
from batch.service.problems import Problem
from batch.service.schemas import BatchOptions
from batch.service.schemas_groups import MAX_PATHS, CreateGroupFromPaths
from batch.service.uploads import read_upload
from batch.settings import BatchSettings
from batch.store import ManifestStore

__all__ = ["SOURCE_FILE", "GroupRequest", "create_group_from_request", "read_group_request"]

SOURCE_FILE = "source_file"
"""Key of a grouped batch's recorded settings: its file as the request named it."""


@dataclass
class GroupRequest:
    """A checked group request: its files (each as a batch request) and its flow."""

    flow: Path
    flow_field: str
    options: BatchOptions
    shown: Mapping[str, str]
    sources: list[str]
    """What the request named (uploads by file name), recorded with the group."""
    files: list[tuple[str, creation.BatchRequest]] = field(default_factory=list)
    """The uploads: (the file's name, its batch request), in order."""
    paths: list[str] = field(default_factory=list)
    """``csv_paths``: files, directories, glob patterns under ``base_dir``."""
    sha256: str = ""


async def read_group_request(
    request: Request, settings: BatchSettings, upload_dir: Path
) -> GroupRequest:
    """The request as a ``GroupRequest``: multipart (repeated ``csv`` files and/or
    ``csv_paths`` fields) or JSON (``csv_paths``)."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        await asyncio.to_thread(upload_dir.mkdir, parents=True)
        upload = await read_upload(
            content_type,
            request.stream(),
            upload_dir,
            settings.max_file_size_bytes,
            repeated=frozenset({"csv"}),
        )
        paths = [p for p in upload.fields.pop("csv_paths", []) if p not in ("", "null")]
        csvs = upload.every.get("csv", [])
        if not csvs and not paths:
            raise Problem(
                422,
                detail="csv: upload the CSV files as repeated 'csv' fields, or name files "
                "under base_dir in 'csv_paths'",
                field="csv",
            )
        options = creation.options_from_fields(upload.fields)
        flow, flow_field, shown = creation.upload_flow(settings, upload)
        sources = [*(c.filename for c in csvs), *paths]
        built = GroupRequest(flow, flow_field, options, shown, sources, paths=paths)
        built.sha256 = upload.sha256
        for csv in csvs:
            each = {**shown, str(csv.path): csv.filename}
            built.files.append(
                (
                    csv.filename,
                    creation.BatchRequest(
                        csv.path.name, "csv", upload_dir, flow, flow_field, options, each
                    ),
                )
            )
    elif content_type.split(";")[0].strip() == "application/json":
        body = creation.parse_json(CreateGroupFromPaths, await request.body())
        flow, flow_field = creation.resolve_flow(
            settings, flow_name=body.flow_name, flow_path=body.flow_path
        )
        options = BatchOptions.model_validate(
            body.model_dump(include=set(BatchOptions.model_fields))
        )
        paths = list(body.csv_paths)
        built = GroupRequest(flow, flow_field, options, {}, paths, paths=paths)
        built.sha256 = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    else:
        raise Problem(
            415,
            detail="send multipart/form-data (uploads) or application/json (paths)",
            field="Content-Type",
        )
    if len(paths) > MAX_PATHS:
        detail = f"csv_paths: at most {MAX_PATHS} (a directory or a pattern stands for many)"
        raise Problem(422, detail=detail, field="csv_paths")
    if any("\x00" in path for path in paths):
        raise Problem(422, detail="csv_paths: must not contain a NUL character", field="csv_paths")
    return built


def _with_paths(
    request: GroupRequest, settings: BatchSettings
) -> tuple[list[tuple[str, creation.BatchRequest]], list[RefusedFile]]:
    """The uploads, then each path's files (a directory's, a pattern's) under
    ``base_dir``; a path outside it, or one giving no file, refused by name."""
    found = expand_sources(request.paths, settings)
    files = list(request.files)
    for path in found.files:
        batch_request = creation.BatchRequest(
            str(path),
            "csv_paths",
            settings.base_dir,
            request.flow,
            request.flow_field,
            request.options,
            request.shown,
        )
        files.append((str(path), batch_request))
    return files, list(found.refused)


def create_group_from_request(
    request: GroupRequest,
    settings: BatchSettings,
    store: ManifestStore,
    check_room: Callable[[int], None],
) -> BatchGroup:
    """Check the flow and options, make a batch per file, then record the group
    (blocking: run it in a thread). 422 naming the files when every one is refused.
    ``check_room(n)`` raises if ``n`` more batches may not queue now (429)."""
    creation.run_settings(settings, request.options)
    flow = creation.load_request_flow(request.flow, request.flow_field, request.shown)
    files, refused = _with_paths(request, settings)
    check_room(len(files))
    made: list[str] = []
    recorded = request.options.model_dump(exclude_none=True, exclude_defaults=True)
    for name, batch_request in files:
        try:
            manifest = creation.create_from_request(batch_request, settings, store, "service")
        except Problem as problem:
            refused.append(RefusedFile(path=name, error=problem.detail))
            _forget_upload(batch_request)
            continue
        store.record_run_settings(manifest.batch_id, {SERVICE_OPTIONS: recorded, SOURCE_FILE: name})
        made.append(manifest.batch_id)
    if not made:
        named = "; ".join(f"{r.path}: {r.error}" for r in refused) or "no file given"
        field = "csv" if request.files else "csv_paths"
        raise Problem(422, detail=f"every file was refused: {named}", field=field)
    group_id = new_group_id()
    store.create_group(group_id, flow.source, request.sources)
    for batch_id in made:
        store.add_to_group(group_id, batch_id)
    if refused:
        store.record_refused(group_id, refused)
    return store.get_group(group_id)


def _forget_upload(request: creation.BatchRequest) -> None:
    """A refused upload is not kept (a path under base_dir is never touched)."""
    if request.csv_field == "csv":
        (request.csv_root / request.csv).unlink(missing_ok=True)
