"""Reports written for a small batch, read back with the standard parsers."""

from __future__ import annotations

import base64
import csv
import hashlib
import html as html_lib
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from paths import REPO

from batch.exceptions import ConfigurationError
from batch.models import (
    AttemptRecord,
    BatchJob,
    BatchManifest,
    CsvDialect,
    ErrorCategory,
    JobStatus,
)
from batch.reports import ALL_FORMATS, write_github_step_summary, write_reports
from batch.reports.html import embed_json
from batch.reports.results_csv import neutralise
from batch.reports.summary import SCHEMA_VERSION

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
SECRET = "Hunter2-S3cret!"  # a fake secret the tests hunt for in the outputs
FORMULAS = ["=1+1", "+cmd", "-2", "@SUM(A1)", "\tx", "\rx"]
XSS = "<script>alert(1)</script>"

MANIFEST = BatchManifest(
    batch_id="b-rep",
    run_id="r1",
    csv_path="data/customers.csv",
    csv_sha256="0" * 64,
    encoding="utf-8",
    dialect=CsvDialect(delimiter=","),
    headers=["email", "name", "password", "notes"],
    flow_ref="flows/signup.yaml",
    flow_name="signup",
    created_at=T0,
)


def attempt(n: int, ok: bool, message: str = "", **kw: object) -> AttemptRecord:
    failure: dict[str, object] = {} if ok else {"category": ErrorCategory.TRANSIENT}
    return AttemptRecord.model_validate(
        {
            "number": n,
            "started_at": T0 + timedelta(seconds=n),
            "duration_s": 0.5,
            "ok": ok,
            "message": message,
            **failure,
            **kw,
        }
    )


def job(
    index: int,
    status: JobStatus,
    attempts: list[AttemptRecord],
    *,
    notes: str = "",
    name: str = "",
    **kw: object,
) -> BatchJob:
    row = {"email": f"u{index}@example.com", "name": name or f"User {index}"}
    row |= {"password": SECRET, "notes": notes}
    return BatchJob.model_validate(
        {
            "job_id": f"j{index}",
            "batch_id": "b-rep",
            "row_index": index,
            "source_line": index + 2,
            "row_data": row,
            "status": status,
            "attempts": attempts,
            "created_at": T0,
            "started_at": T0 + timedelta(seconds=index) if attempts else None,
            "finished_at": T0 + timedelta(seconds=index + 1) if attempts else None,
            **kw,
        }
    )


SHOT = {"kind": "screenshot", "path": "jobs/j1/attempt-2/failure.png", "name": "failure"}
TRACE = {"kind": "trace", "path": "jobs/j1/attempt-2/trace.zip", "name": "trace"}


def small_batch() -> Iterator[BatchJob]:
    """Row 1 passes, 2 fails (business, leaking the password), 3 is flaky, 4 skipped,
    5 needs review, 6 cancelled, 7-12 carry formula values in data and messages."""
    yield job(0, JobStatus.COMPLETED, [attempt(1, True)], extracted={"customer_id": "C-1"})
    business = f"rejected: password {SECRET} too weak \x07 for {XSS}"
    yield job(
        1,
        JobStatus.FAILED,
        [
            attempt(1, False, "Timeout 3000ms exceeded", host="worker-a:11"),
            attempt(
                2,
                False,
                business,
                host="worker-b:22",
                category=ErrorCategory.BUSINESS,
                artifacts=[SHOT, TRACE, {"kind": "html", "path": "/etc/passwd", "name": "x"}],
            ),
        ],
        error_category=ErrorCategory.BUSINESS,
        error_message=business,
        notes="bell \x07 here",
    )
    yield job(
        2,
        JobStatus.COMPLETED,
        [
            attempt(1, False, "net::ERR_CONNECTION_RESET", artifacts=[SHOT]),
            attempt(2, True),
        ],
        extracted={"confirmation": f"ok for {SECRET}"},
    )
    yield job(3, JobStatus.SKIPPED, [], error_message="bad row: 5 fields, expected 4")
    yield job(4, JobStatus.NEEDS_REVIEW, [attempt(1, False, "interrupted")])
    yield job(5, JobStatus.CANCELLED, [])
    for offset, formula in enumerate(FORMULAS):
        yield job(
            6 + offset,
            JobStatus.FAILED,
            [attempt(1, False, formula, category=ErrorCategory.BUSINESS)],
            error_category=ErrorCategory.BUSINESS,
            error_message=formula,
            name=formula,
        )


