"""Steps on a real Chromium against real local HTTP servers."""

from __future__ import annotations

import logging
import textwrap
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from chromium import launch_options
from paths import FLOWS, REPO
from playwright.async_api import Browser, Page, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from runtime.errors import BusinessError, ConfigurationError, HttpStatusError
from runtime.flows.context import FlowContext
from runtime.flows.model import Flow, load_flow
from runtime.flows.steps import run_flow
from runtime.outcome import Artifact

ROW = {"name": "Ada Lovelace", "email": "ada@example.com", "plan": "pro", "notes": "{{ 7*7 }}"}

ACTIONS_PAGE = b"""<!doctype html><html><head><meta charset="utf-8"><title>Actions page</title>
</head><body>
<input id="search" placeholder="Search"><p id="out"></p>
<div id="dbl" ondblclick="this.textContent='double'">dbl</div>
<div id="hov" onmouseover="document.getElementById('tip').hidden=false">hover me</div>
<p id="tip" hidden>tip shown</p>
<input type="checkbox" id="news" checked>
<input type="file" id="file"
  onchange="document.getElementById('fname').textContent=this.files[0].name">
<span id="fname"></span>
<ul class="items"><li>a</li><li>b</li><li>c</li></ul>
<a id="link" href="/next" data-id=" 42 ">next</a>
<button data-testid="late">late</button>
<script>
document.getElementById('search').addEventListener('keydown', e => {
  if (e.key === 'Enter') document.getElementById('out').textContent = 'searched ' + e.target.value;
});
document.querySelector('[data-testid=late]').addEventListener('click', () => setTimeout(() => {
  const p = document.createElement('p'); p.className = 'late'; p.textContent = 'arrived';
  document.body.append(p);
}, 100));
</script></body></html>"""


class AuxHandler(BaseHTTPRequestHandler):
    """Error statuses (``/status/<code>``) and a page with one element per action."""

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        headers: dict[str, str] = {}
        status, body = 200, ACTIONS_PAGE
        if self.path.startswith("/status/"):
            status, body = int(self.path.rsplit("/", 1)[1]), b"<p>error</p>"
            if status == 429:
                headers["Retry-After"] = "7"
            if status == 503:
                later = datetime.now(UTC) + timedelta(seconds=120)
                headers["Retry-After"] = format_datetime(later, usegmt=True)
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def aux_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), AuxHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(**launch_options())
        yield browser
        await browser.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context()
    yield await context.new_page()
    await context.close()


class Recorder:
    """The attempt runner's side of ``FlowContext``: records what the flow asked for."""

    def __init__(self, site: Any = None) -> None:
        self.site = site
        self.events: list[str] = []

    async def screenshot(self, name: str) -> Artifact:
        self.events.append(f"screenshot:{name}")
        return Artifact("screenshot", f"job-1/{name}.png", name)

    async def commit(self) -> None:
        # How many customers the site holds when the commit is recorded: 0 proves it
        # happened before the submit.
        saved = len(self.site.state.customers) if self.site is not None else -1
        self.events.append(f"commit:{saved}")

    def context(self, attempt: int = 1) -> FlowContext:
        return FlowContext(
            job_id="job-1",
            batch_id="batch-1",
            row_index=1,
            attempt=attempt,
            logger=logging.getLogger("batchwright.test"),
            screenshot_fn=self.screenshot,
            commit_fn=self.commit,
        )


def flow_file(tmp_path: Path, text: str) -> Flow:
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_flow(path)


pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


async def test_example_flow_end_to_end(page: Page, site: Any, site_url: str) -> None:
    recorder = Recorder(site)
    flow = load_flow(REPO / "examples" / "add_customer.yaml")
    extracted = await run_flow(page, flow, ROW, recorder.context(), base_url=site_url, timeout_s=10)
    assert extracted == {"customer_id": "1"}
    assert site.state.customers == [ROW]  # the template-looking note went in literally
    assert recorder.events == ["commit:0"]


async def test_failed_expectation_is_a_business_error_naming_the_step(
    page: Page, site: Any, site_url: str
) -> None:
    flow = load_flow(REPO / "examples" / "add_customer.yaml")
    row = {**ROW, "name": " "}
    with pytest.raises(BusinessError) as info:
        await run_flow(page, flow, row, Recorder(site).context(), base_url=site_url, timeout_s=1)
    assert str(info.value) == (
        'step 9 expect_text ".flash": expected to contain "Saved  ", got no matching element'
    )
    assert site.state.customers == []


