"""A real HTTP server on a free port that receives webhooks and checks their signature,
answering with scripted status codes (e.g. 500, 500, then 200)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from batch.notify.signing import verify

__all__ = ["Received", "Receiver", "webhook_receiver"]


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def payload(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Receiver:
    url: str
    secret: str
    statuses: list[int] = field(default_factory=list)
    """Answers to give in turn; 200 once they run out."""
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def verified(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.verified and r.headers.get("answer") == "200"]


@contextmanager
def webhook_receiver(secret: str, statuses: list[int] | None = None) -> Iterator[Receiver]:
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            ok = verify(
                receiver.secret,
                self.headers.get("X-Batchwright-Timestamp", ""),
                body,
                self.headers.get("X-Batchwright-Signature", ""),
                now=time.time(),
            )
            with receiver.lock:
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                if not ok:
                    status = 401
                headers = dict(self.headers.items()) | {"answer": str(status)}
                receiver.received.append(Received(headers, body, ok))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the tests read ``received``."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook", secret, statuses or [])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
