"""``results.csv``: the input rows with their outcome, ready for a spreadsheet.

Every cell starting with ``= + - @``, a tab or a carriage return gets a leading ``'``
so a spreadsheet shows it as text instead of evaluating a formula (CSV injection).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from batch.reports.files import atomic_text
from batch.reports.rows import RowSink, RowView, RowViewer

__all__ = ["OUTCOME_COLUMNS", "POOL_COLUMNS", "neutralise", "results_csv_report"]

OUTCOME_COLUMNS = (
    "status",
    "attempts",
    "error_category",
    "error_message",
    "duration_s",
    "host",
)
POOL_COLUMNS = ("pool_entry", "pool_wait_s")
"""After the outcome columns when the flow has pools: the entries the row's last attempt
leased (``account=alice``) and its wait for free entries."""
ARTIFACTS_COLUMN = "artifacts"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """The cell, prefixed with ``'`` when a spreadsheet would read it as a formula."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


@contextmanager
def results_csv_report(
    viewer: RowViewer, path: Path, *, extracted_keys: Sequence[str] = (), bom: bool = False
) -> Iterator[RowSink]:
    """Input columns, outcome columns, one column per extracted key, then artifact paths
    (``;``-joined); one line per row sent to the yielded sink. ``bom`` writes UTF-8 with
    a BOM, which Excel needs to detect UTF-8."""
    pools = POOL_COLUMNS if viewer.pools else ()
    header = [*viewer.headers, *OUTCOME_COLUMNS, *pools, *extracted_keys, ARTIFACTS_COLUMN]
    with atomic_text(path, encoding="utf-8-sig" if bom else "utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([neutralise(h) for h in header])

        def add(row: RowView) -> None:
            cells = [
                *(row.values[h] for h in viewer.headers),
                row.status.value,
                str(len(row.attempts)),
                row.category,
                row.message,
                f"{row.duration_s:.3f}",
                row.host,
                *((row.pool, f"{row.pool_wait_s:.3f}") if pools else ()),
                *(row.extracted.get(k, "") for k in extracted_keys),
                ";".join(a.link for a in row.artifacts),
            ]
            writer.writerow([neutralise(c) for c in cells])

        yield add
