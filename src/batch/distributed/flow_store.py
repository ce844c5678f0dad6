"""A batch's flow, recorded in the store at creation so a worker needs no flow file.

Declarative flows (YAML, JSON) and ``.py`` flow files are recorded with their text
and its SHA-256; a ``package.module:function`` flow with the hash of its module's
source, which every worker must be able to import (checked when it starts and
before it runs a row). Relative paths inside a flow (uploads, ``python:`` files)
still resolve against the flow's original directory: on other machines it must be
on the shared volume.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import threading
from pathlib import Path
from typing import Any

from runtime.errors import ConfigurationError
from runtime.flows.model import Flow, load_flow, load_flow_text
from runtime.flows.python_flow import is_module_ref

__all__ = ["FlowCache", "flow_from_record", "flow_record"]

logger = logging.getLogger("batchwright.worker")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _module_file(ref: str) -> Path | None:
    spec = importlib.util.find_spec(ref.partition(":")[0])
    return Path(spec.origin) if spec and spec.origin and spec.has_location else None


def flow_record(flow: Flow) -> dict[str, Any]:
    """What a worker needs to load ``flow``: its text (or module) and the hash of it."""
    if is_module_ref(flow.source):
        origin = _module_file(flow.source)
        digest = _sha256(origin.read_bytes()) if origin else ""
        return {"ref": flow.source, "kind": "module", "sha256": digest}
    path = Path(flow.source)
    text = path.read_text(encoding="utf-8-sig")
    return {
        "ref": flow.source,
        "kind": "python_file" if path.suffix.lower() == ".py" else "declarative",
        "text": text,
        "sha256": _sha256(text.encode()),
        "directory": str(flow.directory or path.parent),
    }


def _python_file(record: dict[str, Any], cache_dir: Path) -> Path:
    """The recorded ``.py`` flow: its original file if unchanged, else a cached copy."""
    original = Path(record["ref"])
    if original.is_file() and _sha256(original.read_bytes()) == record["sha256"]:
        return original
    cached = cache_dir / f"{original.stem}_{record['sha256'][:16]}.py"
    if not cached.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        cached.write_text(record["text"], encoding="utf-8")
    return cached


def flow_from_record(record: dict[str, Any], cache_dir: Path) -> Flow:
    """Load a recorded flow on a worker; a module flow whose source differs from the
    one the batch was created with is refused (the rows would run other code)."""
    ref, kind = str(record["ref"]), record.get("kind")
    if kind == "module":
        flow = load_flow(ref)
        origin = _module_file(ref)
        found = _sha256(origin.read_bytes()) if origin else ""
        if record.get("sha256") and found != record["sha256"]:
            raise ConfigurationError(
                f"Python flow {ref}: this worker's {origin} differs from the module the "
                "batch was created with (sha256 mismatch); deploy the same version"
            )
        return flow
    if _sha256(str(record["text"]).encode()) != record["sha256"]:
        raise ConfigurationError(f"flow {ref}: recorded text does not match its sha256")
    if kind == "python_file":
        return load_flow(_python_file(record, cache_dir))
    return load_flow_text(record["text"], source=ref, directory=Path(record["directory"]))


class FlowCache:
    """One loaded flow per batch for the worker's life (flows never change in a batch)."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self._flows: dict[str, Flow] = {}
        self._lock = threading.Lock()

    def get(self, batch_id: str, settings: dict[str, Any]) -> Flow:
        with self._lock:
            if batch_id not in self._flows:
                record = settings.get("flow")
                if not isinstance(record, dict):
                    raise ConfigurationError(
                        f"batch {batch_id} has no recorded flow: it was created by an "
                        "older batchwright; resume it without workers"
                    )
                self._flows[batch_id] = flow_from_record(record, self.cache_dir)
                logger.info("batch %s: flow %s loaded", batch_id, record["ref"])
            return self._flows[batch_id]

    def forget(self, batch_id: str) -> None:
        """Drop a finished batch's flow (loaded again if one of its rows comes back)."""
        with self._lock:
            self._flows.pop(batch_id, None)