async def test_failed_expectation_shows_what_the_page_said(
    page: Page, site_url: str, tmp_path: Path
) -> None:
    flow = flow_file(
        tmp_path,
        """
        steps:
          - goto: "{{ base_url }}/customers/new"
          - fill: { selector: "#name", value: "{{ row.name }}" }
          - click: { role: button, name: Save customer }
          - expect_text: { selector: .error, text: "Saved {{ row.name }}" }
            timeout: 0.5
        """,
    )
    with pytest.raises(BusinessError) as info:
        await run_flow(page, flow, ROW, Recorder().context(), base_url=site_url, timeout_s=5)
    assert str(info.value) == (
        'step 4 expect_text ".error": expected to contain "Saved Ada Lovelace", '
        'got "Email is invalid; You must accept the terms"'
    )


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ('expect_url: "**/nowhere"', 'step 2 expect_url "**/nowhere": expected URL to match'),
        ("expect_url: { regex: 'customers/\\d+$' }", "expected URL to match"),
        ("expect_title: Nope", 'step 2 expect_title "Nope": expected title to contain "Nope", '),
        ("expect_title: { title: Demo, exact: true }", 'expected title to be "Demo", got "Demo'),
        ("expect_count: { selector: a, count: 5 }", "expected 5 element(s), got 1"),
        ("expect_visible: .flash", 'step 2 expect_visible ".flash": expected visible, got no'),
        ("expect_hidden: h1", "expected hidden, got 1 matching element(s)"),
        ("expect_text: { selector: h1, text: demo, exact: true }", 'to be "demo", got "Demo CRM"'),
        ("expect_text: { selector: h1, regex: '^CRM' }", 'expected to match "^CRM"'),
    ],
)
async def test_expectation_failures(
    page: Page, site_url: str, tmp_path: Path, step: str, message: str
) -> None:
    flow = flow_file(tmp_path, f"steps:\n  - goto: '{{{{ base_url }}}}/'\n  - {step}\n")
    with pytest.raises(BusinessError, match=r"^step 2 ") as info:
        await run_flow(page, flow, {}, Recorder().context(), base_url=site_url, timeout_s=0.3)
    assert message in str(info.value)


async def test_expectations_that_hold_pass(page: Page, site_url: str, tmp_path: Path) -> None:
    flow = flow_file(
        tmp_path,
        """
        steps:
          - goto: "{{ base_url }}/"
          - expect_text: { selector: h1, text: demo crm, exact: true, ignore_case: true }
          - expect_text: { selector: h1, regex: "^demo", ignore_case: true }
          - expect_title: { regex: "^Demo" }
          - expect_url: { regex: "/$" }
          - click: { text: New customer }
          - wait_for: { url: "**/customers/new" }
          - expect_url: "**/customers/new"
          - select: { role: combobox, name: Plan, label: Enterprise }
          - extract: { selector: "#plan", attribute: name, as: field }
        """,
    )
    extracted = await run_flow(page, flow, {}, Recorder().context(), base_url=site_url, timeout_s=5)
    assert extracted == {"field": "plan"}
    assert await page.input_value("#plan") == "enterprise"


@pytest.mark.parametrize(
    ("status", "retry_after"),
    [(500, None), (502, None), (429, 7.0), (503, 120.0)],
)
async def test_goto_5xx_and_429_raise_http_status_error(
    page: Page, aux_url: str, tmp_path: Path, status: int, retry_after: float | None
) -> None:
    flow = flow_file(tmp_path, f'steps:\n  - goto: "{{{{ base_url }}}}/status/{status}"\n')
    with pytest.raises(HttpStatusError) as info:
        await run_flow(page, flow, {}, Recorder().context(), base_url=aux_url, timeout_s=5)
    assert (info.value.status, info.value.url) == (status, f"{aux_url}/status/{status}")
    if retry_after is None:
        assert info.value.retry_after_s is None
    else:
        assert info.value.retry_after_s == pytest.approx(retry_after, abs=3)


async def test_goto_4xx_is_a_business_error(page: Page, aux_url: str, tmp_path: Path) -> None:
    flow = flow_file(tmp_path, 'steps:\n  - goto: "{{ base_url }}/status/404"\n')
    with pytest.raises(BusinessError, match=r'^step 1 goto "http://.*/status/404": HTTP 404'):
        await run_flow(page, flow, {}, Recorder().context(), base_url=aux_url, timeout_s=5)


