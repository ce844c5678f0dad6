"""The ``pools:`` section of a flow: checked when the flow loads, every problem named by
its pool and YAML line; ``pool_error`` and ``{{ pool.x.col }}`` checked against the
declared pools; templates render the leased entry; ``ctx.pool_failed``."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from runtime.errors import ConfigurationError, FlowError
from runtime.flows.context import FlowContext
from runtime.flows.model import JobInfo, load_flow, render_steps
from runtime.flows.pools import parse_duration
from runtime.outcome import Artifact

HEADER = "name: pooled\nbase_url: http://127.0.0.1\n"


def flow_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(HEADER + text, encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(FlowError) as caught:
        load_flow(flow_file(tmp_path, text))
    return str(caught.value)


def test_a_pool_is_declared_with_its_file_relative_to_the_flow(tmp_path: Path) -> None:
    flow = load_flow(
        flow_file(
            tmp_path,
            "pools:\n"
            "  account: { file: data/accounts.csv, key: username, secrets: [password],\n"
            "             max_uses: 3, cooldown: 500ms }\n"
            "steps:\n"
            '  - goto: "/login?u={{ pool.account.username }}"\n'
            "    pool_error: true\n",
        )
    )
    (pool,) = flow.pools
    assert pool.path == tmp_path / "data" / "accounts.csv"
    assert (pool.key, pool.secrets, pool.max_uses, pool.cooldown_s) == (
        "username",
        ("password",),
        3,
        0.5,
    )
    assert flow.steps[0].pool_error == ("account",)  # true: every pool
    assert flow.pool_secrets


def test_every_problem_names_its_pool_and_line(tmp_path: Path) -> None:
    message = problems_of(
        tmp_path,
        "pools:\n"
        "  account:\n"
        "    file: accounts.csv\n"
        "    colddown: 2s\n"
        "  device: { key: serial, max_uses: -1, cooldown: soon }\n"
        "  9bad: { file: x.csv, key: k }\n"
        'steps:\n  - goto: "/"\n',
    )
    assert "pool 'account' (line 4): unknown key 'colddown' (did you mean 'cooldown'?)" in message
    assert "pool 'account' (line 4): 'key' must name the column" in message
    assert "pool 'device' (line 7): 'file' must be the path of a CSV" in message
    assert "pool 'device' (line 7): 'max_uses' must be a whole number" in message
    assert "pool 'device' (line 7): 'cooldown' must be a duration like 2s" in message
    assert "pool '9bad' (line 8): a pool's name must be a word" in message


def test_the_key_column_cannot_be_a_secret(tmp_path: Path) -> None:
    message = problems_of(
        tmp_path,
        'pools:\n  account: { file: a.csv, key: token, secrets: [token] }\nsteps:\n  - goto: "/"\n',
    )
    assert "pool 'account' (line 4): the key column 'token' cannot be a secret" in message


def test_steps_may_only_name_declared_pools(tmp_path: Path) -> None:
    message = problems_of(
        tmp_path,
        "pools:\n  account: { file: a.csv, key: username }\n"
        "steps:\n"
        '  - goto: "/?u={{ pool.acount.username }}"\n'
        "  - click: '#go'\n"
        "    pool_error: devices\n"
        "  - click: '#again'\n"
        "    pool_error: 3\n",
    )
    assert "step 1 (line 6) goto" in message
    assert "no pool 'acount' (did you mean 'account'?)" in message
    assert "step 2 (line 7) click" in message
    assert "no pool 'devices'" in message
    assert "'pool_error' must be true, a pool's name or a list of them, got 3" in message


def test_a_flow_without_pools_cannot_use_one(tmp_path: Path) -> None:
    message = problems_of(tmp_path, 'steps:\n  - goto: "/?u={{ pool.account.username }}"\n')
    assert "no pool 'account'; declare it under 'pools:'" in message


def test_templates_render_the_leased_entry(tmp_path: Path) -> None:
    flow = load_flow(
        flow_file(
            tmp_path,
            "pools:\n  account: { file: a.csv, key: username }\n"
            "steps:\n"
            '  - fill: { selector: "#u", value: "{{ pool.account.username }}" }\n'
            "  - fill: { selector: \"#p\", value: \"{{ pool['account']['password'] }}\" }\n",
        )
    )
    steps = render_steps(
        flow,
        {},
        base_url=None,
        job=JobInfo(0, "j", 1),
        pool={"account": {"username": "ann", "password": "{{ 7*7 }}"}},
    )
    assert [step.args["value"] for step in steps] == ["ann", "{{ 7*7 }}"]  # data, not code


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(2, 2.0), (0.5, 0.5), ("2s", 2.0), ("500ms", 0.5), ("1m", 60.0), ("-1", None), ("x", None)],
)
def test_durations(value: object, seconds: float | None) -> None:
    assert parse_duration(value) == seconds


async def _screenshot(name: str) -> Artifact:
    return Artifact("screenshot", name)


async def _commit() -> None:
    return None


def test_pool_failed_marks_only_leased_pools() -> None:
    ctx = FlowContext(
        "j", "b", 0, 1, logging.getLogger("t"), _screenshot, _commit,
        pool={"account": {"username": "ann"}},
    )  # fmt: skip
    ctx.pool_failed("account")
    assert ctx.pool_failures == {"account"}
    with pytest.raises(ConfigurationError, match=r"no such pool leased .*'account'"):
        ctx.pool_failed("device")
