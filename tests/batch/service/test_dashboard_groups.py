"""The dashboard's groups and schedules pages in a real Chromium against a real
``batchwright serve``: a group of two CSVs and a refused file with its batches, refused
file and index report, cancelled by a writer; a schedule paused and resumed by a writer
(the store follows), without buttons for a reader; hostile file names shown as text.

Groups and schedules are made in the server's store as the CLI makes them; nothing
runs (a group's batches stay created until cancelled, the yearly schedule's next slot
is months away), so the pages are what is tested, in seconds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from dashboard_session import signed_in
from paths import FLOWS
from playwright.async_api import Browser, expect
from service_server import ServiceProcess

from batch.engine import BatchEngine
from batch.schedule import add_schedule
from batch.settings import BatchSettings, load_settings
from batch.store import ManifestStore, default_store_path
from batch.store._schedules import ScheduleStore
from runtime.run_context import RunContext

pytestmark = pytest.mark.browser

HOSTILE = "<img src=x onerror=window.pwned=1>"
"""A file name (no slash) that would run a script if a page wrote it as HTML."""
ROW = "name,email,plan\nAda,ada@example.com,basic\n"


def settings_of(service: ServiceProcess) -> BatchSettings:
    return load_settings(
        {"base_dir": service.workdir, "artifacts_dir": service.artifacts}, read_env=False
    )


def stored_group(service: ServiceProcess) -> tuple[str, list[str]]:
    """A group of two one-row CSVs (one with a hostile name) and a refused file, made in
    the server's store as ``batchwright run DIR`` makes it: its id and batch ids."""
    folder = service.workdir / "inbox"
    folder.mkdir()
    (folder / "a.csv").write_text(ROW, encoding="utf-8")
    (folder / f"{HOSTILE}.csv").write_text(ROW, encoding="utf-8")
    (folder / "bad.csv").write_text("x\n1\n", encoding="utf-8")  # no column of the flow
    engine = BatchEngine(RunContext(settings=settings_of(service)))
    try:
        group = engine.create_batch_group(folder, FLOWS / "add_customer.json")
    finally:
        engine.close()
    assert len(group.batch_ids) == 2, group
    return group.group_id, group.batch_ids


async def test_a_group_lists_its_batches_and_refused_file_and_a_writer_cancels_it(
    browser: Browser, service: ServiceProcess
) -> None:
    group_id, batch_ids = stored_group(service)
    watched = await signed_in(browser, service, service.write_key)
    page = watched.page

    await page.click("header >> text=Groups")
    listed = page.locator(f'tr[data-group-id="{group_id}"]')
    await expect(listed.locator("[data-role=files]")).to_have_text("2 batches, 1 refused")
    await expect(listed.locator("[data-role=status]")).to_have_text("created")
    await expect(listed.locator("[data-role=ok]")).to_have_text("no")

    await listed.locator(f"text={group_id}").click()
    await expect(page).to_have_url(f"{service.base_url}/groups/{group_id}")
    files = page.locator("#batches [data-role=file]")
    await expect(files).to_have_count(2)
    assert sorted(await files.all_text_contents()) == sorted(["a.csv", f"{HOSTILE}.csv"])
    for batch_id in batch_ids:
        await expect(page.locator(f'#batches a[href="/batches/{batch_id}"]')).to_have_count(1)
    refused = page.locator("#refused tbody tr")
    await expect(refused).to_have_count(1)
    await expect(refused.locator("td.value")).to_have_text(re.compile(r"/inbox/bad\.csv$"))
    await expect(refused.locator("td.error")).not_to_be_empty()
    assert await page.locator("main img, main script").count() == 0

    await page.click("text=Group report")  # the API's index report, with the session
    await expect(page).to_have_url(f"{service.base_url}/api/v1/groups/{group_id}/report")
    await expect(page.locator("#batches")).to_contain_text("a.csv")
    await expect(page.locator("#refused")).to_contain_text("bad.csv")
    await page.go_back()

    await page.click(f'#batches a[href="/batches/{batch_ids[0]}"]')
    await expect(page.locator("[data-role=group]")).to_have_text(group_id)
    await page.click("[data-role=group] a")
    await page.click("text=Cancel the group")  # POST .../cancel with the CSRF header
    await expect(page.locator("#batches [data-role=status]")).to_have_text(
        ["interrupted", "interrupted"]
    )
    assert await page.evaluate("window.pwned") is None
    assert watched.dialogs == []
    assert watched.errors == [], watched.errors


