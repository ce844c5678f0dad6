"""A small customer-entry web app for the demo batch and the tests, on 127.0.0.1.

Standard library only, so it runs anywhere Python does::

    python examples/demo_site.py --port 8000

``POST /customers`` records every accepted submission in memory;
``GET /api/submissions`` returns them as JSON, which is how tests check that a
record was entered exactly once. Tests extend the router with failure endpoints.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import html
import json
import re
import sys
import threading
import urllib.request
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

Route = Callable[["DemoHandler", dict[str, str]], None]

PLANS = ("basic", "pro", "enterprise")
TITLE = "Demo CRM"
"""The home page's title: how a script tells this site from whatever else holds a port."""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:40em;margin:2em auto}}
label{{display:block;margin:.5em 0}}.flash{{color:green}}.error{{color:#b00}}</style>
</head><body><h1>{title}</h1>{body}</body></html>"""

FORM = """<form method="post" action="/customers">
{error}
<label>Name <input id="name" name="name" value="{name}"></label>
<label>Email <input id="email" name="email" inputmode="email" value="{email}"></label>
<label>Plan <select id="plan" name="plan">{options}</select></label>
<label>Notes <textarea id="notes" name="notes" placeholder="Anything else?"></textarea></label>
<label><input id="terms" name="terms" type="checkbox"> I accept the terms</label>
<button type="submit">Save customer</button>
</form>"""


class SiteState:
    """Submissions accepted by the site, shared by all handler threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.customers: list[dict[str, str]] = []
        self.hits: dict[str, int] = {}

    def add_customer(self, record: dict[str, str]) -> int:
        with self.lock:
            self.customers.append(record)
            return len(self.customers)

    def count_hit(self, key: str) -> int:
        """Times ``key`` was requested, this request included."""
        with self.lock:
            self.hits[key] = self.hits.get(key, 0) + 1
            return self.hits[key]


class DemoHandler(BaseHTTPRequestHandler):
    """Routes requests through ``self.server.routes`` (``(method, regex) -> handler``)."""

    server: DemoServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests and the demo print their own progress."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        if method == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8")
            params |= {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
        for (route_method, pattern), handler in self.server.routes.items():
            match = re.fullmatch(pattern, url.path)
            if route_method == method and match:
                handler(self, params | match.groupdict())
                return
        self.send_page("Not found", "<p>No such page.</p>", HTTPStatus.NOT_FOUND)

    def send_body(
        self,
        body: bytes,
        status: int = HTTPStatus.OK,
        content_type: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_page(self, title: str, body: str, status: int = HTTPStatus.OK) -> None:
        self.send_body(PAGE.format(title=html.escape(title), body=body).encode(), status)

    def redirect(self, location: str) -> None:
        self.send_body(b"", HTTPStatus.SEE_OTHER, headers={"Location": location})


def _form(params: dict[str, str], error: str = "") -> str:
    options = "".join(
        f'<option value="{p}"{" selected" if params.get("plan") == p else ""}>{p.title()}</option>'
        for p in PLANS
    )
    return FORM.format(
        error=f'<p class="error" role="alert">{html.escape(error)}</p>' if error else "",
        name=html.escape(params.get("name", "")),
        email=html.escape(params.get("email", "")),
        options=options,
    )


def index(handler: DemoHandler, _params: dict[str, str]) -> None:
    handler.send_page(TITLE, '<p><a href="/customers/new">New customer</a></p>')


def new_customer(handler: DemoHandler, _params: dict[str, str]) -> None:
    handler.send_page("New customer", _form({}))


def create_customer(handler: DemoHandler, params: dict[str, str]) -> None:
    problems = []
    if not params.get("name", "").strip():
        problems.append("Name is required")
    if "@" not in params.get("email", ""):
        problems.append("Email is invalid")
    if params.get("plan") not in PLANS:
        problems.append("Unknown plan")
    if params.get("terms") != "on":
        problems.append("You must accept the terms")
    if problems:
        handler.send_page("New customer", _form(params, "; ".join(problems)), 422)
        return
    record = {k: params.get(k, "") for k in ("name", "email", "plan", "notes")}
    customer_id = handler.server.state.add_customer(record)
    handler.redirect(f"/customers/{customer_id}")


def show_customer(handler: DemoHandler, params: dict[str, str]) -> None:
    index_ = int(params["id"]) - 1
    customers = handler.server.state.customers
    if not 0 <= index_ < len(customers):
        handler.send_page("Not found", "<p>No such customer.</p>", HTTPStatus.NOT_FOUND)
        return
    record = customers[index_]
    handler.send_page(
        "Customer",
        f'<p class="flash" role="status">Saved {html.escape(record["name"])}</p>'
        f'<p>Customer id: <span id="customer-id">{params["id"]}</span></p>'
        f'<p>Plan: <span id="plan">{html.escape(record["plan"])}</span></p>',
    )


def search_customers(handler: DemoHandler, params: dict[str, str]) -> None:
    """``/customers?q=TEXT``: customers whose email or name contains TEXT."""
    query = params.get("q", "").strip().lower()
    with handler.server.state.lock:
        found = [
            (number, record)
            for number, record in enumerate(handler.server.state.customers, start=1)
            if query and (query in record["email"].lower() or query in record["name"].lower())
        ]
    items = "".join(
        f'<li class="result"><a href="/customers/{number}">{html.escape(record["name"])}</a> '
        f"{html.escape(record['email'])}</li>"
        for number, record in found
    )
    handler.send_page("Customers", f'<p>{len(found)} found</p><ul id="results">{items}</ul>')


def submissions(handler: DemoHandler, _params: dict[str, str]) -> None:
    with handler.server.state.lock:
        body = json.dumps(handler.server.state.customers).encode()
    handler.send_body(body, content_type="application/json")


DEMO_ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/"): index,
    ("GET", "/customers/new"): new_customer,
    ("POST", "/customers"): create_customer,
    ("GET", "/customers"): search_customers,
    ("GET", r"/customers/(?P<id>\d+)"): show_customer,
    ("GET", "/api/submissions"): submissions,
}


class DemoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int = 0, routes: dict[tuple[str, str], Route] | None = None) -> None:
        super().__init__(("127.0.0.1", port), DemoHandler)
        self.routes = {**DEMO_ROUTES, **(routes or {})}
        self.state = SiteState()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="demo-site", daemon=True)
        thread.start()
        return thread


def is_demo_site(url: str, timeout_s: float = 5.0) -> bool:
    """True when ``url`` answers as this demo CRM, not merely as some web server."""
    if not url.startswith("http://127.0.0.1:"):
        return False
    try:  # S310: a loopback http URL, checked above
        with urllib.request.urlopen(f"{url}/", timeout=timeout_s) as response:  # noqa: S310
            page = response.read(65536).decode("utf-8", "replace")
    except OSError:
        return False
    return f"<title>{TITLE}</title>" in page


def port_taken(error: OSError) -> bool:
    return error.errno == errno.EADDRINUSE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="0: any free port")
    args = parser.parse_args()
    try:
        server = DemoServer(args.port)
    except OSError as error:
        if not port_taken(error):
            raise
        sys.exit(f"demo site: port {args.port} is taken by another program; use --port N")
    print(f"demo site on {server.url} (Ctrl-C to stop)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
