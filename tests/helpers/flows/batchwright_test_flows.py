"""Python flows for the tests, imported as ``batchwright_test_flows:<function>``.

The tests put this directory on ``sys.path`` (``monkeypatch.syspath_prepend``).
"""

from __future__ import annotations

from typing import Any


async def add_customer(page: Any, row: Any, ctx: Any) -> dict[str, str]:
    """The demo site's customer form, written in Python: commit before the submit."""
    await page.goto(f"{ctx.base_url}/customers/new")
    await page.fill("#name", row["name"])
    await page.get_by_label("Email").fill(row["email"])
    await page.select_option("#plan", row["plan"])
    await page.check("#terms")
    await ctx.screenshot("filled")
    await ctx.mark_commit()
    await page.get_by_role("button", name="Save customer").click()
    await page.wait_for_url("**/customers/*")
    ctx.logger.info("saved %s", row["name"])
    return {"customer_id": await page.inner_text("#customer-id"), "attempt": ctx.attempt}


async def reject(page: Any, row: Any, ctx: Any) -> None:
    """Refuses every row through ``ctx.fail``."""
    ctx.fail(f"no plan called {row['plan']!r}")


async def returns_list(page: Any, row: Any, ctx: Any) -> list[str]:
    """A bug: flows return a dict of extracted values, not a list."""
    return ["oops"]


def not_async(page: Any, row: Any, ctx: Any) -> None:
    """A bug: flows must be coroutine functions."""


async def one_parameter(page: Any) -> None:
    """A bug: flows take (page, row, ctx)."""
