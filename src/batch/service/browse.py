"""What the read routes compute: pages of batches and rows (secrets masked), the
summary, the reports and the artifacts' files.

Kept out of the router so each route reads as the HTTP contract. Everything here
blocks (store reads, files): the routes are plain ``def`` and run in FastAPI's
thread pool, never in the event loop the in-process engine runs in.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import os
import tempfile
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from batch.models import BatchManifest, JobStatus
from batch.reports import REPORT_FILES, summarise, write_reports
from batch.reports.html import html_report
from batch.reports.rows import RowView, RowViewer
from batch.service.problems import Problem
from batch.service.schemas_read import (
    ArtifactOut,
    AttemptOut,
    BatchItem,
    BatchSummaryOut,
    RowOut,
)
from batch.store import BatchPosition, JobFilter, ManifestStore

__all__ = [
    "ARTIFACTS",
    "REPORT_TYPES",
    "artifact_file",
    "batch_dir",
    "batch_item",
    "content_type",
    "decode_batch_cursor",
    "decode_row_cursor",
    "encode_batch_cursor",
    "html_for_api",
    "report_file",
    "row_out",
    "rows_page",
    "secrets_of",
    "summary_of",
]

ARTIFACTS = "artifacts"
"""The artifacts route's last fixed segment; the served HTML report links through it."""

REPORT_TYPES = {
    "junit.xml": ("junit", "application/xml"),
    "results.csv": ("csv", "text/csv; charset=utf-8"),
    "summary.json": ("json", "application/json"),
}
"""The report files served from the batch's folder: name -> (format, content type)."""

_FALLBACK_TYPE = "application/octet-stream"
_EXTRA_TYPES = {".zip": "application/zip", ".webm": "video/webm", ".har": "application/json"}


def secrets_of(manifest: BatchManifest) -> list[str]:
    """The secret columns recorded when the batch was created (masked everywhere)."""
    return [str(column) for column in manifest.settings.get("secrets", [])]


# --- cursors -------------------------------------------------------------------------


def _encode(value: object) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode(cursor: str) -> object:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _bad_cursor() from None


def _bad_cursor() -> Problem:
    return Problem(
        422,
        detail="cursor: not a cursor this API returned (pass next_cursor as is)",
        field="cursor",
    )


def encode_batch_cursor(manifest: BatchManifest) -> str:
    return _encode({"t": manifest.created_at.isoformat(), "b": manifest.batch_id})


def decode_batch_cursor(cursor: str) -> BatchPosition:
    value = _decode(cursor)
    if not isinstance(value, dict) or not isinstance(value.get("b"), str):
        raise _bad_cursor()
    try:
        return BatchPosition(datetime.fromisoformat(str(value.get("t"))), value["b"])
    except ValueError:
        raise _bad_cursor() from None


def decode_row_cursor(cursor: str) -> int:
    value = _decode(cursor)
    after = value.get("r") if isinstance(value, dict) else None
    if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after < 2**62:
        raise _bad_cursor()
    return after


# --- batches -------------------------------------------------------------------------


def batch_item(manifest: BatchManifest) -> BatchItem:
    return BatchItem(
        batch_id=manifest.batch_id,
        status=manifest.status,
        flow_name=manifest.flow_name,
        flow_ref=manifest.flow_ref,
        csv_path=manifest.csv_path,
        created_at=manifest.created_at.isoformat(),
        total=manifest.total,
        counts={status.value: manifest.count(status) for status in JobStatus},
    )


def summary_of(store: ManifestStore, manifest: BatchManifest) -> BatchSummaryOut:
    """summary.json's document, computed from the store now (running batches too)."""
    summary, _ = summarise(
        manifest, store.iter_jobs(manifest.batch_id), secrets=secrets_of(manifest)
    )
    return BatchSummaryOut.model_validate(summary.to_dict())


# --- rows ----------------------------------------------------------------------------


def _artifact_url(batch_id: str, path: str) -> str:
    return f"/api/v1/batches/{quote(batch_id, safe='')}/{ARTIFACTS}/{quote(path, safe='/')}"


