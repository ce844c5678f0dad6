"""What each step does on a Playwright page, and running a whole flow for one row.

Failed expectations become ``BusinessError`` naming the step (``step 8 expect_text
".flash": expected to contain "Saved Ada", got "Email is invalid"``); HTTP 5xx
and 429 on navigation become ``HttpStatusError``. Playwright's own errors
(timeouts, ``net::ERR_*``, closed targets) propagate unchanged for the caller to
classify. Which arguments each action takes is defined in ``flow_actions``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page, expect

from runtime.errors import BusinessError, ConfigurationError, HttpStatusError
from runtime.flows.actions import ACTIONS
from runtime.flows.context import FlowContext
from runtime.flows.locators import resolve_locator
from runtime.flows.model import Flow, JobInfo, RenderedStep, render_steps

__all__ = ["HANDLERS", "glob_to_regex", "parse_retry_after", "run_flow", "run_step"]

Handler = Callable[[Page, RenderedStep, FlowContext, float], Awaitable[None]]
"""Performs a rendered step; the last argument is its timeout in milliseconds."""


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """A URL glob as a full-match regex: ``**`` any characters, ``*`` any but ``/``."""
    parts = re.split(r"(\*\*|\*)", pattern)
    body = "".join({"**": ".*", "*": "[^/]*"}.get(p, re.escape(p)) for p in parts)
    return re.compile(f"^{body}$")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _locator(page: Page, step: RenderedStep) -> Locator:
    action = ACTIONS[step.action]
    exact = None if "exact" in action.args else step.args.get("exact")
    return resolve_locator(page, step.args, action.locator_keys, exact=exact)


def _quote(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


async def _actual_texts(locator: Locator) -> str:
    """What the page shows, for the failure message (no waiting: the wait already failed)."""
    try:
        texts = [t.strip() for t in await locator.all_inner_texts()]
    except PlaywrightError:
        return "nothing readable"
    if not texts:
        return "no matching element"
    return _quote(texts[0]) if len(texts) == 1 else f"{len(texts)} elements: {_quote(texts)}"


async def _goto(page: Page, step: RenderedStep, _ctx: FlowContext, ms: float) -> None:
    url = step.args["url"]
    wait_until = cast(Any, step.args.get("wait_until"))
    response = await page.goto(url, timeout=ms, wait_until=wait_until)
    if response is None:  # same-document navigation: no HTTP exchange to judge
        return
    status = response.status
    if status >= 500 or status == 429:
        retry_after = parse_retry_after(await response.header_value("retry-after"))
        raise HttpStatusError(status, response.url, retry_after)
    if status >= 400:
        raise BusinessError(f"{step.where} {step.label}: HTTP {status} {response.status_text}")


async def _fill(page: Page, step: RenderedStep, _ctx: FlowContext, ms: float) -> None:
    await _locator(page, step).fill(step.args["value"], timeout=ms)


async def _type(page: Page, step: RenderedStep, _ctx: FlowContext, ms: float) -> None:
    locator = _locator(page, step)
    await locator.press_sequentially(step.args["value"], delay=step.args.get("delay"), timeout=ms)


async def _select(page: Page, step: RenderedStep, _ctx: FlowContext, ms: float) -> None:
    value, label = step.args.get("value"), step.args.get("label")
    await _locator(page, step).select_option(value=value, label=label, timeout=ms)


def _simple(method: str) -> Handler:
    """check, uncheck, click, dblclick, hover: one locator method, nothing else."""

    async def handler(page: Page, step: RenderedStep, _ctx: FlowContext, ms: float) -> None:
        await getattr(_locator(page, step), method)(timeout=ms)

    return handler


async def _press(page: Page, step: RenderedStep, _ctx: FlowContext, ms: float) -> None:
    if ACTIONS["press"].has_locator(step.args):
        await _locator(page, step).press(step.args["key"], timeout=ms)
    else:
        await page.keyboard.press(step.args["key"])


async def _wait_for(page: Page, step: RenderedStep, _ctx: FlowContext, ms: float) -> None:
    if "url" in step.args:
        await page.wait_for_url(glob_to_regex(step.args["url"]), timeout=ms)
        return
    state = cast(Any, step.args.get("state", "visible"))
    await _locator(page, step).wait_for(state=state, timeout=ms)


async def _wait(page: Page, step: RenderedStep, _ctx: FlowContext, _ms: float) -> None:
    await page.wait_for_timeout(step.args["ms"])


async def _expect_text(page: Page, step: RenderedStep, _ctx: FlowContext, ms: float) -> None:
    locator, args = _locator(page, step), step.args
    ignore_case = bool(args.get("ignore_case", False))
    if "regex" in args:
        wanted, how = re.compile(args["regex"], re.I if ignore_case else 0), "to match"
    else:
        wanted, how = args["text"], "to be" if args.get("exact") else "to contain"
    try:
        if how == "to contain":
            await expect(locator).to_contain_text(wanted, ignore_case=ignore_case, timeout=ms)
        else:
            await expect(locator).to_have_text(wanted, ignore_case=ignore_case, timeout=ms)
    except AssertionError as exc:
        shown = _quote(args.get("regex", args.get("text")))
        got = await _actual_texts(locator)
        raise BusinessError(
            f"{step.where} {step.label}: expected {how} {shown}, got {got}"
        ) from exc


async def _expect_state(page: Page, step: RenderedStep, _ctx: FlowContext, ms: float) -> None:
    locator, visible = _locator(page, step), step.action == "expect_visible"
    try:
        if visible:
            await expect(locator).to_be_visible(timeout=ms)
        else:
            await expect(locator).to_be_hidden(timeout=ms)
    except AssertionError as exc:
        wanted = "visible" if visible else "hidden"
        count = await locator.count()
        got = "no matching element" if count == 0 else f"{count} matching element(s)"
        raise BusinessError(f"{step.where} {step.label}: expected {wanted}, got {got}") from exc


async def _expect_url(page: Page, step: RenderedStep, _ctx: FlowContext, ms: float) -> None:
    args = step.args
    pattern = re.compile(args["regex"]) if "regex" in args else glob_to_regex(args["url"])
    try:
        await expect(page).to_have_url(pattern, timeout=ms)
    except AssertionError as exc:
        wanted = _quote(args.get("regex", args.get("url")))
        message = f"{step.where} {step.label}: expected URL to match {wanted}, got {page.url}"
        raise BusinessError(message) from exc


async def _expect_count(page: Page, step: RenderedStep, _ctx: FlowContext, ms: float) -> None:
    locator, count = _locator(page, step), step.args["count"]
    try:
        await expect(locator).to_have_count(count, timeout=ms)
    except AssertionError as exc:
        got = await locator.count()
        message = f"{step.where} {step.label}: expected {count} element(s), got {got}"
        raise BusinessError(message) from exc


async def _expect_title(page: Page, step: RenderedStep, _ctx: FlowContext, ms: float) -> None:
    args = step.args
    if "regex" in args:
        wanted: str | re.Pattern[str] = re.compile(args["regex"])
        how = "to match"
    elif args.get("exact"):
        wanted, how = args["title"], "to be"
    else:
        wanted, how = re.compile(re.escape(args["title"])), "to contain"
    try:
        await expect(page).to_have_title(wanted, timeout=ms)
    except AssertionError as exc:
        shown = _quote(args.get("regex", args.get("title")))
        got = _quote(await page.title())
        message = f"{step.where} {step.label}: expected title {how} {shown}, got {got}"
        raise BusinessError(message) from exc


async def _extract(page: Page, step: RenderedStep, ctx: FlowContext, ms: float) -> None:
    locator, attribute = _locator(page, step), step.args.get("attribute")
    if attribute is None:
        value = await locator.inner_text(timeout=ms)
    else:
        found = await locator.get_attribute(attribute, timeout=ms)
        if found is None:
            raise BusinessError(f"{step.where} {step.label}: the element has no {attribute!r}")
        value = found
    ctx.extracted[step.args["as"]] = value.strip()


async def _screenshot(_page: Page, step: RenderedStep, ctx: FlowContext, _ms: float) -> None:
    await ctx.screenshot(step.args["name"])


async def _upload(page: Page, step: RenderedStep, _ctx: FlowContext, ms: float) -> None:
    paths = step.args["path"]
    paths = [paths] if isinstance(paths, str) else list(paths)
    missing = await asyncio.to_thread(lambda: [p for p in paths if not Path(p).is_file()])
    if missing:
        raise BusinessError(f"{step.where} {step.label}: no file to upload at {', '.join(missing)}")
    await _locator(page, step).set_input_files(paths, timeout=ms)


HANDLERS: Mapping[str, Handler] = {
    "goto": _goto,
    "fill": _fill,
    "type": _type,
    "select": _select,
    "check": _simple("check"),
    "uncheck": _simple("uncheck"),
    "click": _simple("click"),
    "dblclick": _simple("dblclick"),
    "hover": _simple("hover"),
    "press": _press,
    "wait_for": _wait_for,
    "wait": _wait,
    "expect_text": _expect_text,
    "expect_visible": _expect_state,
    "expect_hidden": _expect_state,
    "expect_url": _expect_url,
    "expect_count": _expect_count,
    "expect_title": _expect_title,
    "extract": _extract,
    "screenshot": _screenshot,
    "upload": _upload,
}
"""One handler per action of ``flow_actions.ACTIONS``."""


async def run_step(page: Page, step: RenderedStep, ctx: FlowContext, *, timeout_s: float) -> None:
    """Perform one rendered step; a commit step is recorded before its action runs."""
    seconds = step.timeout_s if step.timeout_s is not None else timeout_s
    if step.commit:
        await ctx.mark_commit()
    ctx.logger.debug("%s %s", step.where, step.label)
    try:
        await HANDLERS[step.action](page, step, ctx, seconds * 1000)
    except BaseException:
        ctx.pool_failures.update(name for name in step.pool_error if name in ctx.pool)
        raise


async def run_flow(
    page: Page,
    flow: Flow,
    row: Mapping[str, str],
    ctx: FlowContext,
    *,
    base_url: str | None,
    timeout_s: float,
    verify: bool = False,
) -> dict[str, str]:
    """Perform ``flow`` for one row; returns the values it extracted.

    ``timeout_s`` is the default timeout of each step (and of Playwright calls in a
    Python flow); ``base_url`` overrides the flow's. ``verify`` runs the flow's verify
    steps instead, which pass only when the row's record already exists.
    """
    page.set_default_timeout(timeout_s * 1000)
    if flow.python is not None and not verify:
        effective = base_url or flow.base_url
        result = await flow.python.run(
            page, MappingProxyType(dict(row)), replace(ctx, base_url=effective)
        )
        if result is not None and not isinstance(result, Mapping):
            raise ConfigurationError(
                f"Python flow {flow.source} returned {type(result).__name__}: "
                f"return a dict of extracted values, or nothing"
            )
        ctx.extracted.update({str(k): str(v) for k, v in (result or {}).items()})
        return dict(ctx.extracted)
    job = JobInfo(ctx.row_index, ctx.job_id, ctx.attempt)
    steps = flow.verify if verify else flow.steps
    rendered = render_steps(flow, row, base_url=base_url, job=job, steps=steps, pool=ctx.pool)
    for step in rendered:
        await run_step(page, step, ctx, timeout_s=timeout_s)
    return dict(ctx.extracted)
