"""The vocabulary of declarative flows: every action, its arguments, and their checks.

``flow.py`` validates steps against ``ACTIONS`` (reporting every problem with a
"did you mean"), ``steps.py`` performs them (one handler per action), and the
preview and docs read the examples. A plain string value fills the action's
``shorthand`` argument: ``click: "#save"`` is ``click: { selector: "#save" }``.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from runtime.flows.locators import ARIA_ROLES, LOCATOR_KEYS, describe_locator
from runtime.flows.templating import is_template

__all__ = [
    "ACTIONS",
    "Action",
    "ArgCheck",
    "check_args",
    "did_you_mean",
    "step_label",
]

ArgCheck = Callable[[Any], str | None]
"""Checks one argument's raw value; returns what is wrong with it, or None."""


def did_you_mean(word: str, options: Collection[str]) -> str:
    """`` (did you mean 'click'?)`` when a close match exists, else an empty string."""
    match = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _show(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else type(value).__name__


def _text(value: Any) -> str | None:
    return None if isinstance(value, str) else f"must be text, got {_show(value)}: quote it"


def _texts(value: Any) -> str | None:
    if isinstance(value, str) or (
        isinstance(value, list) and value and all(isinstance(v, str) for v in value)
    ):
        return None
    return f"must be text or a list of texts, got {_show(value)}"


def _regex(value: Any) -> str | None:
    if not isinstance(value, str):
        return _text(value)
    if is_template(value):
        return None  # compiled once rendered
    try:
        re.compile(value)
    except re.error as exc:
        return f"is not a valid regular expression: {exc}"
    return None


def _identifier(value: Any) -> str | None:
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z_][\w.-]*", value):
        return None
    return f"must be a name of letters, digits, _ . - (got {_show(value)})"


