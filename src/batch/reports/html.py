"""``report.html``: one self-contained page for people, usable at 100,000 rows.

The summary, charts (inline SVG) and error groups are rendered by Jinja2 with
autoescape on. The rows are embedded as JSON in a ``<script type="application/json">``
block (``<`` escaped, so no value can close it) and paged by a small vanilla script
that writes them with ``textContent``, never ``innerHTML``. A Content-Security-Policy
allows only that script (by hash) and loads nothing from the network.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from batch.models import JobStatus
from batch.reports.files import atomic_text
from batch.reports.rows import RowSink, RowView, RowViewer
from batch.reports.summary import BatchSummary

__all__ = ["PAGE_SIZE", "STATUS_COLOURS", "embed_json", "html_report"]

TEMPLATES = Path(__file__).parent / "templates"
PAGE_SIZE = 100
STATUS_COLOURS = {
    JobStatus.COMPLETED: "#1a7f37",
    JobStatus.FAILED: "#cf222e",
    JobStatus.NEEDS_REVIEW: "#8250df",
    JobStatus.SKIPPED: "#6e7781",
    JobStatus.CANCELLED: "#57606a",
    JobStatus.PENDING: "#0969da",
    JobStatus.RUNNING: "#0550ae",
}
_CHART_WIDTH = 360
_HIST_WIDTH, _HIST_HEIGHT = 400, 120

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def embed_json(value: Any) -> str:
    """JSON safe inside a ``<script>`` block: ``<``, ``>`` and ``&`` become ``\\u`` escapes,
    so a value such as ``</script><script>...`` cannot end the block."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _row_json(row: RowView) -> dict[str, Any]:
    shots, traces, others = [], [], []
    for artifact in row.artifacts:
        if artifact.kind == "screenshot":
            shots.append([artifact.href, artifact.path])
        elif artifact.kind == "trace":
            traces.append([artifact.href, f"playwright show-trace {shlex.quote(artifact.link)}"])
        else:
            others.append([artifact.href, artifact.name or artifact.kind or artifact.path])
    return {
        "n": row.number,
        "l": row.line,
        "k": list(row.keys),
        "v": list(row.values.values()),
        "s": row.status.value,
        "f": row.flaky,
        "a": len(row.attempts),
        "h": row.host,
        "d": round(row.duration_s, 3),
        "c": row.category,
        "m": row.message,
        "p": row.pool,
        "sh": shots,
        "tr": traces,
        "o": others,
    }


def _status_bars(summary: BatchSummary) -> list[dict[str, Any]]:
    present = [(s, summary.count(s)) for s in STATUS_COLOURS if summary.count(s)]
    top = max((n for _, n in present), default=1)
    return [
        {
            "status": status.value,
            "count": n,
            "colour": STATUS_COLOURS[status],
            "width": max(2, round(n / top * _CHART_WIDTH)),
        }
        for status, n in present
    ]


def _histogram_bars(summary: BatchSummary) -> list[dict[str, Any]]:
    bins = summary.duration_histogram
    if not bins:
        return []
    top = max(b.count for b in bins) or 1
    width = _HIST_WIDTH / len(bins)
    return [
        {
            "x": round(i * width, 2),
            "width": round(max(1.0, width - 2), 2),
            "height": round(b.count / top * _HIST_HEIGHT, 2),
            "count": b.count,
            "label": f"{b.lower_s:.2f} to {b.upper_s:.2f} s",
        }
        for i, b in enumerate(bins)
    ]


@contextmanager
def html_report(
    summary: BatchSummary, viewer: RowViewer, path: Path, *, page_size: int = PAGE_SIZE
) -> Iterator[RowSink]:
    """Write the report; rows stream into it one at a time through the yielded sink.

    The page around the rows is rendered once with a marker where the rows go, so a
    large batch is never held in memory.
    """
    script = (TEMPLATES / "report.js").read_text(encoding="utf-8")
    style = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    csp = (
        "default-src 'none'; img-src 'self' file: data:; "
        f"style-src {_csp_hash(style)}; script-src {_csp_hash(script)}; "
        "base-uri 'none'; form-action 'none'"
    )
    marker = f"\x00rows-{secrets.token_hex(8)}\x00"  # no rendered value can contain it
    page = _environment.get_template("report.html.j2").render(
        summary=summary,
        counts=[(s.value, summary.count(s), STATUS_COLOURS[s]) for s in STATUS_COLOURS],
        status_bars=_status_bars(summary),
        histogram=_histogram_bars(summary),
        chart_width=_CHART_WIDTH,
        hist_width=_HIST_WIDTH,
        hist_height=_HIST_HEIGHT,
        key_columns=viewer.key_columns,
        rows_marker=marker,
        script=script,
        style=style,
        csp=csp,
    )
    head, _, tail = page.partition(marker)
    meta = {"headers": list(viewer.headers), "keys": list(viewer.key_columns)}
    with atomic_text(path) as out:
        out.write(head + embed_json(meta | {"pageSize": page_size})[:-1] + ',"rows":[')
        separator = ""

        def add(row: RowView) -> None:
            nonlocal separator
            out.write(separator + embed_json(_row_json(row)))
            separator = ","

        yield add
        out.write("]}" + tail)
