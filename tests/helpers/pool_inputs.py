"""Inputs of the pool tests: a login flow leasing an account per row, its accounts CSV
and its rows (the engine, CLI and worker suites share them)."""

from __future__ import annotations

import uuid
from pathlib import Path

POOL_FLOW = """\
name: login-with-pool-%(tag)s
pools:
  account: { file: accounts.csv, key: username, secrets: [password] }
steps:
  - goto: "{{ base_url }}/login?hold_ms=%(hold)d"
  - fill: { selector: "#username", value: "{{ pool.account.username }}" }
  - fill: { selector: "#password", value: "{{ pool.account.password }}" }
  - click: { role: button, name: "Log in" }
  - expect_text: { selector: ".ok", text: "Welcome {{ pool.account.username }}" }
    pool_error: true
"""


def write_pool_batch(
    directory: Path, rows: int, accounts: int, *, hold_ms: int = 150, locked: int = 0
) -> tuple[Path, Path, list[str]]:
    """``rows.csv``, ``flow.yaml`` and ``accounts.csv`` in ``directory``; accounts named
    uniquely per call (the site's session record outlives a test); the first ``locked``
    ones have the password the site refuses. Returns (data, flow, account names)."""
    tag = uuid.uuid4().hex[:6]
    names = [f"user{n}-{tag}" for n in range(accounts)]
    lines = ["username,password"]
    lines += [
        f"{name},{'locked' if n < locked else f'Pw-{name}-secret'}" for n, name in enumerate(names)
    ]
    (directory / "accounts.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = directory / "rows.csv"
    data.write_text("item\n" + "".join(f"item-{n}\n" for n in range(rows)), encoding="utf-8")
    flow = directory / "flow.yaml"
    flow.write_text(POOL_FLOW % {"tag": tag, "hold": hold_ms}, encoding="utf-8")
    return data, flow, names