@pytest.fixture
def reports(tmp_path: Path) -> dict[str, Path]:
    return write_reports(
        MANIFEST, small_batch, tmp_path, key_columns=["email"], secrets=["password"]
    )


def test_every_format_is_written_under_the_batch_dir(
    reports: dict[str, Path], tmp_path: Path
) -> None:
    assert set(reports) == set(ALL_FORMATS)
    names = {p.name for p in reports.values()}
    assert names == {"report.html", "junit.xml", "results.csv", "summary.json", "summary.md"}
    assert all(p.parent == tmp_path and p.stat().st_size > 0 for p in reports.values())
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporaries


def test_jobs_are_read_twice_whatever_the_formats(tmp_path: Path) -> None:
    calls = []

    def factory() -> Iterator[BatchJob]:
        calls.append(1)
        return small_batch()

    write_reports(MANIFEST, factory, tmp_path, ["json", "markdown"])
    assert len(calls) == 1  # the summary pass only
    write_reports(MANIFEST, factory, tmp_path)
    assert len(calls) == 1 + 2  # the summary, then one pass feeding html, junit and csv


def test_a_failure_while_rows_stream_leaves_no_half_written_report(tmp_path: Path) -> None:
    passes = []

    def factory() -> Iterator[BatchJob]:
        passes.append(1)
        jobs = small_batch()
        if len(passes) == 2:  # the rows pass breaks after one row
            yield next(iter(jobs))
            raise OSError("disk went away")
        yield from jobs

    with pytest.raises(OSError, match="disk went away"):
        write_reports(MANIFEST, factory, tmp_path)
    assert list(tmp_path.iterdir()) == []  # neither reports nor temporary files


def test_secret_values_appear_in_no_output_file(reports: dict[str, Path]) -> None:
    for path in reports.values():
        data = path.read_bytes()
        assert SECRET.encode() not in data, path.name
        assert json.dumps(SECRET).encode() not in data, path.name
    assert "***" in reports["csv"].read_text(encoding="utf-8")


def test_junit_counts_names_and_outcomes(reports: dict[str, Path]) -> None:
    root = ET.parse(reports["junit"]).getroot()  # noqa: S314  # our own output, not untrusted
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "signup"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("12", "8", "0")
    assert suite.get("skipped") == "2"
    assert suite.get("timestamp") == "2026-03-01T12:00:00"
    cases = suite.findall("testcase")
    assert len(cases) == 12
    assert {c.get("classname") for c in cases} == {"signup"}
    assert cases[0].get("name") == "row 1: u0@example.com"
    assert cases[0].find("failure") is None
    assert cases[0].find("skipped") is None

    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.get("type") == "business"
    assert failure.get("message") == f"rejected: password *** too weak  for {XSS}"
    assert "attempt 1: failed (transient)" in (failure.text or "")
    out = cases[1].findtext("system-out") or ""
    assert f"[[ATTACHMENT|{reports['junit'].parent / SHOT['path']}]]" in out
    assert "/etc/passwd" not in out  # an artifact path outside the batch dir is dropped
    assert "notes: bell  here" in out  # control character stripped

    flaky = cases[2].findall("flakyFailure")
    assert [f.get("type") for f in flaky] == ["transient"]
    assert flaky[0].get("message") == "net::ERR_CONNECTION_RESET"
    assert "[[ATTACHMENT|" in (flaky[0].findtext("system-out") or "")
    assert cases[2].find("failure") is None

    skipped = cases[3].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "bad row: 5 fields, expected 4"
    review = cases[4].find("failure")
    assert review is not None
    assert review.get("type") == "needs_review"
    cancelled = cases[5].find("skipped")
    assert cancelled is not None
    assert cancelled.get("message") == "not run (cancelled)"


def test_results_csv_has_outcomes_extracted_values_and_artifacts(
    reports: dict[str, Path],
) -> None:
    with reports["csv"].open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "email",
        "name",
        "password",
        "notes",
        "status",
        "attempts",
        "error_category",
        "error_message",
        "duration_s",
        "host",
        "customer_id",
        "confirmation",
        "artifacts",
    ]
    assert len(rows) == 12
    assert rows[0]["customer_id"] == "C-1"
    assert rows[2]["confirmation"] == "ok for ***"
    assert {r["password"] for r in rows} == {"***"}
    assert rows[1]["status"] == "failed"
    assert rows[1]["attempts"] == "2"
    assert rows[1]["duration_s"] == "1.000"
    assert (rows[1]["host"], rows[0]["host"]) == ("worker-b:22", ""), "the last attempt's host"
    assert rows[1]["artifacts"] == f"{SHOT['path']};{TRACE['path']}"
    assert (rows[3]["status"], rows[3]["error_category"]) == ("skipped", "")
    assert rows[3]["error_message"] == "bad row: 5 fields, expected 4"


