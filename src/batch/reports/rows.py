"""What every renderer shows of a job: a ``RowView`` with secrets already masked.

Masking happens here, once, so no renderer can forget it: secret columns show as
``***`` and their values are replaced inside error messages and extracted values.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from batch.exceptions import ConfigurationError
from batch.models import BatchJob, BatchManifest, JobStatus
from batch.reports.pool_usage import entry_label
from batch.reports.summary import MASK, final_error, mask_secrets

__all__ = [
    "DEFAULT_KEY_COLUMNS",
    "ArtifactView",
    "AttemptView",
    "RowSink",
    "RowView",
    "RowViewer",
    "evidence_prefix",
    "safe_relative_path",
]

DEFAULT_KEY_COLUMNS = 3
"""Columns shown to identify a row when no key columns are given: the first three."""

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def safe_relative_path(path: str) -> str | None:
    """``path`` as a POSIX path relative to the batch dir, or None when it is absolute,
    carries a URL scheme or climbs out with ``..`` (never linked from a report)."""
    posix = path.replace(os.sep, "/")
    parts = PurePosixPath(posix).parts
    if not posix or posix.startswith("/") or _SCHEME.match(posix) or ".." in parts:
        return None
    return posix


def evidence_prefix(report_dir: Path, batch_dir: Path) -> str:
    """What reports written in ``report_dir`` put before an artifact's path (relative to
    ``batch_dir``) to reach it: nothing when they are the batch's own reports, else the
    relative path between the two folders, or ``batch_dir`` itself when no relative
    path exists (another drive)."""
    report, batch = report_dir.resolve(), batch_dir.resolve()
    if report == batch:
        return ""
    try:
        return Path(os.path.relpath(batch, report)).as_posix() + "/"
    except ValueError:
        return batch.as_posix() + "/"


@dataclass(frozen=True, slots=True)
class ArtifactView:
    kind: str
    path: str
    """Relative to the batch directory."""
    name: str
    link: str
    """The path as the reports' folder reaches it (``path`` when they are in the batch
    directory; see ``evidence_prefix``)."""

    @property
    def href(self) -> str:
        """``link`` as a URL: relative and percent-encoded (spaces, ``#``, ``?``), or a
        ``file:`` URL when it is absolute."""
        if Path(self.link).is_absolute():
            return Path(self.link).as_uri()
        return quote(self.link, safe="/")


@dataclass(frozen=True, slots=True)
class AttemptView:
    number: int
    ok: bool
    category: str
    message: str
    duration_s: float
    artifacts: tuple[ArtifactView, ...]
    host: str
    """``hostname:pid`` that ran it (empty when not recorded)."""
    pool: str = ""
    """The pool entries this attempt leased (``account=alice``)."""
    pool_wait_s: float = 0.0


@dataclass(frozen=True, slots=True)
class RowView:
    number: int
    """1-based data row number (``row_index + 1``)."""
    line: int
    values: dict[str, str]
    keys: tuple[str, ...]
    """The key columns' values, in key-column order."""
    status: JobStatus
    flaky: bool
    attempts: tuple[AttemptView, ...]
    duration_s: float
    category: str
    message: str
    extracted: dict[str, str]

    @property
    def artifacts(self) -> tuple[ArtifactView, ...]:
        return tuple(a for attempt in self.attempts for a in attempt.artifacts)

    @property
    def host(self) -> str:
        """Where the last attempt ran."""
        return self.attempts[-1].host if self.attempts else ""

    @property
    def pool(self) -> str:
        """The pool entries of the row's last attempt that leased any (``account=alice``)."""
        return next((a.pool for a in reversed(self.attempts) if a.pool), "")

    @property
    def pool_wait_s(self) -> float:
        """How long the row waited for free pool entries, over all its attempts."""
        return sum(a.pool_wait_s for a in self.attempts)

    @property
    def label(self) -> str:
        """``row 3: ada@example.com``: the number and the first non-empty key value."""
        first = next((k for k in self.keys if k), "")
        return f"row {self.number}: {first}" if first else f"row {self.number}"


RowSink = Callable[[RowView], None]
"""Where a report writer takes its rows, one at a time (all formats share one pass)."""


class RowViewer:
    """Turns jobs into masked ``RowView`` s for one manifest's columns."""

    def __init__(
        self,
        manifest: BatchManifest,
        *,
        key_columns: Sequence[str] | None = None,
        secrets: Collection[str] = (),
        evidence: str = "",
    ) -> None:
        """``evidence``: the ``evidence_prefix`` from the reports' folder to the batch's."""
        headers = manifest.headers
        self._check_columns("key", key_columns or (), manifest)
        self._check_columns("secret", secrets, manifest)
        self.headers: tuple[str, ...] = tuple(headers)
        self.key_columns: tuple[str, ...] = tuple(
            key_columns if key_columns else headers[:DEFAULT_KEY_COLUMNS]
        )
        self.secrets = frozenset(secrets)
        self.evidence = evidence
        self.pools: tuple[str, ...] = tuple(manifest.settings.get("pools") or ())
        """The flow's pools: the reports then show each row's entries."""

    @staticmethod
    def _check_columns(role: str, columns: Collection[str], manifest: BatchManifest) -> None:
        unknown = [c for c in columns if c not in manifest.headers]
        if unknown:
            raise ConfigurationError(
                f"{role} column(s) {', '.join(map(repr, unknown))} are not columns of "
                f"{manifest.csv_path}; its columns are: {', '.join(manifest.headers)}. "
                f"Fix the {role} column names (they are case-sensitive)."
            )

    def view(self, job: BatchJob) -> RowView:
        secret_values = [job.row_data.get(c, "") for c in self.secrets]

        def mask(text: str) -> str:
            return mask_secrets(text, secret_values)

        values = {
            column: MASK if column in self.secrets else mask(job.row_data.get(column, ""))
            for column in self.headers
        }
        attempts = tuple(
            AttemptView(
                number=a.number,
                ok=a.ok,
                category=a.category.value if a.category else "",
                message=mask(a.message),
                duration_s=a.duration_s,
                artifacts=tuple(
                    ArtifactView(
                        art.get("kind", ""), path, mask(art.get("name", "")), self.evidence + path
                    )
                    for art in a.artifacts
                    if (path := safe_relative_path(art.get("path", ""))) is not None
                ),
                host=a.host,
                pool=entry_label(a.pool),
                pool_wait_s=a.pool_wait_s,
            )
            for a in job.attempts
        )
        error_category, raw = final_error(job)
        failed = job.status is JobStatus.FAILED
        category = error_category.value if failed or job.error_category else ""
        message = mask(raw) if failed else mask(job.error_message)
        return RowView(
            number=job.row_index + 1,
            line=job.source_line,
            values=values,
            keys=tuple(values.get(c, "") for c in self.key_columns),
            status=job.status,
            flaky=job.flaky,
            attempts=attempts,
            duration_s=job.duration_s,
            category=category,
            message=message,
            extracted={k: mask(v) for k, v in job.extracted.items()},
        )