async def test_every_other_action_on_a_real_page(page: Page, aux_url: str, tmp_path: Path) -> None:
    (tmp_path / "upload.txt").write_text("hello")
    flow = flow_file(
        tmp_path,
        """
        steps:
          - goto: "{{ base_url }}/actions"
          - expect_title: Actions
          - type: { placeholder: Search, value: "{{ row.q }}", delay: 5 }
          - press: { selector: "#search", key: Enter }
          - expect_text: { selector: "#out", text: "searched {{ row.q }}", exact: true }
          - dblclick: "#dbl"
          - expect_text: { selector: "#dbl", regex: "^doub" }
          - expect_hidden: "#tip"
          - hover: "#hov"
          - expect_visible: "text=tip shown"
          - uncheck: "#news"
          - upload: { selector: "#file", path: upload.txt }
          - expect_text: { selector: "#fname", text: upload.txt }
          - expect_count: { selector: ".items li", count: 3 }
          - extract: { selector: "#link", attribute: data-id, as: link_id }
          - extract: { selector: ".items li >> nth=1", as: second }
          - click: { test_id: late }
          - wait_for: { selector: ".late", state: visible }
          - wait: 10
          - press: Tab
          - screenshot: "done-{{ job.index }}"
        """,
    )
    recorder = Recorder()
    extracted = await run_flow(
        page, flow, {"q": "lovelace"}, recorder.context(), base_url=aux_url, timeout_s=5
    )
    assert extracted == {"link_id": "42", "second": "b"}
    assert recorder.events == ["screenshot:done-1"]
    assert await page.is_checked("#news") is False
    assert await page.input_value("#search") == "lovelace"


async def test_upload_of_a_missing_file_is_a_business_error(
    page: Page, aux_url: str, tmp_path: Path
) -> None:
    flow = flow_file(
        tmp_path,
        """
        steps:
          - goto: "{{ base_url }}/actions"
          - upload: { selector: "#file", path: "{{ row.file }}" }
        """,
    )
    with pytest.raises(BusinessError, match=r"step 2 upload \"#file\": no file to upload at .*x"):
        await run_flow(
            page, flow, {"file": "x.pdf"}, Recorder().context(), base_url=aux_url, timeout_s=5
        )


async def test_playwright_errors_propagate_unchanged(
    page: Page, aux_url: str, tmp_path: Path
) -> None:
    flow = flow_file(
        tmp_path,
        """
        steps:
          - goto: "{{ base_url }}/actions"
          - click: "#missing"
            timeout: 0.3
        """,
    )
    with pytest.raises(PlaywrightTimeoutError):
        await run_flow(page, flow, {}, Recorder().context(), base_url=aux_url, timeout_s=5)


async def test_commit_is_recorded_before_the_step_runs(
    page: Page, site: Any, site_url: str, tmp_path: Path
) -> None:
    recorder = Recorder(site)
    flow = flow_file(
        tmp_path,
        """
        steps:
          - goto: "{{ base_url }}/customers/new"
          - fill: { selector: "#name", value: "{{ row.name }}" }
          - fill: { label: Email, value: "{{ row.email }}" }
          - check: "#terms"
          - screenshot: before-submit
          - click: "button[type=submit]"
            commit: true
          - wait_for: { selector: ".flash" }
          - screenshot: after-submit
        """,
    )
    row = {"name": "Grace", "email": "grace@example.com"}
    await run_flow(page, flow, row, recorder.context(), base_url=site_url, timeout_s=5)
    assert recorder.events == ["screenshot:before-submit", "commit:0", "screenshot:after-submit"]
    assert len(site.state.customers) == 1


async def test_python_flow_runs_with_its_context(
    page: Page, site: Any, site_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(FLOWS))
    recorder = Recorder(site)
    flow = load_flow("batchwright_test_flows:add_customer")
    ctx = recorder.context(attempt=2)
    extracted = await run_flow(page, flow, ROW, ctx, base_url=site_url, timeout_s=5)
    assert extracted == {"customer_id": "1", "attempt": "2"}
    assert ctx.extracted == extracted
    assert recorder.events == ["screenshot:filled", "commit:0"]
    assert [c["email"] for c in site.state.customers] == ["ada@example.com"]


async def test_python_flow_ctx_fail_is_a_business_error(
    page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(FLOWS))
    flow = load_flow("batchwright_test_flows:reject")
    with pytest.raises(BusinessError, match="no plan called 'gold'"):
        await run_flow(
            page, flow, {"plan": "gold"}, Recorder().context(), base_url=None, timeout_s=5
        )


async def test_python_flow_returning_a_non_dict_is_a_configuration_error(
    page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(FLOWS))
    flow = load_flow("batchwright_test_flows:returns_list")
    with pytest.raises(ConfigurationError, match="returned list: return a dict"):
        await run_flow(page, flow, {}, Recorder().context(), base_url=None, timeout_s=5)