def test_results_csv_neutralises_every_formula_cell(reports: dict[str, Path]) -> None:
    with reports["csv"].open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    formula_rows = rows[7:]
    assert [r[1] for r in formula_rows] == ["'" + f for f in FORMULAS]  # name column
    assert [r[7] for r in formula_rows] == ["'" + f for f in FORMULAS]  # error_message
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (row, cell)


def test_results_csv_bom_variant(tmp_path: Path) -> None:
    paths = write_reports(MANIFEST, small_batch, tmp_path, ["csv"], bom=True)
    raw = paths["csv"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with paths["csv"].open(encoding="utf-8-sig", newline="") as handle:
        assert next(csv.reader(handle))[0] == "email"


def test_neutralise_leaves_ordinary_values_alone() -> None:
    assert neutralise("ada@example.com") == "ada@example.com"
    assert neutralise("a=b") == "a=b"
    assert neutralise("") == ""
    assert neutralise("-") == "'-"


def test_summary_json_has_the_documented_keys(reports: dict[str, Path]) -> None:
    data = json.loads(reports["json"].read_text(encoding="utf-8"))
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["batch_id"] == "b-rep"
    assert data["total"] == 12
    assert data["counts"]["failed"] == 7
    assert data["flaky"] == 1
    assert data["has_failures"] is True
    assert data["success_rate"] == pytest.approx(2 / 11)  # 12 rows, 1 skipped
    documented = (REPO / "docs" / "summary-json.md").read_text("utf-8")
    for key in data:
        assert f"`{key}`" in documented, f"{key} is not documented in docs/summary-json.md"


def test_markdown_summary_and_github_step_summary(
    reports: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = reports["markdown"].read_text(encoding="utf-8")
    assert "**18.2%** success (2 of 11 runnable rows)" in text
    assert "| failed | 7 |" in text
    assert "[report\\.html](report.html)" in text
    assert "<script>" not in text  # CI pages render inline HTML
    assert "&lt;script&gt;" in text

    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert write_github_step_summary(text) is None
    target = tmp_path / "step-summary.md"
    target.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    assert write_github_step_summary(text) == target
    assert target.read_text(encoding="utf-8") == "earlier step\n" + text


def test_html_embeds_rows_as_inert_json_and_escapes_server_text(
    reports: dict[str, Path],
) -> None:
    html = reports["html"].read_text(encoding="utf-8")
    block = re.search(r'<script type="application/json" id="rows-data">(.*?)</script>', html, re.S)
    assert block is not None
    data = json.loads(block.group(1))
    assert "<" not in block.group(1)
    assert len(data["rows"]) == 12
    assert data["keys"] == ["email"]
    assert XSS in data["rows"][1]["m"]  # intact as data, shown by textContent
    assert XSS not in html  # never as markup: the error-group table escaped it
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert data["rows"][1]["tr"] == [[TRACE["path"], f"playwright show-trace {TRACE['path']}"]]
    assert "http://" not in html
    assert "https://" not in html


def test_html_csp_allows_exactly_the_shipped_script(reports: dict[str, Path]) -> None:
    html = reports["html"].read_text(encoding="utf-8")
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp is not None
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    policy = html_lib.unescape(csp.group(1))
    assert f"script-src 'sha256-{digest}'" in policy
    assert "default-src 'none'" in policy


def test_embed_json_cannot_close_a_script_block() -> None:
    text = embed_json({"v": "</script><script>alert(1)</script>&"})
    assert "</" not in text
    assert "<" not in text
    assert json.loads(text) == {"v": "</script><script>alert(1)</script>&"}


def test_unknown_format_or_column_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"unknown report format\(s\) 'pdf'"):
        write_reports(MANIFEST, small_batch, tmp_path, ["html", "pdf"])
    with pytest.raises(ConfigurationError, match=r"'pasword'.*data/customers.csv.*password"):
        write_reports(MANIFEST, small_batch, tmp_path, secrets=["pasword"])
    with pytest.raises(ConfigurationError, match="key column"):
        write_reports(MANIFEST, small_batch, tmp_path, key_columns=["id"])
    assert list(tmp_path.iterdir()) == []
