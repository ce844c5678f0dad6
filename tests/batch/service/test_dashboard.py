"""The dashboard in a real Chromium against a real ``batchwright serve`` and the test site:
sign in, start a batch by upload, watch its bar reach 100 %, open its report; pages
without a session redirect to sign-in; changes without the CSRF token are refused;
values show as text."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest
from dashboard_session import signed_in
from paths import FLOWS
from playwright.async_api import Browser, expect
from service_server import ServiceProcess, StartService

from batch.engine import BatchEngine
from batch.models import BatchStatus
from batch.settings import load_settings
from batch.store import ManifestStore, default_store_path
from runtime.run_context import RunContext

pytestmark = pytest.mark.browser

HOSTILE = "<script>window.pwned = 1</script>"
ROWS = 8
HOSTILE_IMG = '<img src="x" onerror="window.pwned = 2">'


def stored_batch(service: ServiceProcess, site_url: str, csv_text: str) -> str:
    """A batch created in the server's store (nothing runs it yet): its id."""
    csv = service.workdir / "people.csv"
    csv.write_text(csv_text, "utf-8")
    settings = load_settings(
        {"base_dir": service.workdir, "artifacts_dir": service.artifacts, "base_url": site_url},
        read_env=False,
    )
    engine = BatchEngine(RunContext(settings=settings))
    try:
        return engine.create_batch_jobs(csv, FLOWS / "add_customer.json").batch_id
    finally:
        engine.close()


def hostile_batch(service: ServiceProcess, site_url: str) -> str:
    """A batch whose rows carry markup, stopped before it ran (its page opens no stream)."""
    csv_text = f'name,email,plan\n"{HOSTILE}",a@example.com,{HOSTILE_IMG}\n'
    batch_id = stored_batch(service, site_url, csv_text)
    with ManifestStore(default_store_path(service.artifacts)) as store:
        store.set_batch_status(batch_id, BatchStatus.INTERRUPTED)
    return batch_id


def people(rows: int) -> str:
    lines = (f"Person {i},p{i}@example.com,basic\n" for i in range(rows))
    return "name,email,plan\n" + "".join(lines)


async def test_sign_in_start_by_upload_watch_the_bar_and_open_the_report(
    browser: Browser, start_server: StartService, site_url: str, tmp_path: Path
) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "add_customer.json").write_bytes((FLOWS / "add_customer.json").read_bytes())
    service = start_server(base_url=site_url, flows_dir=flows)
    watched = await signed_in(browser, service, service.write_key)
    page = watched.page
    csv = tmp_path / "customers.csv"
    csv.write_text(people(ROWS), encoding="utf-8")

    await page.click("text=Start a batch")
    await expect(page.locator("#flow-name option")).to_have_text(
        ["(upload a flow file instead)", "add_customer.json"]
    )
    await page.set_input_files("#csv", csv)
    await page.set_input_files("#flow-file", FLOWS / "add_customer.json")
    await page.fill("#concurrency", "1")  # a few seconds: the bar moves while we watch
    await page.click("button[type=submit]")

    await expect(page).to_have_url(re.compile(r"/batches/[\w-]+$"), timeout=10_000)
    bar = page.locator(".summary .progress")
    await expect(bar).to_have_attribute("data-live", re.compile("/events$"))
    # data-finished: the stream's final event reached the page's script
    await expect(bar).to_have_attribute("data-finished", "true", timeout=90_000)
    await expect(bar).to_have_attribute("data-percent", "100")
    await expect(bar.locator("[data-role=progress-text]")).to_have_text(f"{ROWS} / {ROWS} (100 %)")
    await expect(page.locator(".summary [data-role=status]")).to_have_text("finished")
    # the rows rendered while it ran are fetched again once the stream ends
    await expect(page.locator("body")).to_have_attribute("data-refreshed", "true")
    await expect(page.locator("table.rows tbody tr.status-completed")).to_have_count(ROWS)
    await expect(page.locator("#counts")).to_have_text(f"completed {ROWS}")

    batch_id = page.url.rsplit("/", 1)[-1]
    await page.goto("/")
    listed = page.locator(f'tr[data-batch-id="{batch_id}"]')
    await expect(listed.locator("[data-role=status]")).to_have_text("finished")
    await expect(listed.locator("[data-role=success-rate]")).to_have_text("100.0 %")
    await expect(listed.locator("[data-role=progress-text]")).to_have_text(
        f"{ROWS} / {ROWS} (100 %)"
    )
    assert service.write_key not in await page.content()

    await listed.locator("text=report").click()
    await expect(page).to_have_url(re.compile(r"/api/v1/batches/[\w-]+/report\.html$"))
    await expect(page.locator("body")).to_contain_text("add-customer-json")
    assert watched.errors == [], watched.errors
    content = await page.content()
    assert service.write_key not in content
    assert service.write_key not in page.url


