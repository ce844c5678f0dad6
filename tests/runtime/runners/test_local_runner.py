"""``LocalJobRunner`` at the seam: it refuses a spec made for another flow, and its
commit marks go through the ``CommitRecorder`` before the commit step acts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from paths import REPO

from runtime.browser import BrowserManager
from runtime.flows.model import load_flow
from runtime.outcome import ErrorCategory, JobSpec
from runtime.runners.base import attempt_settings
from runtime.runners.local import LocalJobRunner

FORM_FLOW = REPO / "examples" / "add_customer.yaml"
ROW = {"name": "Ada", "email": "ada@example.com", "plan": "pro", "notes": ""}


class Recorder:
    """Records the marks; raises instead when told to (a store that refuses)."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.marked: list[JobSpec] = []

    async def mark_committed(self, spec: JobSpec) -> None:
        if self.refuse:
            raise RuntimeError("the store refused the mark")
        self.marked.append(spec)


async def test_a_spec_for_another_flow_is_refused_as_configuration(make_settings: Any) -> None:
    settings = make_settings()
    browser = BrowserManager(settings)  # never launched: the check comes first
    runner = LocalJobRunner(load_flow(FORM_FLOW), settings, browser, Path("unused"))
    spec = JobSpec("j", "b", 0, ROW, 1, flow_hash="sha256:" + "0" * 64)
    outcome = await runner.run(spec)
    assert not outcome.ok
    assert outcome.category is ErrorCategory.CONFIGURATION
    assert "is not the flow of batch b" in outcome.message
    assert browser.launches == 0


@pytest.mark.browser
@pytest.mark.parametrize("refuse", [False, True])
async def test_the_commit_mark_is_recorded_before_the_submit_or_stops_it(
    make_settings: Any, site_url: str, site: Any, tmp_path: Path, refuse: bool
) -> None:
    settings = make_settings(base_url=site_url, step_timeout_s=5.0)
    flow = load_flow(FORM_FLOW)
    spec = JobSpec(
        "j", "b", 0, ROW, 1, flow_hash=flow.content_hash, settings=attempt_settings(settings)
    )
    recorder = Recorder(refuse=refuse)
    async with BrowserManager(settings) as browser:
        runner = LocalJobRunner(flow, settings, browser, tmp_path / "b", recorder=recorder)
        outcome = await runner.run(spec)
        await runner.close()
    if refuse:
        assert not outcome.ok
        assert "the store refused the mark" in outcome.message
        assert site.state.customers == [], "no mark, no submit"
    else:
        assert outcome.ok, outcome.message
        assert recorder.marked == [spec]
        assert [c["email"] for c in site.state.customers] == ["ada@example.com"]
