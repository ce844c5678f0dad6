"""Isolation levels against real Chromium and the local site: what a row can see of
the rows before it, and that a failed attempt never hands its context on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runtime.browser import BrowserManager
from runtime.flows.model import load_flow
from runtime.outcome import JobSpec
from runtime.runners.local import LocalJobRunner

pytestmark = pytest.mark.browser

# A row reports what it found (cookie, storage, IndexedDB, permission, window name,
# history, other pages) and then leaves its own marks, a popup among them;
# ``row["fail"]`` makes it fail after leaving them. ``row["via"]`` is the site under
# another origin (localhost): the row looks and leaves marks there too, and ends
# elsewhere, so that origin is no longer shown when the row is done.
SNOOP_FLOW = '''
SNOOP = """async () => {
    const dbs = indexedDB.databases ? await indexedDB.databases() : [];
    const perm = await navigator.permissions.query({name: "geolocation"});
    return {
        cookie: document.cookie,
        local: localStorage.getItem("who") || "",
        session: sessionStorage.getItem("who") || "",
        idb: dbs.map(d => d.name).join(","),
        geo: perm.state,
        name: window.name,
        history: history.length,
    };
}"""
MARK = """async (who) => {
    document.cookie = "who=" + who + "; path=/";
    localStorage.setItem("who", who);
    sessionStorage.setItem("who", who);
    window.name = who;
    await new Promise((ok, ko) => {
        const req = indexedDB.open("db-" + who);
        req.onsuccess = () => { req.result.close(); ok(); };
        req.onerror = ko;
    });
    console.log("row " + who);
}"""


async def run(page, row, ctx):
    seen = {"pages": len(page.context.pages)}
    if row.get("via"):
        await page.goto(row["via"] + "/")
        found = await page.evaluate(SNOOP)
        seen.update({"via_" + key: found[key] for key in ("cookie", "local", "session", "idb")})
    await page.goto(ctx.base_url + "/")
    seen.update(await page.evaluate(SNOOP))
    await page.context.grant_permissions(["geolocation"], origin=ctx.base_url)
    await page.evaluate(MARK, row["who"])
    if row.get("via"):
        await page.goto(row["via"] + "/")
        await page.evaluate(MARK, row["who"])
        await page.goto(ctx.base_url + "/")
    async with page.context.expect_page():
        await page.evaluate("window.open('/')")
    if row.get("fail"):
        ctx.fail("asked to fail")
    return seen
'''


@pytest.fixture
def snoop_flow(tmp_path: Path) -> Path:
    path = tmp_path / "snoop.py"
    path.write_text(SNOOP_FLOW, encoding="utf-8")
    return path


def spec(n: int, who: str, *, attempt: int = 1, fail: bool = False, via: str = "") -> JobSpec:
    row = {"who": who, "fail": "yes" if fail else "", "via": via}
    return JobSpec(f"job-{n}", "batch", n, row, attempt)


async def run_rows(
    make_settings: Any,
    site_url: str,
    flow_path: Path,
    tmp_path: Path,
    specs: list[JobSpec],
    **s: Any,
) -> tuple[list[Any], LocalJobRunner]:
    settings = make_settings(base_url=site_url, **s)
    async with BrowserManager(settings) as browser:
        runner = LocalJobRunner(load_flow(flow_path), settings, browser, tmp_path / "b")
        outcomes = [await runner.run(one) for one in specs]
        await runner.close()
    return outcomes, runner


CLEAN = {"cookie": "", "local": "", "session": "", "idb": "", "geo": "prompt", "name": ""}


def clean(seen: Any) -> bool:
    """Nothing of an earlier row: no state (under either origin), one page, no earlier
    row in the history (a kept page has about:blank before this row's own entries)."""
    found = dict(seen)
    own_entries = 2 if "via_local" in found else 1
    via = {key: found.pop(key) for key in list(found) if key.startswith("via_")}
    return (
        int(found.pop("pages")) == 1
        and int(found.pop("history")) <= own_entries + 1
        and found == CLEAN
        and not any(via.values())
    )


async def test_recycled_reuses_one_context_and_leaks_nothing(
    make_settings: Any, site_url: str, snoop_flow: Path, tmp_path: Path
) -> None:
    outcomes, runner = await run_rows(
        make_settings, site_url, snoop_flow, tmp_path,
        [spec(1, "ada"), spec(2, "bob"), spec(3, "cy")], isolation="recycled",
    )  # fmt: skip
    assert [o.ok for o in outcomes] == [True, True, True], [o.message for o in outcomes]
    for outcome in outcomes:
        assert clean(outcome.extracted), outcome.extracted
    assert runner.sessions.contexts_opened == 1
    assert runner.sessions.pages_opened == 1  # the page (and its renderer) is kept


async def test_recycled_wipes_every_origin_a_row_visited(
    make_settings: Any, site_url: str, snoop_flow: Path, tmp_path: Path
) -> None:
    """Row 1 leaves marks under a second origin it no longer shows at the end (so its
    session storage can only go with the page); row 2 looks there."""
    other = site_url.replace("127.0.0.1", "localhost")
    outcomes, runner = await run_rows(
        make_settings, site_url, snoop_flow, tmp_path,
        [spec(1, "ada", via=other), spec(2, "bob"), spec(3, "cy")], isolation="recycled",
    )  # fmt: skip
    assert [o.ok for o in outcomes] == [True, True, True], [o.message for o in outcomes]
    assert all(clean(o.extracted) for o in outcomes), [o.extracted for o in outcomes]
    assert runner.sessions.contexts_opened == 1
    assert runner.sessions.pages_opened == 2  # row 1's page could not be kept


async def test_recycled_row_sees_nothing_of_another_origins_earlier_row(
    make_settings: Any, site_url: str, snoop_flow: Path, tmp_path: Path
) -> None:
    other = site_url.replace("127.0.0.1", "localhost")
    settings = {"isolation": "recycled"}
    outcomes, _ = await run_rows(
        make_settings, site_url, snoop_flow, tmp_path,
        [spec(1, "ada", via=other), spec(2, "bob", via=other)], **settings,
    )  # fmt: skip
    assert outcomes[1].ok, outcomes[1].message
    assert clean(outcomes[1].extracted), outcomes[1].extracted


async def test_page_isolation_keeps_state_and_one_page(
    make_settings: Any, site_url: str, snoop_flow: Path, tmp_path: Path
) -> None:
    """``page`` is for read-only flows precisely because state carries over."""
    outcomes, runner = await run_rows(
        make_settings, site_url, snoop_flow, tmp_path,
        [spec(1, "ada"), spec(2, "bob")], isolation="page",
    )  # fmt: skip
    assert outcomes[1].extracted["cookie"] == "who=ada"
    assert outcomes[1].extracted["session"] == "ada"  # the same tab: same session storage
    assert outcomes[1].extracted["pages"] == "1"  # but row 1's popup was closed
    assert runner.sessions.contexts_opened == 1


async def test_context_isolation_opens_a_context_per_row(
    make_settings: Any, site_url: str, snoop_flow: Path, tmp_path: Path
) -> None:
    outcomes, runner = await run_rows(
        make_settings, site_url, snoop_flow, tmp_path, [spec(1, "ada"), spec(2, "bob")]
    )
    assert all(clean(o.extracted) for o in outcomes), [o.extracted for o in outcomes]
    assert runner.sessions.contexts_opened == 2


@pytest.mark.parametrize("isolation", ["recycled", "page"])
async def test_a_failure_discards_the_context(
    isolation: str, make_settings: Any, site_url: str, snoop_flow: Path, tmp_path: Path
) -> None:
    outcomes, runner = await run_rows(
        make_settings, site_url, snoop_flow, tmp_path,
        [spec(1, "ada", fail=True), spec(2, "bob"), spec(3, "cy")], isolation=isolation,
    )  # fmt: skip
    assert [o.ok for o in outcomes] == [False, True, True]
    assert outcomes[0].message == "asked to fail"
    assert clean(outcomes[1].extracted)  # even under `page`: a new context
    assert runner.sessions.contexts_opened == 2


async def test_a_retry_always_gets_a_fresh_context(
    make_settings: Any, site_url: str, snoop_flow: Path, tmp_path: Path
) -> None:
    outcomes, runner = await run_rows(
        make_settings, site_url, snoop_flow, tmp_path,
        [spec(1, "ada"), spec(2, "bob", attempt=2), spec(3, "cy")], isolation="page",
    )  # fmt: skip
    assert clean(outcomes[1].extracted)
    assert outcomes[2].extracted["cookie"] == "who=ada"  # the pooled page came back
    assert runner.sessions.contexts_opened == 2


async def test_contexts_and_browsers_are_replaced_on_schedule(
    make_settings: Any, site_url: str, snoop_flow: Path, tmp_path: Path
) -> None:
    rows = [spec(n, f"r{n}") for n in range(1, 6)]
    _, runner = await run_rows(
        make_settings, site_url, snoop_flow, tmp_path, rows,
        isolation="page", recycle_context_every=2,
    )  # fmt: skip
    assert runner.sessions.contexts_opened == 3  # rows 1-2, 3-4, 5
    _, runner = await run_rows(
        make_settings, site_url, snoop_flow, tmp_path, rows,
        isolation="recycled", browser_recycle_jobs=2,
    )  # fmt: skip
    assert runner.browser.launches == 3
    assert runner.sessions.contexts_opened == 3


async def test_a_reused_page_does_not_feed_past_rows_artifacts(
    make_settings: Any, site_url: str, snoop_flow: Path, tmp_path: Path
) -> None:
    """Console lines of row 2 must not end up in row 1's (finished) attempt."""
    outcomes, _ = await run_rows(
        make_settings, site_url, snoop_flow, tmp_path,
        [spec(1, "ada"), spec(2, "bob"), spec(3, "cy", fail=True)],
        isolation="page", screenshot_on_failure=False, html_on_failure=False,
    )  # fmt: skip
    console = [a for a in outcomes[2].artifacts if a.kind == "console"]
    text = (tmp_path / "b" / console[0].path).read_text()
    assert "row cy" in text
    assert "row bob" not in text


# Each row reads the page's JavaScript heap, then leaves about 40 MB of garbage behind
# (reachable from its document until the row's last navigation).
LITTER_FLOW = """
async def run(page, row, ctx):
    await page.goto(ctx.base_url + "/")
    cdp = await page.context.new_cdp_session(page)
    heap = await cdp.send("Runtime.getHeapUsage")
    await cdp.detach()
    await page.evaluate("() => { window.junk = Array.from({length: 2e6}, (_, i) => ({i})); }")
    await page.goto(ctx.base_url + "/")
    return {"heap_mb": heap["usedSize"] / 2**20}
"""


@pytest.mark.parametrize("isolation", ["recycled", "page"])
async def test_a_kept_page_does_not_carry_earlier_rows_garbage(
    make_settings: Any, site_url: str, tmp_path: Path, isolation: str
) -> None:
    """Left alone, a busy renderer collects earlier documents' garbage late or never
    (its memory grew by ~2.4 MB a row on the demo form): between rows it is collected."""
    flow = tmp_path / "litter.py"
    flow.write_text(LITTER_FLOW, encoding="utf-8")
    outcomes, runner = await run_rows(
        make_settings, site_url, flow, tmp_path,
        [spec(n, f"r{n}") for n in range(1, 5)], isolation=isolation,
    )  # fmt: skip
    assert [o.ok for o in outcomes] == [True] * 4, [o.message for o in outcomes]
    assert runner.sessions.pages_opened == 1
    heaps = [float(o.extracted["heap_mb"]) for o in outcomes]
    assert max(heaps[1:]) < 10, heaps  # under 1 MB here; one row's litter is 40 MB
