"""The contenders, each run in its own process by the benchmark:

    python -m benchmarks.contenders naive|minimal|batchwright --csv F --url U [...]

Each prints one JSON line last: per-row latencies (seconds) and extras.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.async_api import Page, async_playwright, expect
from playwright.sync_api import Page as SyncPage
from playwright.sync_api import expect as sync_expect
from playwright.sync_api import sync_playwright

from batch.settings import load_settings
from runtime.browser import find_chromium, launch_args

__all__ = ["main"]

FLOW = Path(__file__).with_name("form_flow.yaml")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _chromium() -> tuple[str, list[str]]:
    settings = load_settings({}, read_env=False)
    return str(find_chromium(settings)), launch_args(headless=True)


async def fill_form(page: Page, url: str, row: dict[str, str]) -> None:
    await page.goto(f"{url}/customers/new")
    await page.locator("#name").fill(row["name"])
    await page.get_by_label("Email").fill(row["email"])
    await page.locator("#plan").select_option(row["plan"])
    await page.get_by_placeholder("Anything else?").fill(row["notes"])
    await page.locator("#terms").check()
    await page.get_by_role("button", name="Save customer").click()
    await expect(page.locator(".flash")).to_contain_text(f"Saved {row['name']}")


def naive(csv_path: Path, url: str) -> dict[str, Any]:
    """(a) What a first script looks like: a new browser per row, one row at a time."""
    executable, args = _chromium()
    latencies = []
    with sync_playwright() as p:
        for row in _rows(csv_path):
            started = time.perf_counter()
            browser = p.chromium.launch(executable_path=executable, args=args)
            page: SyncPage = browser.new_page()
            page.goto(f"{url}/customers/new")
            page.locator("#name").fill(row["name"])
            page.get_by_label("Email").fill(row["email"])
            page.locator("#plan").select_option(row["plan"])
            page.get_by_placeholder("Anything else?").fill(row["notes"])
            page.locator("#terms").check()
            page.get_by_role("button", name="Save customer").click()
            sync_expect(page.locator(".flash")).to_contain_text(f"Saved {row['name']}")
            browser.close()
            latencies.append(time.perf_counter() - started)
    return {"latencies": latencies}


async def minimal(csv_path: Path, url: str, concurrency: int) -> dict[str, Any]:
    """(b) The practical limit: one browser, a new context per row, a semaphore."""
    executable, args = _chromium()
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=executable, args=args)

        async def one(row: dict[str, str]) -> None:
            async with gate:
                started = time.perf_counter()
                context = await browser.new_context()
                page = await context.new_page()
                await fill_form(page, url, row)
                await context.close()
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(one(row) for row in _rows(csv_path)))
        await browser.close()
    return {"latencies": latencies}


async def batchwright(
    csv_path: Path, url: str, concurrency: str, isolation: str, workdir: Path
) -> dict[str, Any]:
    """(c) batchwright: store, flow engine, retries, reports; as ``start_batch``."""
    from benchmarks.engine_run import run_batch  # noqa: PLC0415  # keeps (a)/(b) free of batch imports

    return await run_batch(
        csv_path, FLOW, url, concurrency=concurrency, isolation=isolation, workdir=workdir
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("contender", choices=["naive", "minimal", "batchwright"])
    parser.add_argument("--csv", type=Path, required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--concurrency", default="4")
    parser.add_argument("--isolation", default="context")
    args = parser.parse_args()
    if args.contender == "naive":
        report = naive(args.csv, args.url)
    elif args.contender == "minimal":
        report = asyncio.run(minimal(args.csv, args.url, int(args.concurrency)))
    else:
        with tempfile.TemporaryDirectory(prefix="bench-bw-") as workdir:
            report = asyncio.run(
                batchwright(args.csv, args.url, args.concurrency, args.isolation, Path(workdir))
            )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