def stored_schedule(service: ServiceProcess, batch_id: str) -> str:
    """A yearly schedule on a hostile-named CSV, as ``schedule add`` stores it, whose
    last slot fired ``batch_id``: its name."""
    csv = service.workdir / f"{HOSTILE}.csv"
    csv.write_text(ROW, encoding="utf-8")
    now = datetime.now(UTC)
    with ManifestStore(default_store_path(service.artifacts)) as store:
        add_schedule(
            store, "nightly", "0 0 1 1 *", "Europe/Paris", csv,
            str(FLOWS / "add_customer.json"), {}, settings_of(service), now,
        )  # fmt: skip
        schedules = ScheduleStore(store)
        slot = now + timedelta(minutes=1)  # after its creation: the store takes it
        assert schedules.take_slot("nightly", slot, "test", now)
        schedules.settle_slot("nightly", slot, "fired", batch_id=batch_id)
    return "nightly"


def paused(service: ServiceProcess, name: str) -> bool:
    with ManifestStore(default_store_path(service.artifacts)) as store:
        return ScheduleStore(store).get(name).paused


async def test_a_writer_pauses_and_resumes_a_schedule_a_reader_sees_no_buttons(
    browser: Browser, service: ServiceProcess
) -> None:
    _, batch_ids = stored_group(service)
    name = stored_schedule(service, batch_ids[0])

    reader = await signed_in(browser, service, service.read_key)
    await reader.page.click("header >> text=Schedules")
    row = reader.page.locator(f'tr[data-schedule="{name}"]')
    await expect(row.locator("[data-role=source]")).to_have_text(
        re.compile(re.escape(f"/{HOSTILE}.csv") + "$")
    )
    await expect(row.locator("[data-role=next-run]")).to_have_text(
        re.compile(r"^\d{4}-01-01 00:00\+01:00$")  # midnight on 1 January in Paris
    )
    await expect(row.locator("[data-role=last-result]")).to_contain_text("fired")
    assert await reader.page.locator("button[data-action]").count() == 0
    assert await reader.page.locator("main img").count() == 0

    writer = await signed_in(browser, service, service.write_key)
    page = writer.page
    await page.goto("/schedules")
    row = page.locator(f'tr[data-schedule="{name}"]')
    await row.get_by_role("button", name="Pause").click()  # POST .../pause with the CSRF header
    await expect(row.locator("[data-role=next-run]")).to_have_text("paused")
    assert paused(service, name)
    await row.get_by_role("button", name="Resume").click()
    await expect(row.get_by_role("button", name="Pause")).to_be_visible()
    assert not paused(service, name)

    await row.locator(f"[data-role=last-result] a >> text={batch_ids[0]}").click()
    await expect(page).to_have_url(f"{service.base_url}/batches/{batch_ids[0]}")
    await expect(page.locator("[data-role=schedule]")).to_have_text(f"schedule {name}")
    for watched in (reader, writer):
        assert await watched.page.evaluate("window.pwned") is None
        assert watched.dialogs == []
        assert watched.errors == [], watched.errors


def test_a_missing_group_is_a_not_found_page(service: ServiceProcess) -> None:
    with service.client() as client:
        assert client.post("/api/v1/session", json={"key": service.read_key}).is_success
        missing = client.get("/groups/<b>nope")
        empty = client.get("/schedules")
    assert missing.status_code == 404
    assert "No group &#39;&lt;b&gt;nope&#39;." in missing.text
    assert empty.status_code == 200
    assert "No schedule yet" in empty.text