def row_out(batch_id: str, row: RowView) -> RowOut:
    return RowOut(
        number=row.number,
        line=row.line,
        status=row.status,
        flaky=row.flaky,
        values=row.values,
        category=row.category,
        message=row.message,
        duration_s=row.duration_s,
        extracted=row.extracted,
        attempts=[
            AttemptOut(
                number=a.number,
                ok=a.ok,
                category=a.category,
                message=a.message,
                duration_s=a.duration_s,
                artifacts=[
                    ArtifactOut(
                        kind=art.kind,
                        path=art.path,
                        name=art.name,
                        url=_artifact_url(batch_id, art.path),
                    )
                    for art in a.artifacts
                ],
            )
            for a in row.attempts
        ],
    )


def _shows(row: RowView, search: str) -> bool:
    """The search text appears in a value as shown (secrets masked): a secret value
    inside another column never makes a row match."""
    needle = search.lower()
    return any(needle in value.lower() for value in row.values.values())


def rows_page(
    store: ManifestStore,
    manifest: BatchManifest,
    filters: JobFilter,
    *,
    limit: int,
    after: int,
    offset: int,
) -> tuple[list[RowOut], str | None]:
    """Up to ``limit`` rows past row index ``after`` (then ``offset`` matches), and the
    cursor of the next page (None when there is none)."""
    viewer = RowViewer(manifest, secrets=secrets_of(manifest))
    batch_id = manifest.batch_id
    found: list[RowView] = []
    last_index: dict[int, int] = {}
    while True:
        page = store.browse_jobs(batch_id, filters, limit=limit + 1, after=after, offset=offset)
        offset = 0
        for job in page:
            row = viewer.view(job)
            if not filters.search or _shows(row, filters.search):
                found.append(row)
                last_index[id(row)] = job.row_index
        if len(found) > limit or len(page) <= limit:
            break
        after = page[-1].row_index
    items = found[:limit]
    more = len(found) > limit
    cursor = _encode({"r": last_index[id(items[-1])]}) if more and items else None
    return [row_out(batch_id, row) for row in items], cursor


# --- reports and artifacts -----------------------------------------------------------


def batch_dir(artifacts_dir: Path, manifest: BatchManifest) -> Path:
    return artifacts_dir / manifest.batch_id


def report_file(store: ManifestStore, manifest: BatchManifest, root: Path, name: str) -> Path:
    """The batch's report ``name`` in its folder, written from the store first when it
    is missing (as ``batchwright report`` would)."""
    fmt, _ = REPORT_TYPES[name]
    path = root / REPORT_FILES[fmt]
    if not path.is_file():
        write_reports(
            manifest,
            lambda: store.iter_jobs(manifest.batch_id),
            root,
            [fmt],
            secrets=secrets_of(manifest),
        )
    return path


def html_for_api(store: ManifestStore, manifest: BatchManifest) -> Path:
    """The HTML report rendered now into a temporary file (the caller deletes it), its
    evidence links relative ``artifacts/...``: from ``.../{id}/report.html`` they reach
    the artifacts route."""
    secrets = secrets_of(manifest)
    summary, _ = summarise(manifest, store.iter_jobs(manifest.batch_id), secrets=secrets)
    viewer = RowViewer(manifest, secrets=secrets, evidence=f"{ARTIFACTS}/")
    fd, name = tempfile.mkstemp(prefix="batchwright-report-", suffix=".html")
    os.close(fd)
    path = Path(name)
    try:
        with html_report(summary, viewer, path) as add:
            for job in store.iter_jobs(manifest.batch_id):
                add(viewer.view(job))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def artifact_file(root: Path, relative: str) -> tuple[Path, str]:
    """The file at ``relative`` inside ``root`` and its content type, or a 404: nothing
    outside the folder (``..``, absolute paths, symlinks leading out), no folders."""
    missing = Problem(404, detail=f"no artifact {relative!r} in this batch's folder")
    try:
        base = root.resolve(strict=True)
        target = (base / relative).resolve(strict=True)
    except (OSError, ValueError, RuntimeError):  # missing, NUL byte, symlink loop
        raise missing from None
    if not target.is_relative_to(base) or target == base or not target.is_file():
        raise missing
    return target, content_type(target)


def content_type(path: Path) -> str:
    guessed = _EXTRA_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
    kind = guessed or _FALLBACK_TYPE
    textual = kind.startswith("text/") or kind in {"application/json", "application/xml"}
    return f"{kind}; charset=utf-8" if textual and "charset" not in kind else kind
