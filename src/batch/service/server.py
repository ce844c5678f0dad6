"""uvicorn running the app, with batchwright's shutdown: the first SIGTERM / SIGINT
stops scheduling (running rows finish, as the CLI's first Ctrl-C), a second one
cancels running rows too; uvicorn meanwhile stops taking requests and the lifespan
waits for the batches before closing the store. Every batch stays resumable."""

from __future__ import annotations

from types import FrameType

import uvicorn
from fastapi import FastAPI

from batch.service.app import create_app
from batch.service.state import ServiceState
from batch.settings import BatchSettings

__all__ = ["run_server"]

GRACEFUL_S = 5
"""How long open HTTP connections (SSE streams) get to end once a signal came."""


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self.app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        state: ServiceState | None = getattr(self.app.state, "service", None)
        if state is not None:
            state.on_signal(again=self.should_exit)
        super().handle_exit(sig, frame)


def run_server(settings: BatchSettings, *, debug: bool = False) -> None:
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.service_host,
        port=settings.service_port,
        log_level="debug" if debug else "info",
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_S,
    )
    _Server(config, app).run()
