"""The seam between the batch side and whatever runs attempts: ``JobRunner.run(spec)
-> AttemptOutcome``, and ``CommitRecorder``, through which a runner reports a flow's
point of no return.

Everything a host needs travels in the spec (the row, the flow's content hash, the
runtime settings of ``attempt_settings``) and the outcome; ``runtime.codec`` turns
both into JSON. Implementations: ``local.LocalJobRunner`` (this process, a shared
browser) and ``fake.ScriptedRunner`` (tests, no browser).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Protocol

from runtime.outcome import AttemptOutcome, JobSpec, SettingValue
from runtime.settings import RuntimeSettings

__all__ = ["ATTEMPT_SETTINGS", "CommitRecorder", "JobRunner", "RunnerFactory", "attempt_settings"]

ATTEMPT_SETTINGS = (
    "base_url",
    "headless",
    "isolation",
    "recycle_context_every",
    "job_timeout_s",
    "step_timeout_s",
    "trace",
    "trace_secrets",
    "secrets",
    "screenshot_on_failure",
    "html_on_failure",
    "max_artifacts_mb",
)
"""The settings an attempt must run with, wherever it runs. The host keeps its own
browser path, artifacts root and browser recycling thresholds."""


class JobRunner(Protocol):
    async def run(self, spec: JobSpec) -> AttemptOutcome:
        """Run one attempt and describe what happened; never raise for a failed row."""
        ...


class CommitRecorder(Protocol):
    """Where a runner reports that an attempt reached its point of no return (the step
    marked ``commit: true``, or ``ctx.mark_commit()``), just before that step acts.

    The contract: the mark is durable when ``mark_committed`` returns (a crash right
    after it still finds the job marked), and if it raises, the runner lets the
    exception fail the attempt, so the flow never passes its point of no return
    unrecorded.
    """

    async def mark_committed(self, spec: JobSpec) -> None: ...


RunnerFactory = Callable[[CommitRecorder], JobRunner]
"""Makes the runner of one execution, given where it must record commit marks."""


def attempt_settings(settings: RuntimeSettings) -> Mapping[str, SettingValue]:
    """The ``ATTEMPT_SETTINGS`` as a spec carries them: JSON-able, read-only; built
    once per batch and shared by all its specs. A host rebuilds its settings with
    ``settings.with_overrides(**spec.settings)``."""
    values: dict[str, SettingValue] = {}
    for name in ATTEMPT_SETTINGS:
        value = getattr(settings, name)
        values[name] = tuple(sorted(value)) if isinstance(value, frozenset) else value
    return MappingProxyType(values)
