"""Loading and checking flows: every problem reported at once, with its step number."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from paths import FLOWS, REPO

from runtime.errors import ConfigurationError, FlowError
from runtime.flows.actions import ACTIONS
from runtime.flows.model import Flow, check_columns, load_flow
from runtime.flows.steps import HANDLERS, glob_to_regex, parse_retry_after

EXAMPLE = REPO / "examples" / "add_customer.yaml"


def write_flow(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(FlowError) as info:
        load_flow(write_flow(tmp_path, text))
    return info.value.problems


def test_example_flow_loads_with_its_settings() -> None:
    flow = load_flow(EXAMPLE)
    assert flow.name == "add-customer"
    assert flow.source == str(EXAMPLE)
    assert flow.base_url == "http://127.0.0.1:8000"
    assert flow.timeout_s == 30.0
    assert flow.key == ("email",)
    assert flow.idempotent is False
    assert [s.action for s in flow.verify] == ["goto", "expect_count"]
    assert all(s.verify for s in flow.verify)
    assert flow.python is None
    assert [s.index for s in flow.steps] == list(range(1, 12))
    assert [s.action for s in flow.steps][:3] == ["goto", "fill", "fill"]
    assert flow.has_commit_step
    assert [s.index for s in flow.steps if s.commit] == [7]
    assert flow.columns == {"name", "email", "plan", "notes"}
    assert flow.steps[6].label == 'click role=button "Save customer"'
    assert flow.steps[2].label == 'fill label="Email"'
    assert flow.steps[6].line is not None


def test_relative_path_resolves_against_base_dir() -> None:
    flow = load_flow("add_customer.yaml", base_dir=REPO / "examples")
    assert flow.source == str(EXAMPLE)
    assert flow.directory == EXAMPLE.parent


def test_string_shorthand_fills_each_actions_main_argument(tmp_path: Path) -> None:
    flow = load_flow(
        write_flow(
            tmp_path,
            """
            steps:
              - goto: https://example.test/a
              - click: "#save"
              - press: Enter
              - wait: 250
              - screenshot: after-save
              - expect_url: "**/done"
              - expect_title: Done
              - expect_visible: .flash
            """,
        )
    )
    assert [dict(s.args) for s in flow.steps] == [
        {"url": "https://example.test/a"},
        {"selector": "#save"},
        {"key": "Enter"},
        {"ms": 250},
        {"name": "after-save"},
        {"url": "**/done"},
        {"title": "Done"},
        {"selector": ".flash"},
    ]
    assert flow.name == "flow"  # defaults to the file's stem
    assert flow.base_url is None
    assert not flow.has_commit_step


def test_get_by_locator_forms_and_modifiers(tmp_path: Path) -> None:
    flow = load_flow(
        write_flow(
            tmp_path,
            """
            steps:
              - fill: { label: Email, value: a@b.c, exact: true }
              - fill: { placeholder: "Anything else?", value: x }
              - click: { role: button, name: Save, exact: false }
              - click: { text: Continue }
              - check: { test_id: terms }
              - select: { role: combobox, name: Plan, label: Pro }
              - expect_text: { selector: .flash, text: Saved, exact: true }
                timeout: 2.5
                name: saved message shown
            """,
        )
    )
    labels = [s.label for s in flow.steps]
    assert labels[:6] == [
        'fill label="Email"',
        'fill placeholder="Anything else?"',
        'click role=button "Save"',
        'click text="Continue"',
        'check test_id="terms"',
        'select role=combobox "Plan"',
    ]
    last = flow.steps[-1]
    assert (last.label, last.timeout_s) == ("saved message shown", 2.5)


def test_every_problem_is_reported_with_its_step_and_line(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        """
        name: bad
        steps:
          - goto: "{{ base_url }}/x"
          - clik: "#a"
          - fill: "#name"
          - fill: { selector: "#a", label: A, value: "{{ row.name }", valu: x }
          - click: "#a"
            check: "#b"
          - select: { selector: "#plan" }
          - expect_count: { selector: .x, count: "1" }
          - click: { role: buton, name: Save }
          - fill: { selector: "#x", value: "{{ rows.name }}" }
            timeout: -1
          - 42
        """,
    )
    text = "\n".join(problems)
    assert "step 2 (line 5): unknown action 'clik' (did you mean 'click'?)" in problems
    assert "step 3 (line 6) fill: missing 'value'" in problems
    assert "step 4 (line 7) fill: unknown argument 'valu' for fill (did you mean 'value'?)" in text
    assert "step 4 (line 7) fill: names the element twice (selector and label)" in text
    assert "step 4 (line 7) fill: template error in 'value' (line 1): unexpected '}'" in text
    assert "step 5 (line 8) click: two actions in one step (click, check)" in text
    assert "step 6 (line 10) select: needs exactly one of 'value' or 'label', got 0" in text
    assert "step 7 (line 11) expect_count: 'count' must be a whole number >= 0" in text
    assert "step 8 (line 12) click: 'role' must be an ARIA role" in text
    assert "(did you mean 'button'?)" in text
    assert (
        "step 9 (line 13) fill: 'value' uses unknown variable 'rows' (did you mean 'row'?)" in text
    )
    assert "step 9 (line 13) fill: 'timeout' must be a number of seconds > 0, got -1" in text
    assert "step 10 (line 15): must be a mapping with one action" in text
    # each broken step also shows a working example of its action
    assert 'fill: example: `fill: { selector: "#name", value: "{{ row.name }}" }`' in text
    assert not any(p.startswith("step 1 ") for p in problems)


def test_top_level_problems_are_reported_together(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        """
        name: ""
        base_ur: http://x
        base_url: ftp://x
        timeout: 0
        idempotent: maybe
        key: [1]
        steps: []
        """,
    )
    text = "\n".join(problems)
    assert "unknown top-level key 'base_ur' (did you mean 'base_url'?)" in text
    assert "'name' must be non-empty text" in text
    assert "'base_url' must start with http://, https:// or file://" in text
    assert "'timeout' must be a number of seconds > 0, got 0" in text
    assert "'idempotent' must be true or false, got 'maybe'" in text
    assert "'key' must be a column name or a list of column names" in text
    assert "'steps' is empty: add at least one step" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\n", "no 'steps'"),
        ("steps: {goto: x}\n", "'steps' must be a list of steps"),
        ("- goto: x\n", "a flow is a mapping"),
        ("steps:\n  - commit: true\n", "step 1 (line 2): no action"),
        ("steps:\n  - wait:\n", "step 1 (line 2) wait: needs arguments, e.g. `wait: 500`"),
        ("steps:\n  - click: {text: Go, exact: true, name: Go}\n", "'name' only goes with 'role'"),
        ("steps:\n  - click: {selector: '#a', exact: true}\n", "'exact' does not apply to"),
        ("steps:\n  - extract: {selector: a, as: 'my id'}\n", "'as' must be a name of letters"),
        ("steps:\n  - wait_for: {}\n", "needs exactly one of 'locator' or 'url', got 0"),
        ("steps:\n  - expect_url: {regex: '([a'}\n", "'regex' is not a valid regular expr"),
        ("steps:\n  - fill: {selector: a, value: 7}\n", "'value' must be text, got a number"),
        ("steps:\n  - click: a\n    commit: yes please\n", "'commit' must be true or false"),
    ],
)
def test_single_problems(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in "\n".join(problems_of(tmp_path, text))


def test_verify_steps_are_numbered_apart_and_cannot_commit(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        """
        steps:
          - click: "#a"
        verify:
          - goto: "{{ base_url }}/customers?q={{ row.email | urlencode }}"
          - click: "#b"
            commit: true
        """,
    )
    assert problems == [
        "verify step 2 (line 6) click: verify steps only look: 'commit' is not allowed here"
    ]


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, 'steps:\n  - fill: { selector: "#a"\n  - click: x\n')
    assert len(problems) == 1
    assert problems[0].startswith("YAML error at line 3, column 3:")


def test_yaml_duplicate_keys_are_refused(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, 'steps:\n  - fill: {selector: "#a", value: 1, value: 2}\n')
    assert "duplicate key 'value' (first on line 2)" in problems[0]


def test_json_flow_loads() -> None:
    flow = load_flow(FLOWS / "add_customer.json")
    assert flow.name == "add-customer-json"
    assert flow.base_url == "http://127.0.0.1:8000"
    assert (flow.key, flow.secrets, flow.idempotent) == (("email",), ("email",), False)
    assert [s.commit for s in flow.steps] == [False, False, True]
    assert flow.steps[2].timeout_s == 5.0
    assert [s.where for s in flow.verify] == ["verify step 1", "verify step 2"]
    assert flow.columns == {"name", "email"}


def test_json_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write_flow(tmp_path, '{\n  "steps": [\n    {"click": "#a"},\n  ]\n}\n', "flow.json")
    with pytest.raises(FlowError) as info:
        load_flow(path)
    assert info.value.problems[0].startswith("JSON error at line 4, column 3")


def test_missing_file_and_wrong_kind_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"flow file not found: .*nope\.yaml"):
        load_flow(tmp_path / "nope.yaml")
    (tmp_path / "flow.txt").write_text("steps: []")
    with pytest.raises(ConfigurationError, match=r"expected a \.yaml, \.yml, \.json or \.py"):
        load_flow(tmp_path / "flow.txt")


def headers_problems(flow: Flow, headers: list[str]) -> list[str]:
    with pytest.raises(FlowError) as info:
        check_columns(flow, headers)
    return info.value.problems


def test_check_columns_lists_every_missing_column(tmp_path: Path) -> None:
    flow = load_flow(
        write_flow(
            tmp_path,
            """
            key: [mail]
            secrets: password
            steps:
              - fill: { selector: "#name", value: "{{ row.nme }}" }
              - fill: { label: City, value: "{{ row['Home City'] }}" }
              - fill: { label: Password, value: "{{ row.password }}" }
            verify:
              - goto: "/search?q={{ row.emial }}"
            """,
        )
    )
    assert flow.columns == {"nme", "Home City", "password", "emial"}
    problems = headers_problems(flow, ["name", "email", "Home city"])
    assert problems == [
        "step 1 (line 5) fill \"#name\": no column 'nme' in the CSV (did you mean 'name'?)",
        "step 2 (line 6) fill label=\"City\": no column 'Home City' in the CSV "
        "(did you mean 'Home city'?)",
        "step 3 (line 7) fill label=\"Password\": no column 'password' in the CSV",
        "verify step 1 (line 9) goto \"/search?q={{ row.emial }}\": no column 'emial' in the "
        "CSV (did you mean 'email'?)",
        "'key' names column 'mail', not in the CSV (did you mean 'email'?)",
        "'secrets' names column 'password', not in the CSV",
        "the CSV's columns are: 'name', 'email', 'Home city'",
    ]
    check_columns(flow, ["nme", "Home City", "password", "emial", "mail"])  # all present: fine


def test_python_file_flow(tmp_path: Path) -> None:
    path = write_flow(tmp_path, "async def run(page, row, ctx):\n    return None\n", "my_flow.py")
    flow = load_flow(path)
    assert flow.python is not None
    assert (flow.name, flow.source, flow.steps, flow.columns) == ("my_flow", str(path), (), set())
    assert flow.python.run.__name__ == "run"


def test_python_module_flow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(FLOWS))
    flow = load_flow("batchwright_test_flows:add_customer")
    assert flow.python is not None
    assert flow.name == flow.source == "batchwright_test_flows:add_customer"
    assert flow.python.run.__name__ == "add_customer"


def test_yaml_flow_can_name_python_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(FLOWS))
    flow = load_flow(FLOWS / "python_ref.yaml")
    assert flow.python is not None
    assert flow.python.source == "batchwright_test_flows:add_customer"
    assert (flow.key, flow.secrets, flow.idempotent) == (("email",), ("email",), False)


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("batchwright_no_such_module:run", "No module named 'batchwright_no_such_module'"),
        ("batchwright_test_flows:missing", "has no function 'missing' (async functions in it:"),
        ("batchwright_test_flows:not_async", "'not_async' must be a coroutine function"),
        ("batchwright_test_flows:one_parameter", "cannot be called as one_parameter(page, row"),
    ],
)
def test_python_module_flow_errors(monkeypatch: pytest.MonkeyPatch, ref: str, message: str) -> None:
    monkeypatch.syspath_prepend(str(FLOWS))
    with pytest.raises(ConfigurationError) as info:
        load_flow(ref)
    assert message in str(info.value)
    assert not isinstance(info.value, FlowError)


def test_python_file_flow_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="Python flow file not found"):
        load_flow(tmp_path / "absent.py")
    broken = write_flow(tmp_path, "async def run(page, row, ctx)\n    pass\n", "broken.py")
    with pytest.raises(ConfigurationError, match=r"(?s)running the file failed.*line 1"):
        load_flow(broken)
    no_run = write_flow(tmp_path, "async def go(page, row, ctx):\n    pass\n", "no_run.py")
    with pytest.raises(
        ConfigurationError, match=r"has no function 'run' \(async functions in it: go"
    ):
        load_flow(no_run)


def test_python_errors_inside_a_yaml_flow_are_flow_problems(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "python: missing_file.py\nsteps:\n  - click: a\n")
    assert problems == ["give either 'steps' or 'python', not both"]
    problems = problems_of(tmp_path, "python: missing_file.py\n")
    assert "Python flow file not found" in problems[0]
    assert str(tmp_path / "missing_file.py") in problems[0]


# --- the step helpers the runner relies on ----------------------------------------------


def test_every_action_has_a_handler() -> None:
    assert set(HANDLERS) == set(ACTIONS)


@pytest.mark.parametrize(
    ("pattern", "url", "matches"),
    [
        ("**/customers/*", "http://h:1/customers/12", True),
        ("**/customers/*", "http://h:1/customers/12/edit", False),
        ("**/customers/**", "http://h:1/customers/12/edit", True),
        ("http://h/a?b=1", "http://h/a?b=1", True),
        ("http://h/a", "http://h/a/b", False),
    ],
)
def test_glob_to_regex(pattern: str, url: str, matches: bool) -> None:
    assert bool(glob_to_regex(pattern).match(url)) is matches


def test_parse_retry_after() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert parse_retry_after(past) == 0.0
    future = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    assert parse_retry_after(future) == pytest.approx(60, abs=2)
