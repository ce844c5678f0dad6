"""Evidence of one attempt: screenshots, page HTML, console log and Playwright trace.

Files go to ``<batch_dir>/jobs/<job_dir>/attempt-<n>-<kind>.<ext>`` and are recorded
relative to ``batch_dir``, so a batch directory can be moved or archived whole.
Nothing is written until there is something to keep: a passing, untraced attempt
leaves no files. Capturing evidence of a failure never raises: a crashed page must
not turn one failure into another. Past the batch's artifact cap (``budget``) nothing
is written and ``skipped_note`` says why (``runtime.evidence.budget``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections.abc import Awaitable, Sequence
from pathlib import Path

from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from runtime.evidence.budget import EvidenceBudget
from runtime.outcome import Artifact

__all__ = ["AttemptArtifacts", "job_dir_name", "safe_name"]

logger = logging.getLogger("batchwright.artifacts")

_CAPTURE_TIMEOUT_S = 5.0
_TRACE_TIMEOUT_S = 30.0
_MAX_NAME = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str, limit: int = _MAX_NAME) -> str:
    """A file-name fragment from untrusted text: ASCII ``[A-Za-z0-9._-]``, no leading dots."""
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("_", ascii_text).strip("._-")[:limit].rstrip("._-")
    return cleaned or "unnamed"


def job_dir_name(row_index: int, job_id: str) -> str:
    """``000042-<job id>``: sorts by row, and never contains raw CSV text."""
    return f"{row_index:06d}-{safe_name(job_id, limit=64)}"


class AttemptArtifacts:
    """Captures and records the files of one attempt of one job."""

    def __init__(self, batch_dir: Path, job_dir: str, attempt: int, *, max_mb: float = 0) -> None:
        self.batch_dir = batch_dir
        self.relative_dir = Path("jobs") / safe_name(job_dir)
        self.attempt = attempt
        self._artifacts: list[Artifact] = []
        self._tracing = False
        self._budget = EvidenceBudget(batch_dir / "jobs", max_mb)
        self._refusal: str | None = None
        self.skipped_note = ""
        """Set when the artifact cap kept evidence of this attempt from being written."""

    def _allowed(self, what: str) -> bool:
        """Whether ``what`` may be written: the cap is looked at once per attempt."""
        if self._refusal is None:
            self._refusal = self._budget.refusal()
        if self._refusal:
            self.skipped_note = self._refusal
            logger.info("%s: %s skipped: %s", self.relative_dir, what, self._refusal)
        return not self._refusal

    @property
    def artifacts(self) -> list[Artifact]:
        """Everything captured so far, in capture order."""
        return list(self._artifacts)

    async def screenshot(self, page: Page, name: str, *, full_page: bool = False) -> Artifact:
        """A screenshot a flow asked for; raises like any step when the page cannot."""
        label = safe_name(name)
        if not self._allowed("screenshot"):
            return Artifact(kind="screenshot", path="", name=label)  # path "": not written
        data = await page.screenshot(full_page=full_page)
        return self._write(f"screenshot-{label}", "png", data, name=label, kind="screenshot")

    async def capture_failure(
        self, page: Page, console: Sequence[str], *, screenshot: bool, html: bool
    ) -> list[Artifact]:
        """Screenshot, HTML and the console lines (a ``PageLog``'s) of a failed attempt:
        whatever can still be had."""
        captured: list[Artifact] = []
        if not self._allowed("failure evidence"):
            return captured

        async def save_screenshot() -> None:
            data = await page.screenshot(
                full_page=True, timeout=_CAPTURE_TIMEOUT_S * 1000, animations="disabled"
            )
            captured.append(self._write("screenshot", "png", data, name="failure"))

        async def save_html() -> None:
            content = await page.content()
            captured.append(self._write("html", "html", content.encode("utf-8"), name="page"))

        if screenshot and not page.is_closed():
            await self._guarded("screenshot", save_screenshot())
        if html and not page.is_closed():
            await self._guarded("page HTML", save_html())
        # Always written: "the console was empty" is evidence too.
        text = "".join(f"{line}\n" for line in console) or "(no console messages)\n"
        captured.append(self._write("console", "log", text.encode("utf-8"), name="console"))
        return captured

    async def start_trace(self, context: BrowserContext) -> None:
        """Start Playwright tracing; an attempt still runs untraced if it cannot start
        (or when the artifact cap is reached)."""
        if not self._allowed("trace"):
            return
        start = context.tracing.start(screenshots=True, snapshots=True, sources=False)
        self._tracing = await self._guarded("trace start", start)

    async def stop_trace(self, context: BrowserContext, *, keep: bool) -> Artifact | None:
        """Stop tracing; write the trace zip only when ``keep``. Never raises."""
        if not self._tracing:
            return None
        self._tracing = False
        if not keep:
            await self._guarded("trace stop", context.tracing.stop())
            return None
        path = self._new_path("trace", "zip")
        stopped = await self._guarded("trace", context.tracing.stop(path=path), _TRACE_TIMEOUT_S)
        if not (stopped and path.is_file()):
            return None
        self._budget.wrote(path.stat().st_size)
        return self._record("trace", path, "trace")

    def _new_path(self, kind: str, ext: str) -> Path:
        """An unused ``attempt-<n>-<kind>[-k].<ext>``, its directory created on demand."""
        directory = self.batch_dir / self.relative_dir
        directory.mkdir(parents=True, exist_ok=True)
        stem = f"attempt-{self.attempt}-{kind}"
        path = directory / f"{stem}.{ext}"
        counter = 2
        while path.exists():
            path = directory / f"{stem}-{counter}.{ext}"
            counter += 1
        return path

    def _record(self, kind: str, path: Path, name: str) -> Artifact:
        artifact = Artifact(kind=kind, path=(self.relative_dir / path.name).as_posix(), name=name)
        self._artifacts.append(artifact)
        return artifact

    def _write(
        self, stem: str, ext: str, data: bytes, *, name: str, kind: str | None = None
    ) -> Artifact:
        """Write ``attempt-<n>-<stem>.<ext>`` and record it (kind defaults to the stem)."""
        path = self._new_path(stem, ext)
        path.write_bytes(data)
        self._budget.wrote(len(data))
        return self._record(kind or stem, path, name)

    async def _guarded(
        self, what: str, step: Awaitable[object], limit_s: float = _CAPTURE_TIMEOUT_S
    ) -> bool:
        """Await a capture step; log and report False instead of raising."""
        try:
            async with asyncio.timeout(limit_s):
                await step
        except (PlaywrightError, TimeoutError, OSError) as exc:
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            logger.warning("could not capture %s for %s: %s", what, self.relative_dir, first_line)
            return False
        return True