def _count(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return None if ok else f"must be a whole number >= 0, got {_show(value)}"


def _milliseconds(value: Any) -> str | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
    return None if ok else f"must be a number of milliseconds >= 0, got {_show(value)}"


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, got {_show(value)}"


def _choice(*options: str, what: str | None = None) -> ArgCheck:
    def check(value: Any) -> str | None:
        if isinstance(value, str) and value in options:
            return None
        hint = did_you_mean(value, options) if isinstance(value, str) else ""
        return f"must be {what or 'one of ' + ', '.join(options)}, got {_show(value)}{hint}"

    return check


_role = _choice(*sorted(ARIA_ROLES), what="an ARIA role (button, link, textbox, ...)")
LOCATOR_ARGS: Mapping[str, ArgCheck] = {
    "selector": _text,
    "label": _text,
    "placeholder": _text,
    "role": _role,
    "text": _text,
    "test_id": _text,
    "name": _text,
    "exact": _flag,
}
"""Arguments that name the element, unless the action uses the same name itself."""


Placement = Literal["required", "optional", "none"]
"""Whether an action needs an element, may take one (``press``), or takes none (``goto``)."""


@dataclass(frozen=True)
class Action:
    """An action: its own arguments (besides the element's) and how it is written."""

    args: Mapping[str, ArgCheck]
    required: tuple[str, ...] = ()
    one_of: tuple[str, ...] = ()
    """Exactly one of these must be given; ``locator`` stands for any locator form."""
    locator: Placement = "required"
    shorthand: str | None = "selector"
    """The argument a plain string value fills: ``click: "#save"``."""
    example: str = ""

    @property
    def locator_keys(self) -> tuple[str, ...]:
        """Locator forms this action accepts (``select`` keeps ``label`` for the option)."""
        if self.locator == "none":
            return ()
        return tuple(key for key in LOCATOR_KEYS if key not in self.args)

    @property
    def allowed(self) -> dict[str, ArgCheck]:
        """Every argument name this action accepts, with its check."""
        allowed = dict(self.args)
        for key in (*self.locator_keys, "name", "exact") if self.locator_keys else ():
            allowed.setdefault(key, LOCATOR_ARGS[key])
        return allowed

    def has_locator(self, args: Mapping[str, Any]) -> bool:
        return any(key in args for key in self.locator_keys)


_WAIT_UNTIL = _choice("commit", "domcontentloaded", "load", "networkidle")
_STATE = _choice("attached", "detached", "visible", "hidden")
_TEXT_MATCH = {"text": _text, "regex": _regex, "exact": _flag, "ignore_case": _flag}
_ELEMENT = 'check: "#terms"'

ACTIONS: Mapping[str, Action] = {
    "goto": Action(
        {"url": _text, "wait_until": _WAIT_UNTIL},
        required=("url",),
        locator="none",
        shorthand="url",
        example='goto: "{{ base_url }}/customers/new"',
    ),
    "fill": Action(
        {"value": _text},
        required=("value",),
        example='fill: { selector: "#name", value: "{{ row.name }}" }',
    ),
    "type": Action(
        {"value": _text, "delay": _milliseconds},
        required=("value",),
        example='type: { selector: "#search", value: "{{ row.city }}", delay: 50 }',
    ),
    "select": Action(
        {"value": _texts, "label": _texts},
        one_of=("value", "label"),
        example='select: { selector: "#plan", value: "{{ row.plan }}" }',
    ),
    "check": Action({}, example=_ELEMENT),
    "uncheck": Action({}, example='uncheck: "#newsletter"'),
    "click": Action({}, example='click: "button[type=submit]"'),
    "dblclick": Action({}, example='dblclick: ".row"'),
    "hover": Action({}, example='hover: "nav .menu"'),
    "press": Action(
        {"key": _text},
        required=("key",),
        locator="optional",
        shorthand="key",
        example='press: { selector: "#search", key: Enter }',
    ),
    "wait_for": Action(
        {"state": _STATE, "url": _text},
        one_of=("locator", "url"),
        locator="optional",
        example='wait_for: { selector: ".flash", state: visible }',
    ),
    "wait": Action(
        {"ms": _milliseconds},
        required=("ms",),
        locator="none",
        shorthand="ms",
        example="wait: 500",
    ),
    "expect_text": Action(
        _TEXT_MATCH,
        one_of=("text", "regex"),
        example='expect_text: { selector: ".flash", text: "Saved {{ row.name }}" }',
    ),
    "expect_visible": Action({}, example='expect_visible: ".flash"'),
    "expect_hidden": Action({}, example='expect_hidden: ".error"'),
    "expect_url": Action(
        {"url": _text, "regex": _regex},
        one_of=("url", "regex"),
        locator="none",
        shorthand="url",
        example='expect_url: "**/customers/*"',
    ),
    "expect_count": Action(
        {"count": _count},
        required=("count",),
        example='expect_count: { selector: ".result", count: 1 }',
    ),
    "expect_title": Action(
        {"title": _text, "regex": _regex, "exact": _flag},
        one_of=("title", "regex"),
        locator="none",
        shorthand="title",
        example='expect_title: "Customer"',
    ),
    "extract": Action(
        {"as": _identifier, "attribute": _text},
        required=("as",),
        example='extract: { selector: "#customer-id", as: customer_id }',
    ),
    "screenshot": Action(
        {"name": _text},
        required=("name",),
        locator="none",
        shorthand="name",
        example="screenshot: saved",
    ),
    "upload": Action(
        {"path": _texts},
        required=("path",),
        example='upload: { selector: "#avatar", path: "files/avatar.png" }',
    ),
}
"""Every action a declarative flow can use."""


def step_label(action: str, args: Mapping[str, Any], name: str | None) -> str:
    """A short description for logs and messages: ``fill "#name"``, ``goto "http://..."``.

    Never shows the values typed (``fill``'s ``value`` may be a password)."""
    if name:
        return name
    spec = ACTIONS[action]
    target = describe_locator(args, spec.locator_keys)
    if spec.shorthand and spec.shorthand != "selector" and spec.shorthand in args:
        shown = args[spec.shorthand]
        target = f"{target} {shown}".strip() if action == "press" else json.dumps(shown)
    if action == "extract":
        target += f" as {args.get('as')}"
    return f"{action} {target}".strip()


def check_args(action: str, args: Mapping[str, Any]) -> list[str]:
    """Everything wrong with one step's arguments (empty when it is valid)."""
    spec, problems = ACTIONS[action], []
    allowed = spec.allowed
    for key, value in args.items():
        if key not in allowed:
            hint = did_you_mean(str(key), allowed)
            problems.append(f"unknown argument {key!r} for {action}{hint}")
        elif (problem := allowed[key](value)) is not None:
            problems.append(f"{key!r} {problem}")
    problems += [f"missing {key!r}" for key in spec.required if key not in args]
    located = [key for key in spec.locator_keys if key in args]
    if spec.locator == "required" and not located:
        problems.append(f"needs an element: one of {', '.join(spec.locator_keys)}")
    if len(located) > 1:
        problems.append(f"names the element twice ({' and '.join(located)}): keep one")
    if "name" in args and "name" not in spec.args and "role" not in args:
        problems.append("'name' only goes with 'role' ({role: button, name: Save})")
    if "exact" in args and "exact" not in spec.args and located[:1] in (["selector"], ["test_id"]):
        problems.append(f"'exact' does not apply to '{located[0]}'")
    if spec.one_of:
        given = [k for k in spec.one_of if k in args or (k == "locator" and located)]
        if len(given) != 1:
            choices = " or ".join(f"'{k}'" for k in spec.one_of)
            problems.append(f"needs exactly one of {choices}, got {len(given)}")
    if problems:
        problems.append(f"example: `{spec.example}`")
    return problems
