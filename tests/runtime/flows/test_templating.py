"""Templates: sandboxed, compiled once, and row values kept as data."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from jinja2 import TemplateSyntaxError
from jinja2.exceptions import SecurityError

from runtime.errors import FlowError
from runtime.flows.model import Flow, JobInfo, load_flow, render_steps
from runtime.flows.templating import (
    RowView,
    compile_template,
    render_template,
    template_columns,
    undeclared_variables,
)

JOB = JobInfo(index=3, id="job-000003", attempt=2)


def flow_from(tmp_path: Path, text: str) -> Flow:
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_flow(path)


@pytest.mark.parametrize(
    ("source", "columns"),
    [
        ("plain text", set()),
        ("{{ row.name }}", {"name"}),
        ("{{ row['Col with spaces'] }} and {{ row[\"x-y\"] }}", {"Col with spaces", "x-y"}),
        ("{{ row.email | urlencode }}", {"email"}),
        ("{% if row.vip %}VIP {% endif %}{{ row.name | upper }}", {"vip", "name"}),
        ("{{ row[key] }}", set()),  # dynamic: cannot be known statically
        ("{{ other.name }} {{ row.a.b }}", {"a"}),
    ],
)
def test_template_columns(source: str, columns: set[str]) -> None:
    assert template_columns(source) == columns


def test_template_columns_rejects_bad_syntax() -> None:
    with pytest.raises(TemplateSyntaxError):
        template_columns("{{ row.name }")


def test_undeclared_variables_ignore_the_known_ones() -> None:
    assert undeclared_variables("{{ base_url }}/{{ row.a }}/{{ job.id }}") == set()
    assert undeclared_variables("{{ baseurl }}{% set x = 1 %}{{ x }}") == {"baseurl"}


def test_row_view_reads_columns_by_attribute_and_key() -> None:
    row = RowView({"name": "Ada", "Col with spaces": "x", "items": "3", "keys": "k"})
    context = {"row": row}
    assert render_template("{{ row.name }}|{{ row['Col with spaces'] }}", context) == "Ada|x"
    # columns win over Mapping methods: a column called "items" is the column
    assert render_template("{{ row.items }}|{{ row['keys'] }}", context) == "3|k"
    assert len(row) == 4
    assert "Ada" not in repr(row)


def test_row_values_are_data_never_templates() -> None:
    row = RowView({"a": "{{ 7*7 }}", "b": "{{ ''.__class__.__mro__ }}", "c": "{% raw %}"})
    out = render_template("{{ row.a }} {{ row.b }} {{ row.c }}", {"row": row})
    assert out == "{{ 7*7 }} {{ ''.__class__.__mro__ }} {% raw %}"


def test_sandbox_blocks_attribute_access_in_flow_templates() -> None:
    with pytest.raises(SecurityError):
        render_template("{{ ''.__class__.__mro__ }}", {})
    with pytest.raises(SecurityError):
        render_template("{{ job.__class__.__init__.__globals__ }}", {"job": JOB})


def test_row_dunder_lookups_are_columns_not_attributes() -> None:
    with pytest.raises(Exception, match="the row has no column '__class__'"):
        render_template("{{ row.__class__ }}", {"row": RowView({})})


def test_templates_are_compiled_once() -> None:
    assert compile_template("{{ row.x }}!") is compile_template("{{ row.x }}!")


def test_render_steps_makes_each_row_concrete(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        """
        base_url: http://127.0.0.1:8000/
        steps:
          - goto: "{{ base_url }}/customers/new?job={{ job.id }}&try={{ job.attempt }}"
          - fill: { selector: "#name", value: "{{ row.name }}" }
          - select: { selector: "#tags", value: ["{{ row.plan }}", fixed] }
          - screenshot: "row-{{ job.index }}"
          - fill: { selector: "#notes", value: "{{ row['Notes here'] }}" }
        verify:
          - goto: "{{ base_url }}/customers?q={{ row.email | urlencode }}"
        """,
    )
    row = {"name": "{{ 7*7 }}", "plan": "pro", "Notes here": "n", "email": "a+b@x.io"}
    steps = render_steps(flow, row, base_url=None, job=JOB)
    assert [dict(s.args) for s in steps] == [
        {"url": "http://127.0.0.1:8000/customers/new?job=job-000003&try=2"},
        {"selector": "#name", "value": "{{ 7*7 }}"},
        {"selector": "#tags", "value": ["pro", "fixed"]},
        {"name": "row-3"},
        {"selector": "#notes", "value": "n"},
    ]
    assert steps[0].label == 'goto "http://127.0.0.1:8000/customers/new?job=job-000003&try=2"'
    assert steps[1].label == 'fill "#name"'  # never the value: it may be a secret
    verify = render_steps(flow, row, base_url="http://other:9/", job=JOB, steps=flow.verify)
    assert verify[0].args["url"] == "http://other:9/customers?q=a%2Bb%40x.io"
    assert (verify[0].verify, verify[0].where) == (True, "verify step 1")
    with pytest.raises(TypeError):
        steps[0].args["url"] = "elsewhere"  # type: ignore[index]


def test_render_errors_name_the_step(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        """
        steps:
          - goto: "{{ base_url }}/x"
          - fill: { selector: "#a", value: "{{ ''.__class__.__mro__ }}" }
          - fill: { selector: "#a", value: "{{ row.age | int / 0 }}" }
          - expect_text: { selector: "#a", regex: "{{ row.age }}(" }
        """,
    )
    row = {"age": "3"}
    with pytest.raises(
        FlowError, match=r"step 1 \(line 3\) goto .*base_url is not set: add 'base_url:'"
    ):
        render_steps(flow, row, base_url=None, job=JOB)

    def problem(index: int) -> str:
        with pytest.raises(FlowError) as info:
            render_steps(flow, row, base_url="http://h", job=JOB, steps=[flow.steps[index]])
        return info.value.problems[0]

    assert problem(1).startswith('step 2 (line 4) fill "#a": refused by the template sandbox')
    assert "ZeroDivisionError" in problem(2)
    assert "not a valid regular expression once rendered" in problem(3)


def test_missing_column_at_render_time_names_step_and_column(tmp_path: Path) -> None:
    flow = flow_from(tmp_path, 'steps:\n  - fill: { selector: "#a", value: "{{ row.city }}" }\n')
    with pytest.raises(FlowError, match=r"step 1 \(line 2\) .*the row has no column 'city'"):
        render_steps(flow, {"name": "x"}, base_url=None, job=JOB)


def test_upload_paths_stay_inside_the_flow_directory(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        """
        steps:
          - upload: { selector: "#file", path: "{{ row.file }}" }
        """,
    )
    inside = render_steps(flow, {"file": "files/a.png"}, base_url=None, job=JOB)
    assert inside[0].args["path"] == str(tmp_path / "files" / "a.png")
    for escape in ("../../etc/passwd", "/etc/passwd", "files/../../x"):
        with pytest.raises(FlowError, match="outside the flow's directory"):
            render_steps(flow, {"file": escape}, base_url=None, job=JOB)
