"""From a create request to a stored batch: options, the flow, the CSV checks.

The CSV goes through the CLI's own checks (``batch.ingest``: path guard, size, MIME,
encoding, headers, the flow's columns) and their messages come back as problem
details naming the request field. An uploaded flow must be declarative (YAML or
JSON): a Python flow runs code, so it is only taken from ``flows_dir`` by name or
from a path under ``base_dir``, both chosen by whoever runs the server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from batch.exceptions import ConfigurationError, FileProcessingError, SecurityError
from batch.ingest.creation import create_batch
from batch.models import BatchManifest
from batch.service.problems import Problem, field_of
from batch.service.schemas import BatchOptions
from batch.service.uploads import Upload
from batch.settings import BatchSettings
from batch.store import ManifestStore
from runtime.flows.model import DECLARATIVE_SUFFIXES, Flow, load_flow

__all__ = [
    "BatchRequest",
    "create_from_request",
    "load_request_flow",
    "options_from_fields",
    "parse_json",
    "resolve_flow",
    "upload_flow",
]

_Body = TypeVar("_Body", bound=BaseModel)
_FLOW_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")
_FLOW_SUFFIXES = (*sorted(DECLARATIVE_SUFFIXES), ".py")


@dataclass(frozen=True)
class BatchRequest:
    """A checked create request, ready to become a batch."""

    csv: str
    """The CSV's path, relative to ``csv_root`` or absolute."""
    csv_field: str
    """The request field naming it (``csv`` or ``csv_path``), for errors."""
    csv_root: Path
    """Its base directory for the path guard (``base_dir``, or the upload's folder)."""
    flow: Path
    flow_field: str
    options: BatchOptions
    shown: Mapping[str, str]
    """Server paths -> what the client called them, so messages name its files."""


def options_from_fields(fields: Mapping[str, list[str]]) -> BatchOptions:
    """A multipart form's option fields (``secrets`` repeated or comma-separated)."""
    data: dict[str, object] = {}
    for name, values in fields.items():
        values = [value for value in values if value not in ("", "null")]  # noqa: PLW2901 - an empty field is an option not given
        if name == "flow_name" or not values:
            continue
        if name == "secrets":
            data[name] = [s.strip() for value in values for s in value.split(",") if s.strip()]
        else:
            data[name] = values[-1]
    return validate_options(data)


def parse_json(model: type[_Body], raw: bytes) -> _Body:
    """A JSON body as ``model``: 400 if it is not JSON, 422 naming the first bad field."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            raise Problem(400, detail="the body is not valid JSON", field="body") from None
        field = field_of(first["loc"]) or "body"
        raise Problem(422, detail=f"{field}: {first['msg']}", field=field) from None


def upload_flow(settings: BatchSettings, upload: Upload) -> tuple[Path, str, dict[str, str]]:
    """An upload's flow (its ``flow`` file or ``flow_name``), the field that named it,
    and the uploaded flow's server path -> client name (for messages)."""
    flow_file = upload.files.get("flow")
    names = [name for name in upload.fields.get("flow_name", []) if name not in ("", "null")]
    flow, flow_field = resolve_flow(
        settings,
        uploaded=None if flow_file is None else (flow_file.path, flow_file.filename),
        flow_name=names[-1] if names else None,
    )
    shown = {} if flow_file is None else {str(flow_file.path): flow_file.filename}
    return flow, flow_field, shown


def validate_options(data: Mapping[str, object]) -> BatchOptions:
    try:
        return BatchOptions.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = field_of(first["loc"]) or "options"
        raise Problem(422, detail=f"{field}: {first['msg']}", field=field) from None


def resolve_flow(
    settings: BatchSettings,
    *,
    uploaded: tuple[Path, str] | None = None,
    flow_name: str | None = None,
    flow_path: str | None = None,
) -> tuple[Path, str]:
    """The flow file of a request and the field that named it; exactly one is given."""
    given = [name for name, value in (("flow", uploaded), ("flow_name", flow_name),
                                       ("flow_path", flow_path)) if value is not None]  # fmt: skip
    if len(given) != 1:
        raise Problem(
            422,
            detail="give exactly one flow: an uploaded flow file (flow), the name of a flow "
            "registered on the server (flow_name), or a path under base_dir (flow_path)",
            field="flow",
        )
    if uploaded is not None:
        path, filename = uploaded
        if Path(filename).suffix.lower() not in DECLARATIVE_SUFFIXES:
            raise Problem(
                422,
                detail=f"flow {filename!r}: upload a .yaml, .yml or .json flow (Python flows "
                "run code: register them in the server's flows_dir and use flow_name)",
                field="flow",
            )
        return path, "flow"
    if flow_name is not None:
        return _registered(settings, flow_name), "flow_name"
    assert flow_path is not None
    return _under_base(settings, flow_path), "flow_path"


