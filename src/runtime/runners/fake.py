"""``ScriptedRunner``: a ``JobRunner`` that plays scripted outcomes instead of running a
browser, for tests of everything above the seam (retries, the circuit breaker,
cancelling, commit marks, concurrency), as httpx's ``MockTransport`` does for HTTP.

    runner = ScriptedRunner({1: [fail(ErrorCategory.TRANSIENT), ok()]})
    execution = BatchExecution(store, batch_id, runner.bind, policy, options)

A script is the list of steps one row plays, one per spec it receives (attempts and
verify runs alike, in order); the last step repeats. Rows are picked by row index
(the default), job id (``key=by_job_id``) or a column's value (``key=by_column("email")``);
rows without a script play ``default``. Every spec received is kept in ``specs``.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field

from runtime.outcome import AttemptOutcome, ErrorCategory, JobSpec
from runtime.runners.base import CommitRecorder

__all__ = [
    "ScriptedRunner",
    "Step",
    "by_column",
    "by_job_id",
    "by_row_index",
    "fail",
    "hang",
    "ok",
]


@dataclass(frozen=True)
class Step:
    """What one attempt does: wait ``delay_s`` (or forever, ``hangs``), record its commit
    mark if ``commits``, then return its outcome."""

    ok: bool = True
    category: ErrorCategory | None = None
    message: str = ""
    retry_after_s: float | None = None
    extracted: Mapping[str, str] = field(default_factory=dict)
    commits: bool = False
    """Call the recorder's ``mark_committed`` first, as a flow's ``commit: true`` step does."""
    delay_s: float = 0.0
    """Real seconds the attempt takes (``asyncio.sleep``): lets attempts overlap."""
    hangs: bool = False
    """Never finish: the attempt waits until it is cancelled."""

    def __post_init__(self) -> None:
        if self.ok != (self.category is None):
            raise ValueError("a step has a category exactly when it fails")


def ok(*, delay_s: float = 0.0, extracted: Mapping[str, str] | None = None) -> Step:
    """An attempt that succeeds."""
    return Step(delay_s=delay_s, extracted=dict(extracted or {}))


def fail(
    category: ErrorCategory,
    message: str = "",
    *,
    retry_after_s: float | None = None,
    commits: bool = False,
    delay_s: float = 0.0,
) -> Step:
    """An attempt that fails with ``category`` (after its commit mark, with ``commits``)."""
    return Step(
        ok=False,
        category=category,
        message=message or f"scripted {category} failure",
        retry_after_s=retry_after_s,
        commits=commits,
        delay_s=delay_s,
    )


def hang(*, commits: bool = False) -> Step:
    """An attempt that never ends (after its commit mark, with ``commits``)."""
    return Step(hangs=True, commits=commits)


def by_row_index(spec: JobSpec) -> Hashable:
    return spec.row_index


def by_job_id(spec: JobSpec) -> Hashable:
    return spec.job_id


def by_column(column: str) -> Callable[[JobSpec], Hashable]:
    """Rows picked by the value of one of their columns."""

    def key(spec: JobSpec) -> Hashable:
        return spec.row.get(column)

    return key


class ScriptedRunner:
    """Plays ``scripts`` and records what it was asked: ``specs`` (in the order received),
    ``running`` (attempts in progress now) and ``peak`` (the most at once)."""

    def __init__(
        self,
        scripts: Mapping[Hashable, Sequence[Step]] | None = None,
        *,
        key: Callable[[JobSpec], Hashable] = by_row_index,
        default: Sequence[Step] = (Step(),),
        recorder: CommitRecorder | None = None,
    ) -> None:
        self.scripts = {k: list(steps) for k, steps in (scripts or {}).items()}
        if not all(self.scripts.values()) or not default:
            raise ValueError("a script needs at least one step")
        self.key = key
        self.default = list(default)
        self.recorder = recorder
        self.specs: list[JobSpec] = []
        self.running = 0
        self.peak = 0
        self._played: Counter[Hashable] = Counter()
        self._changed = asyncio.Condition()

    def bind(self, recorder: CommitRecorder) -> ScriptedRunner:
        """Use ``recorder`` for commit marks; returns self, so ``runner.bind`` is the
        ``RunnerFactory`` that ``BatchExecution`` and ``BatchEngine`` take."""
        self.recorder = recorder
        return self

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate`` holds, checked whenever an attempt starts or ends
        (``wait_for(lambda: runner.running == 2)``: both workers are in an attempt)."""
        async with self._changed:
            await self._changed.wait_for(predicate)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def attempts(self, key: Hashable) -> list[JobSpec]:
        """The specs received for one row, picked as the scripts are."""
        return [spec for spec in self.specs if self.key(spec) == key]

    async def run(self, spec: JobSpec) -> AttemptOutcome:
        self.specs.append(spec)
        row = self.key(spec)
        script = self.scripts.get(row, self.default)
        step = script[min(self._played[row], len(script) - 1)]
        self._played[row] += 1
        started = time.monotonic()
        self.running += 1
        self.peak = max(self.peak, self.running)
        await self._notify()
        try:
            if step.commits:
                if self.recorder is None:
                    raise RuntimeError("a step commits, but no recorder is bound (use .bind)")
                try:
                    await self.recorder.mark_committed(spec)
                except Exception as exc:  # as LocalJobRunner: the attempt fails, unsent
                    return AttemptOutcome(
                        False, time.monotonic() - started, ErrorCategory.UNKNOWN, str(exc)
                    )
            if step.hangs:
                await asyncio.Event().wait()
            if step.delay_s:
                await asyncio.sleep(step.delay_s)
        finally:
            self.running -= 1
            await self._notify()
        return AttemptOutcome(
            ok=step.ok,
            duration_s=time.monotonic() - started,
            category=step.category,
            message=step.message,
            extracted=dict(step.extracted),
            retry_after_s=step.retry_after_s,
        )
