"""How a step names an element: a Playwright selector or one of the ``get_by_*`` forms.

``{selector: "#name"}`` is ``page.locator("#name")``; ``{label: "Email"}``,
``{placeholder: ...}``, ``{role: button, name: ...}``, ``{text: ...}`` and
``{test_id: ...}`` are the matching ``page.get_by_*`` calls (``exact`` optional).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any, cast, get_args, get_type_hints

from playwright.async_api import Locator, Page

__all__ = [
    "ARIA_ROLES",
    "LOCATOR_KEYS",
    "describe_locator",
    "locator_key",
    "resolve_locator",
]

LOCATOR_KEYS = ("selector", "label", "placeholder", "role", "text", "test_id")
"""Ways to name an element, in the order they are looked for."""

ARIA_ROLES = frozenset(get_args(get_type_hints(Page.get_by_role)["role"]))
"""The roles ``get_by_role`` accepts, read from Playwright itself."""


def locator_key(args: Mapping[str, Any], keys: Collection[str] = LOCATOR_KEYS) -> str | None:
    """The locator form a step uses, among the ``keys`` its action allows."""
    return next((key for key in LOCATOR_KEYS if key in keys and key in args), None)


def describe_locator(args: Mapping[str, Any], keys: Collection[str] = LOCATOR_KEYS) -> str:
    """A short human form for logs: ``"#name"``, ``label="Email"``, ``role=button "Save"``."""
    key = locator_key(args, keys)
    if key is None:
        return ""
    value = json.dumps(str(args[key]), ensure_ascii=False)
    if key == "selector":
        return value
    if key == "role":
        name = args.get("name")
        suffix = f" {json.dumps(str(name), ensure_ascii=False)}" if name is not None else ""
        return f"role={args[key]}{suffix}"
    return f"{key}={value}"


def resolve_locator(
    page: Page,
    args: Mapping[str, Any],
    keys: Collection[str] = LOCATOR_KEYS,
    *,
    exact: bool | None = None,
) -> Locator:
    """The Playwright locator for a validated step's arguments.

    ``exact`` is passed by the caller because some actions use ``exact`` for their
    own matching (``expect_text``) rather than for the locator.
    """
    key = locator_key(args, keys)
    value = args.get(key) if key else None
    if not isinstance(value, str):
        raise ValueError(f"no locator among {sorted(keys)} in {dict(args)!r}")
    if key == "selector":
        return page.locator(value)
    if key == "label":
        return page.get_by_label(value, exact=exact)
    if key == "placeholder":
        return page.get_by_placeholder(value, exact=exact)
    if key == "text":
        return page.get_by_text(value, exact=exact)
    if key == "test_id":
        return page.get_by_test_id(value)
    name = args.get("name")
    # ARIA_ROLES validated the role when the flow was loaded.
    role = cast(Any, value)
    return page.get_by_role(role, name=name if isinstance(name, str) else None, exact=exact)
