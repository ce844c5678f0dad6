"""``create_app``: the FastAPI application of ``batchwright serve``.

The lifespan opens the store and the shared state, starts the scheduler (schedules
and retention), and on shutdown (SIGTERM, SIGINT) closes them after the background
tasks. CORS stays closed unless origins are listed
(``cors_origins``); request bodies are bounded while they stream (``limits.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from batch.service import dashboard
from batch.service.limits import MULTIPART_SLACK, BodyLimit
from batch.service.live import start_live
from batch.service.openapi import install_openapi
from batch.service.problems import install_problem_handlers
from batch.service.routes import (
    batches_read,
    batches_write,
    events,
    groups,
    health,
    schedules,
    session,
    webhooks,
)
from batch.service.routes.health import version_text
from batch.service.scheduling import start_scheduling
from batch.service.state import ServiceState
from batch.settings import BatchSettings

__all__ = ["API_PREFIX", "create_app"]

API_PREFIX = "/api/v1"


def create_app(settings: BatchSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = ServiceState.open(settings)
        app.state.service = state
        try:
            start_live(app, state)
            start_scheduling(state)
            yield
        finally:
            await state.close()

    app = FastAPI(
        title="batchwright",
        version=version_text(),
        description="Run a browser flow once per CSV row: create, follow and settle batches.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    install_openapi(app)

    def body_limit(content_type: str) -> int:
        if content_type.startswith("multipart/form-data"):
            return settings.max_file_size_bytes + MULTIPART_SLACK
        return settings.max_body_kb * 1024

    app.add_middleware(BodyLimit, limit_for=body_limit)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID"],
            expose_headers=["Location", "Retry-After"],
        )
    app.include_router(health.router)
    app.include_router(session.router)
    app.include_router(batches_write.router)
    app.include_router(batches_read.router)
    app.include_router(groups.router)
    app.include_router(events.router)
    app.include_router(webhooks.router)
    app.include_router(schedules.router)
    app.include_router(dashboard.router)
    return app
