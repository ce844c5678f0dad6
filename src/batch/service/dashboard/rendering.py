"""HTML pages and static files of the dashboard, with their security headers.

Jinja2 renders with autoescape on for every template, so any value a row, a flow
or a key name carries shows as text. Every response forbids inline scripts and
anything from another origin (``default-src 'self'``); the pages' script and
stylesheet are the two files under ``static/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined

__all__ = ["CSP", "page", "redirect", "static_file"]

_HERE = Path(__file__).parent
CSP = (
    "default-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'; object-src 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # Pages hold batch data: not kept by shared caches nor shown again after sign-out.
    "Cache-Control": "no-store",
}
_STATIC_TYPES = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.1f} %"


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value else ""


_environment = Environment(
    loader=FileSystemLoader(_HERE / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.filters["percent"] = _percent
_environment.filters["seconds"] = _seconds


def page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered with ``context``; ``principal`` and ``csrf_token`` default to
    None (the sign-in page has neither)."""
    values = {"principal": None, "csrf_token": None} | context
    html = _environment.get_template(template).render(values)
    return HTMLResponse(html, status_code=status_code, headers=_HEADERS)


def redirect(url: str) -> RedirectResponse:
    """303 See Other: the browser follows with a GET whatever the request was."""
    return RedirectResponse(url, status_code=303, headers=_HEADERS)


def static_file(name: str) -> Response | None:
    """One of the dashboard's two static files, or None for any other name."""
    media_type = _STATIC_TYPES.get(name)
    if media_type is None:
        return None
    body = (_HERE / "static" / name).read_bytes()
    headers = _HEADERS | {"Cache-Control": "no-cache"}
    return Response(body, media_type=media_type, headers=headers)
