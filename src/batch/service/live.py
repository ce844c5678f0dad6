"""The service's live side, started by the lifespan: the progress hub the SSE route
streams from, and the webhook watcher (a background task). Both read the store, so
batches run by workers or a CLI on the same store stream and fire like the server's."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import FastAPI, Request

from batch.notify.delivery import RetryPolicy
from batch.notify.feed import ProgressHub
from batch.notify.watcher import WebhookWatcher
from batch.service.state import ServiceState
from batch.store._webhooks import WebhookStore

__all__ = ["progress_hub", "start_live", "webhook_store"]


def start_live(app: FastAPI, state: ServiceState) -> None:
    """Create the hub, subscribe the settings' webhooks, start the watcher."""
    settings = state.settings
    app.state.progress_hub = ProgressHub(
        state.store, poll_s=settings.events_poll_s, spawn=state.tasks.spawn
    )
    hooks = WebhookStore(state.store)
    app.state.webhooks = hooks
    secret = settings.webhook_secret
    hooks.sync_settings(
        settings.webhook_urls,
        "" if secret is None else secret.get_secret_value(),
        datetime.now(UTC),
    )
    watcher = WebhookWatcher(
        hooks,
        policy=RetryPolicy(
            max_attempts=settings.webhook_max_attempts,
            first_delay_s=settings.webhook_backoff_s,
            factor=4.0,
            max_delay_s=3600.0,
        ),
        poll_s=settings.webhook_poll_s,
        timeout_s=settings.webhook_timeout_s,
    )
    state.tasks.spawn(watcher.run(), "webhooks")


def progress_hub(request: Request) -> ProgressHub:
    hub: ProgressHub = request.app.state.progress_hub
    return hub


def webhook_store(request: Request) -> WebhookStore:
    hooks: WebhookStore = request.app.state.webhooks
    return hooks
