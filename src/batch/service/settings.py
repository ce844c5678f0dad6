"""The service's options, mixed into ``BatchSettings`` (``BATCH_*`` like every other).

Here rather than in ``batch/settings.py`` so the service's pieces add their options
side by side without touching the batch's own.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from batch.notify.signing import check_webhook_url

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

    # --- schedules and retention (docs/schedules.md) ----------------------------------
    schedules: bool = True
    """Fire the store's schedules and apply ``retention_days``; off on a server that
    should only answer requests (another instance on the store fires them)."""
    schedule_tick_s: float = Field(30.0, gt=0, le=3600)
    """Seconds between two looks at the schedules (a slot fires at most this late)."""

    # --- live progress and webhooks (docs/service.md) ---------------------------------
    events_poll_s: float = Field(0.5, gt=0, le=60)
    """How often the progress poller of a watched batch reads the store (one per batch,
    however many clients stream it)."""
    events_keepalive_s: float = Field(15.0, gt=0, le=300)
    """Seconds between keep-alive comments on an idle progress stream."""
    webhook_urls: tuple[str, ...] = ()
    """Server-wide webhooks (JSON list): every event of every batch created from now on,
    signed with ``webhook_secret``."""
    webhook_secret: SecretStr | None = Field(None, repr=False)
    """The signing secret of the server-wide webhooks (needed with ``webhook_urls``)."""
    webhook_poll_s: float = Field(2.0, gt=0, le=600)
    """How often the webhook watcher looks for stopped batches and due deliveries."""
    webhook_max_attempts: int = Field(6, ge=1, le=20)
    """Attempts per delivery before it is given up (``failed``)."""
    webhook_backoff_s: float = Field(5.0, ge=0)
    """Delay before the second attempt; each next one waits 4x longer (capped at 1 h)."""
    webhook_timeout_s: float = Field(10.0, gt=0, le=120)
    """Timeout of one delivery POST (connect and read)."""

    @field_validator("webhook_urls")
    @classmethod
    def _check_webhook_urls(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(check_webhook_url(url) for url in urls)

    @model_validator(mode="after")
    def _secret_with_urls(self) -> ServiceSettings:
        if self.webhook_urls and self.webhook_secret is None:
            raise ValueError("webhook_urls needs webhook_secret (BATCH_WEBHOOK_SECRET) to sign")
        return self
