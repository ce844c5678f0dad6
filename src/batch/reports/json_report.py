"""``summary.json``: the summary for machines, with the stable keys of docs/summary-json.md."""

from __future__ import annotations

import json
from pathlib import Path

from batch.reports.files import atomic_text
from batch.reports.summary import BatchSummary

__all__ = ["summary_json", "write_summary_json"]


def summary_json(summary: BatchSummary) -> str:
    """The summary as indented JSON (non-ASCII kept readable)."""
    return json.dumps(summary.to_dict(), indent=2, ensure_ascii=False) + "\n"


def write_summary_json(summary: BatchSummary, path: Path) -> Path:
    with atomic_text(path) as out:
        out.write(summary_json(summary))
    return path