def _registered(settings: BatchSettings, name: str) -> Path:
    if settings.flows_dir is None:
        raise Problem(
            422, detail="this server has no registered flows (flows_dir)", field="flow_name"
        )
    if _FLOW_NAME.fullmatch(name) and ".." not in name:
        for candidate in (name, *(name + suffix for suffix in _FLOW_SUFFIXES)):
            path = settings.flows_dir / candidate
            if path.suffix.lower() in _FLOW_SUFFIXES and path.is_file():
                return path
    known = sorted(p.stem for p in settings.flows_dir.glob("*") if p.suffix in _FLOW_SUFFIXES)
    raise Problem(
        422,
        detail=f"no flow named {name!r} on this server; its flows: {', '.join(known) or 'none'}",
        field="flow_name",
    )


def _under_base(settings: BatchSettings, flow_path: str) -> Path:
    try:
        path = (settings.base_dir / flow_path).resolve()
    except (OSError, ValueError):  # a NUL, an unencodable character, a name too long
        path = Path("/")
    if not path.is_relative_to(settings.base_dir):
        raise Problem(
            422,
            detail=f"refused flow path {flow_path!r}: it is outside the base directory",
            field="flow_path",
        )
    if path.suffix.lower() not in _FLOW_SUFFIXES:
        raise Problem(
            422, detail=f"flow {flow_path!r}: expected a .yaml, .yml, .json or .py file",
            field="flow_path",
        )  # fmt: skip
    return path


def run_settings(settings: BatchSettings, options: BatchOptions) -> BatchSettings:
    """The server's settings with the request's options; a bad value is a 422 naming it."""
    overrides = {
        "concurrency": options.concurrency,
        "max_retries": options.retries,
        "isolation": options.isolation,
        "rate": options.rate,
        "priority": options.priority,
        "secrets": frozenset(options.secrets) or None,
        "max_failures": options.max_failures,
        "base_url": options.base_url,
    }
    try:
        return settings.with_overrides(**overrides)
    except ConfigurationError as exc:
        field = next((name for name in overrides if name in str(exc)), "options")
        field = "retries" if field == "max_retries" else field
        raise Problem(422, detail=str(exc), field=field) from None


def load_request_flow(flow: Path, field: str, shown: Mapping[str, str]) -> Flow:
    """The request's flow, loaded; a 422 naming ``field`` if it does not load."""
    try:
        return load_flow(flow)
    except ConfigurationError as exc:
        raise Problem(422, detail=_shown(str(exc), shown), field=field) from None


def create_from_request(
    request: BatchRequest, settings: BatchSettings, store: ManifestStore, run_id: str
) -> BatchManifest:
    """Load the flow, check the CSV and store the batch (blocking: run it in a thread)."""
    batch_settings = run_settings(settings, request.options)
    flow = load_request_flow(request.flow, request.flow_field, request.shown)
    guarded = batch_settings.with_overrides(base_dir=request.csv_root)
    try:
        return create_batch(request.csv, flow, guarded, store, run_id=run_id)
    except SecurityError as exc:
        status = 413 if "max_file_size_mb" in str(exc) else 422
        detail = _shown(str(exc), request.shown)
        raise Problem(status, detail=detail, field=request.csv_field) from None
    except (FileProcessingError, ConfigurationError) as exc:
        field = "secrets" if "secret column" in str(exc) else request.csv_field
        raise Problem(422, detail=_shown(str(exc), request.shown), field=field) from None
    except (OSError, ValueError) as exc:  # a path the file system refuses (too long, bad bytes)
        detail = f"{request.csv_field}: cannot read this path ({type(exc).__name__})"
        raise Problem(422, detail=detail, field=request.csv_field) from None


def _shown(message: str, shown: Mapping[str, str]) -> str:
    """The message with upload folders replaced by the client's file names."""
    for server_path, client_name in shown.items():
        message = message.replace(server_path, client_name)
    return " ".join(message.split())