def test_pages_without_a_session_redirect_to_sign_in(service: ServiceProcess) -> None:
    with service.client(follow_redirects=False) as client:
        for path in ("/", "/start", "/batches/20260101-000000-abcdef", "/groups", "/schedules"):
            response = client.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"] == "/sign-in"
        client.cookies.set("batchwright_session", "forged")
        assert client.get("/").headers["location"] == "/sign-in"
        sign_in = client.get("/sign-in")
        static = client.get("/static/dashboard.js")
        outside = client.get("/static/..%2Fpages.py")
    assert sign_in.status_code == 200
    assert sign_in.headers["content-security-policy"].startswith("default-src 'self'")
    assert "<script>" not in sign_in.text  # the script is a file, never inline
    assert static.status_code == 200
    assert static.headers["content-type"].startswith("text/javascript")
    assert outside.status_code == 404


async def test_a_wrong_key_is_refused_and_signing_out_ends_the_session(
    browser: Browser, service: ServiceProcess
) -> None:
    context = await browser.new_context(base_url=service.base_url)
    refused = await context.new_page()
    await refused.goto("/sign-in")
    await refused.fill("#api-key", "bw_not_a_key")
    await refused.click("button[type=submit]")
    await expect(refused.locator("#message")).to_contain_text("401")
    await expect(refused).to_have_url(f"{service.base_url}/sign-in")
    assert await refused.input_value("#api-key") == ""  # the field forgets what was typed

    watched = await signed_in(browser, service, service.read_key)
    page = watched.page
    await page.click("#sign-out")
    await expect(page).to_have_url(f"{service.base_url}/sign-in")
    await page.goto("/start")
    await expect(page).to_have_url(f"{service.base_url}/sign-in")
    assert watched.errors == [], watched.errors


def test_a_change_without_the_csrf_token_is_refused(service: ServiceProcess, site_url: str) -> None:
    batch_id = hostile_batch(service, site_url)
    with service.client() as client:
        signed = client.post("/api/v1/session", json={"key": service.write_key})
        assert signed.status_code == 200
        token = signed.json()["csrf_token"]
        assert "httponly" in signed.headers["set-cookie"].lower()
        assert "samesite=strict" in signed.headers["set-cookie"].lower()

        refused = client.post(f"/api/v1/batches/{batch_id}/cancel")
        assert refused.status_code == 403
        assert refused.json()["field"] == "X-CSRF-Token"
        wrong = client.post(f"/api/v1/batches/{batch_id}/cancel", headers={"X-CSRF-Token": "x"})
        assert wrong.status_code == 403

        page = client.get(f"/batches/{batch_id}")
        assert page.status_code == 200
        assert f'<meta name="csrf-token" content="{token}">' in page.text
        accepted = client.post(
            f"/api/v1/batches/{batch_id}/cancel", headers={"X-CSRF-Token": token}
        )
        assert accepted.status_code == 202


async def test_row_values_with_markup_show_as_text(
    browser: Browser, service: ServiceProcess, site_url: str
) -> None:
    batch_id = hostile_batch(service, site_url)
    watched = await signed_in(browser, service, service.write_key)
    page = watched.page

    await page.goto(f"/batches/{batch_id}")
    cells = page.locator("table.rows tbody td.value")
    await expect(cells.nth(0)).to_have_text(HOSTILE)
    await expect(cells.nth(1)).to_have_text("***")  # email: a secret column of the flow
    await expect(cells.nth(2)).to_have_text(HOSTILE_IMG)
    assert await page.locator("table.rows script, table.rows img").count() == 0
    assert await page.evaluate("window.pwned") is None
    assert watched.dialogs == []
    assert watched.errors == [], watched.errors


