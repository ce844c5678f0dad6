"""Test-only failure endpoints of the local site, added to the demo app's router.

Handlers take ``(handler, params)`` like examples/demo_site.py. Per-key counters
(``handler.server.state.count_hit``) let a test say "fail the first N times", and
``site_url`` clears them before each test.

- ``GET /slow?ms=N``: answers after N ms (at most 60 s).
- ``GET /flaky/<key>?fail=N``: 503 for the first N requests of ``key``, then ``ok <key>``.
- ``GET /always500``: 500, every time.
- ``GET /ratelimit/<key>?retry_after=S&times=N``: 429 with ``Retry-After: S`` N times, then ok.
- ``GET /hang``: a page whose load event never fires (its image is ``/never``).
- ``GET /never``: holds the connection without answering, until the client leaves
  (at most 120 s, so server threads always end); counts ``never:started``/``never:ended``.
- ``GET /crash``: an ordinary page; tests crash its renderer through CDP ``Page.crash``
  (``chrome://crash`` is refused by Playwright's navigation with ``net::ERR_ABORTED``).
- ``GET /login?hold_ms=N``: a login form (``#username``, ``#password``, "Log in").
  ``POST /login`` holds a session of ``username`` for ``hold_ms`` ms and records, per
  account, its logins and the sessions that overlapped another of the same account
  (``sessions(server)``); the password ``locked`` is refused (403, "account locked").
"""

from __future__ import annotations

import html
import select
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

Route = Callable[[Any, dict[str, str]], None]

SLOW_MAX_MS = 60_000
NEVER_MAX_S = 120.0


def _int(params: dict[str, str], name: str, default: int) -> int:
    value = params.get(name, "")
    return int(value) if value.isdigit() else default


def slow(handler: Any, params: dict[str, str]) -> None:
    delay_ms = min(_int(params, "ms", 1000), SLOW_MAX_MS)
    time.sleep(delay_ms / 1000)
    handler.send_page("Slow", f'<p class="ok">slept {delay_ms} ms</p>')


def flaky(handler: Any, params: dict[str, str]) -> None:
    key = params["key"]
    if handler.server.state.count_hit(f"flaky:{key}") <= _int(params, "fail", 1):
        handler.send_page("Unavailable", "<p>try again</p>", 503)
        return
    handler.send_page("Flaky", f'<p class="ok">ok {html.escape(key)}</p>')


def always500(handler: Any, params: dict[str, str]) -> None:
    handler.send_page("Server error", '<p class="error">internal error</p>', 500)


def ratelimit(handler: Any, params: dict[str, str]) -> None:
    key = params["key"]
    if handler.server.state.count_hit(f"ratelimit:{key}") <= _int(params, "times", 1):
        retry_after = str(_int(params, "retry_after", 1))
        body = b"<!doctype html><p>slow down</p>"
        handler.send_body(body, 429, headers={"Retry-After": retry_after})
        return
    handler.send_page("Rate limited", f'<p class="ok">ok {html.escape(key)}</p>')


def hang(handler: Any, params: dict[str, str]) -> None:
    handler.send_page("Hang", '<p class="ok">content is here</p><img src="/never" alt="">')


def never(handler: Any, params: dict[str, str]) -> None:
    """Answer nothing; return once the client closes the connection (or after a bound)."""
    handler.server.state.count_hit("never:started")
    connection: socket.socket = handler.connection
    deadline = time.monotonic() + NEVER_MAX_S
    while time.monotonic() < deadline:
        readable, _, _ = select.select([connection], [], [], 0.5)
        if readable:
            try:
                if not connection.recv(1, socket.MSG_PEEK):
                    break  # the client hung up
            except OSError:
                break
            time.sleep(0.5)  # pipelined bytes: keep holding, without spinning
    handler.close_connection = True
    handler.server.state.count_hit("never:ended")


class Sessions:
    """Per-account sessions seen by the login route, shared by its handler threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: Counter[str] = Counter()
        self.logins: Counter[str] = Counter()
        self.overlaps: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()


def sessions(server: Any) -> Sessions:
    """The server's session record (made on first use)."""
    found: Sessions | None = getattr(server, "pool_sessions", None)
    if found is None:
        found = server.pool_sessions = Sessions()
    return found


LOGIN_FORM = """<form method="post" action="/login?hold_ms={hold}">
<label>Username <input id="username" name="username"></label>
<label>Password <input id="password" name="password" type="password"></label>
<button type="submit">Log in</button>
</form>"""


def login_form(handler: Any, params: dict[str, str]) -> None:
    handler.send_page("Log in", LOGIN_FORM.format(hold=_int(params, "hold_ms", 200)))


def login(handler: Any, params: dict[str, str]) -> None:
    user, record = params.get("username", ""), sessions(handler.server)
    if params.get("password") == "locked":
        with record.lock:
            record.refused[user] += 1
        handler.send_page("Log in", '<p class="error">account locked</p>', 403)
        return
    with record.lock:
        record.active[user] += 1
        record.logins[user] += 1
        if record.active[user] > 1:
            record.overlaps[user] += 1
    try:
        time.sleep(min(_int(params, "hold_ms", 200), SLOW_MAX_MS) / 1000)
    finally:
        with record.lock:
            record.active[user] -= 1
    handler.send_page("Welcome", f'<p class="ok">Welcome {html.escape(user)}</p>')


def crash(handler: Any, params: dict[str, str]) -> None:
    handler.send_page("Crash", '<p class="ok">this renderer is about to crash</p>')


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/slow"): slow,
    ("GET", r"/flaky/(?P<key>[^/]+)"): flaky,
    ("GET", "/always500"): always500,
    ("GET", r"/ratelimit/(?P<key>[^/]+)"): ratelimit,
    ("GET", "/hang"): hang,
    ("GET", "/never"): never,
    ("GET", "/crash"): crash,
    ("GET", "/login"): login_form,
    ("POST", "/login"): login,
}
