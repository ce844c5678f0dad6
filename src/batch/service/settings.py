"""The service's options, mixed into ``BatchSettings`` (``BATCH_*`` like every other).

Here rather than in ``batch/settings.py`` so the service's pieces add their options
side by side without touching the batch's own.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

__all__ = ["ServiceSettings"]


class ServiceSettings(BaseModel):
    """Options of ``batchwright serve``."""

    service_host: str = "127.0.0.1"
    """Address ``serve`` binds to; loopback unless told otherwise (``--host``)."""
    service_port: int = Field(8080, ge=0, le=65535)
    """Port ``serve`` listens on (``--port``)."""
    cors_origins: tuple[str, ...] = ()
    """Origins allowed to call the API from a browser (JSON list); none by default."""
    max_body_kb: int = Field(1024, ge=1)
    """Largest request body other than a batch upload (whose CSV is bounded by
    ``max_file_size_mb``): a bigger one is refused with 413 while it streams."""
    session_ttl_s: float = Field(8 * 3600, gt=0)
    """How long a dashboard session cookie stays valid."""
    max_queued_batches: int = Field(10, ge=0)
    """Batches allowed to wait for a slot; one more is refused with 429 + Retry-After."""
    max_running_batches: int = Field(2, ge=1, le=64)
    """Batches the server runs at once (each with its own ``concurrency``)."""
    flows_dir: Path | None = None
    """Directory of the flows a batch may name (``flow_name``) instead of uploading one."""