def test_the_registered_flows_are_listed_by_name(
    start_server: StartService, tmp_path: Path
) -> None:
    flows = tmp_path / "flows"
    (flows / "nested").mkdir(parents=True)
    names = ("b.yaml", "a.json", "c.yml", "notes.txt", "code.py", "nested/d.yaml", "sp ace.yaml")
    for name in names:
        (flows / name).write_text("{}", encoding="utf-8")
    service = start_server(flows_dir=flows)
    with service.client(service.read_key) as client:
        listed = client.get("/api/v1/flows")
    with service.client() as anonymous:
        refused = anonymous.get("/api/v1/flows")
    names = [flow["name"] for flow in listed.json()["flows"]]
    assert names == ["a.json", "b.yaml", "c.yml", "code.py"]
    assert refused.status_code == 401


async def test_the_batches_page_follows_a_batch_run_by_another_process(
    browser: Browser, start_server: StartService, site_url: str
) -> None:
    service = start_server(base_url=site_url)
    batch_id = stored_batch(service, site_url, people(ROWS))
    watched = await signed_in(browser, service, service.read_key)
    page = watched.page
    listed = page.locator(f'tr[data-batch-id="{batch_id}"]')
    await expect(listed.locator("[data-role=progress-text]")).to_have_text(f"0 / {ROWS} (0 %)")
    assert await page.locator("text=Start a batch").count() == 0  # a read key

    # the CLI runs it in a process of its own; the page hears of it through the stream
    runner = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "batch", "--artifacts", str(service.artifacts),
        "resume", batch_id, "--concurrency", "1",
        cwd=service.workdir, env=service.env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert await asyncio.wait_for(runner.wait(), 120) == 0
    progress = listed.locator(".progress")
    await expect(progress).to_have_attribute("data-finished", "true", timeout=30_000)
    await expect(progress).to_have_attribute("data-percent", "100")
    await expect(listed.locator("[data-role=status]")).to_have_text("finished")
    await expect(listed.locator("[data-role=success-rate]")).to_have_text("100.0 %")
    assert watched.errors == [], watched.errors


async def test_the_buttons_resume_a_batch_and_show_a_refusal(
    browser: Browser, start_server: StartService, site_url: str
) -> None:
    service = start_server(base_url=site_url)
    batch_id = stored_batch(service, site_url, people(ROWS))
    with ManifestStore(default_store_path(service.artifacts)) as store:
        store.set_batch_status(batch_id, BatchStatus.INTERRUPTED)
    watched = await signed_in(browser, service, service.write_key)
    page = watched.page
    await page.goto(f"/batches/{batch_id}")
    bar = page.locator(".summary .progress")
    await expect(bar).not_to_have_attribute("data-live", re.compile("."))

    await page.click("text=Resume")  # POST .../resume with the CSRF header, then a reload
    await expect(bar).to_have_attribute("data-finished", "true", timeout=90_000)
    await expect(bar).to_have_attribute("data-percent", "100")
    await expect(page.locator(".summary [data-role=status]")).to_have_text("finished")

    await page.click("text=Retry failed rows")  # none failed: the API's 409, shown
    await expect(page.locator("#message")).to_contain_text("409")
    await expect(page.locator("#message")).to_contain_text("no failed rows")
    errors = [e for e in watched.errors if "409" not in e]  # the refusal's own log line
    assert errors == [], errors


def test_the_batch_page_pages_its_rows(service: ServiceProcess, site_url: str) -> None:
    batch_id = stored_batch(service, site_url, people(55))
    with service.client() as client:
        assert client.post("/api/v1/session", json={"key": service.read_key}).is_success
        first = client.get(f"/batches/{batch_id}")
        assert first.text.count('<tr class="status-pending">') == 50
        assert 'href="?part=others&amp;after=49" rel="next"' in first.text
        assert "Cancel</button>" not in first.text  # a read key gets no buttons
        last = client.get(f"/batches/{batch_id}", params={"part": "others", "after": 49})
        assert last.text.count('<tr class="status-pending">') == 5
        assert 'rel="next"' not in last.text
        assert client.get(f"/batches/{batch_id}", params={"after": "x"}).status_code == 422
        missing = client.get("/batches/no-such-batch")
    assert missing.status_code == 404
    assert "No batch &#39;no-such-batch&#39;." in missing.text
