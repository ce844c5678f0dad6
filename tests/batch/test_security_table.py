"""The security table: one row per threat, each checked against the real thing.

File threats (path traversal, sensitive files, MIME spoofs, oversize) go through the CSV
gate. Injection threats (XSS into the report, template and formula injection, secret
leakage) go through one real ``batchwright run`` of hostile rows against the local site:
the report is opened in headless Chromium, the site's log shows what was typed, and
every file the batch wrote, and the CLI's output, is searched for the secrets.

Secrets, what is searched: every file under ``artifacts/<batch_id>/`` (reports,
results.csv, summary.json, junit.xml, manifest.json, console logs, page HTML, traces
unzipped), the CLI's stdout and stderr, and the messages stored for each job. The
site never displays the secret, so page HTML must not hold it either. Screenshots are
pixels and are not searched. The store (``artifacts/batchwright.db``) keeps the input
rows by design, as the CSV does, so that jobs can run and be resumed.
"""

from __future__ import annotations

import csv
import io
import sys
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _fault_runner as runner
import pytest

from batch.exceptions import SecurityError
from batch.ingest.security import check_csv_file
from batch.models import JobStatus
from batch.settings import BatchSettings, load_settings
from batch.store import ManifestStore, default_store_path
from runtime.browser import BrowserManager
from runtime.outcome import ErrorCategory

XSS = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>")
TEMPLATES = ("{{ 7*7 }}", "{{ ''.__class__.__mro__ }}")
FORMULAS = ('=HYPERLINK("x")', "+1", "-1", "@SUM(A1)")
HEADERS = ("name", "email", "notes", "password", "mode")
ROWS = (
    (XSS[0], "xss@example.com", FORMULAS[0], "Pw-3c9a11-row1", "ok"),
    (XSS[1], "not-an-email", FORMULAS[1], "Pw-7be204-row2", "ok"),
    (TEMPLATES[0], "tpl1@example.com", FORMULAS[2], "Pw-d4e8f0-row3", "ok"),
    (TEMPLATES[1], "tpl2@example.com", FORMULAS[3], "Pw-91aa5c-row4", "ok"),
    ("Echo", "echo@example.com", "plain", "Pw-0f6d2b-row5", "echo"),
    ("Flaky", "flaky@example.com", "plain", "Pw-52c7e9-row6", "flaky"),
)
SECRETS = tuple(row[3] for row in ROWS)
FLOW = """\
name: hostile-rows
key: [email]
secrets: [password]
steps:
  - goto: "{{ base_url }}/customers/new"
  - fill: { selector: "#name", value: "{{ row.name }}" }
  - fill: { label: "Email", value: "{{ row.email }}" }
  - select: { selector: "#plan", value: "basic" }
  - fill: { placeholder: "Anything else?", value: "{{ row.notes }} {{ row.password }}" }
  - check: "#terms"
  - click: { role: button, name: "Save customer" }
    commit: true
  - expect_text:
      selector: ".flash"
      text: "Saved {{ row.name }}{{ ' ' ~ row.password if row.mode == 'echo' else '' }}"
  - goto: "{{ base_url }}/flaky/{{ job.id }}?fail={{ 9 if row.mode == 'flaky' else 0 }}"
  - expect_visible: "p.ok"
"""
PIXEL_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass
class HostileRun:
    """One ``batchwright run`` of the hostile rows, and what it left."""

    workdir: Path
    batch_id: str
    output: str
    customers: list[dict[str, str]]

    @property
    def batch_dir(self) -> Path:
        return self.workdir / "artifacts" / self.batch_id


@pytest.fixture(scope="module")
def hostile_run(site: Any, tmp_path_factory: pytest.TempPathFactory) -> HostileRun:
    workdir = tmp_path_factory.mktemp("hostile")
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([HEADERS, *ROWS])
    (workdir / "rows.csv").write_text(buffer.getvalue(), encoding="utf-8")
    (workdir / "flow.yaml").write_text(FLOW, encoding="utf-8")
    with site.state.lock:
        site.state.customers.clear()
        site.state.hits.clear()
    result = runner.batchwright(
        "run", "rows.csv", "--flow", "flow.yaml", "--base-url", site.url,
        "--retries", "1", "--concurrency", "2", "--progress", "lines", cwd=workdir,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 1, output  # some rows fail on purpose
    with site.state.lock:
        customers = [dict(c) for c in site.state.customers]
    with ManifestStore(default_store_path(workdir / "artifacts")) as store:
        (manifest,) = store.list_batches()
    return HostileRun(workdir, manifest.batch_id, output, customers)


def gate_settings(base: Path, **overrides: Any) -> BatchSettings:
    return load_settings({"base_dir": base, **overrides}, read_env=False)


def refused(path: str | Path, base: Path, expected: str, **overrides: Any) -> None:
    with pytest.raises(SecurityError) as caught:
        check_csv_file(path, gate_settings(base, **overrides))
    assert expected in str(caught.value)


# --- file threats -------------------------------------------------------------------


def outside_file(tmp_path: Path) -> Path:
    outside = tmp_path / "outside.csv"
    outside.write_text("a,b\n1,2\n", encoding="utf-8")
    (tmp_path / "base").mkdir(exist_ok=True)
    return outside


async def dot_dot(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    outside_file(tmp_path)
    refused("../outside.csv", tmp_path / "base", "outside the base directory")


async def absolute_outside(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    refused(outside_file(tmp_path), tmp_path / "base", "outside the base directory")


async def symlink_out(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    outside = outside_file(tmp_path)
    (tmp_path / "base" / "link.csv").symlink_to(outside)
    refused("link.csv", tmp_path / "base", "outside the base directory")


async def etc_passwd(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    refused("/etc/passwd", tmp_path, "sensitive location", allow_path_traversal=True)


async def proc_environ(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    refused("/proc/self/environ", tmp_path, "sensitive location", allow_path_traversal=True)


def spoof(content: bytes) -> Callable[[Path, pytest.FixtureRequest], Awaitable[None]]:
    async def check(tmp_path: Path, request: pytest.FixtureRequest) -> None:
        (tmp_path / "data.csv").write_bytes(content)
        refused("data.csv", tmp_path, "not text")

    return check


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("sheet.xml", "<x/>" * 100)
    return buffer.getvalue()


async def oversize(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    (tmp_path / "big.csv").write_text("a,b\n" + "1,2\n" * 1000, encoding="utf-8")
    refused("big.csv", tmp_path, "over the limit", max_file_size_mb=0.001)


# --- injection threats (one real run) ----------------------------------------------


async def xss_in_report(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    run: HostileRun = request.getfixturevalue("hostile_run")
    dialogs: list[str] = []
    async with (
        BrowserManager(gate_settings(tmp_path)) as browser,
        browser.new_context() as context,
    ):
        page = await context.new_page()
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))
        await page.goto((run.batch_dir / "report.html").as_uri())
        await page.wait_for_load_state("load")
        text = await page.inner_text("body")
        injected = await page.evaluate("document.querySelectorAll('img[src=\"x\"]').length")
    assert dialogs == [], "a CSV value ran as script in the report"
    assert injected == 0, "a CSV value became an element in the report"
    for payload in XSS:
        assert payload in text, f"{payload} is not shown as text"


async def template_literal(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    run: HostileRun = request.getfixturevalue("hostile_run")
    names = [customer["name"] for customer in run.customers]
    for payload in TEMPLATES:
        assert names.count(payload) == 1, f"{payload} was not typed literally: {names}"
    assert "49" not in names


async def formula_neutralised(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    run: HostileRun = request.getfixturevalue("hostile_run")
    text = (run.batch_dir / "results.csv").read_text(encoding="utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    notes = [row[table[0].index("notes")] for row in table[1:]]
    for payload in FORMULAS:
        assert "'" + payload in notes, f"{payload} reached results.csv unneutralised"
    dangerous = [cell for row in table for cell in row if cell[:1] in {"=", "+", "-", "@"}]
    assert dangerous == [], dangerous


def leaked_in(data: bytes) -> list[str]:
    return [secret for secret in SECRETS if secret.encode() in data]


def searched_files(batch_dir: Path) -> dict[str, bytes]:
    """Every file of the batch (zip members read out), but pixels."""
    found: dict[str, bytes] = {}
    for path in sorted(p for p in batch_dir.rglob("*") if p.is_file()):
        name = str(path.relative_to(batch_dir))
        if path.suffix in PIXEL_SUFFIXES:
            continue
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    found[f"{name}!{member}"] = archive.read(member)
        else:
            found[name] = path.read_bytes()
    return found


async def secrets_in_files(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    run: HostileRun = request.getfixturevalue("hostile_run")
    with ManifestStore(default_store_path(run.workdir / "artifacts")) as store:
        jobs = {job.row_data["name"]: job for job in store.iter_jobs(run.batch_id)}
    # the run failed the rows meant to fail, so secrets had chances to leak
    assert jobs["Echo"].status is JobStatus.FAILED
    assert jobs["Flaky"].error_category is ErrorCategory.TRANSIENT
    assert len(jobs["Flaky"].attempts) == 2
    files = searched_files(run.batch_dir)
    assert {"report.html", "results.csv", "summary.json", "junit.xml"} <= set(files)
    leaks = {name: leaked_in(data) for name, data in files.items() if leaked_in(data)}
    assert leaks == {}, f"secret values found in batch files: {leaks}"


async def secrets_in_cli_output(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    run: HostileRun = request.getfixturevalue("hostile_run")
    assert "failed" in run.output
    assert leaked_in(run.output.encode()) == []


async def secrets_in_stored_messages(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    run: HostileRun = request.getfixturevalue("hostile_run")
    with ManifestStore(default_store_path(run.workdir / "artifacts")) as store:
        jobs = list(store.iter_jobs(run.batch_id))
    messages = [j.error_message for j in jobs] + [a.message for j in jobs for a in j.attempts]
    assert any("Saved Echo" in m for m in messages), "the echo row's failure is recorded"
    assert leaked_in("\n".join(messages).encode()) == []


Check = Callable[[Path, pytest.FixtureRequest], Awaitable[None]]
TABLE: list[tuple[str, str, Check]] = [
    ("path traversal", "../outside.csv", dot_dot),
    ("path traversal", "absolute path outside base_dir", absolute_outside),
    ("path traversal", "symlink out of base_dir", symlink_out),
    ("sensitive file", "/etc/passwd (even with allow_path_traversal)", etc_passwd),
    ("sensitive file", "/proc/self/environ", proc_environ),
    ("MIME spoof", "PNG renamed .csv", spoof(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)),
    ("MIME spoof", "ZIP renamed .csv", spoof(zip_bytes())),
    ("MIME spoof", "PDF renamed .csv", spoof(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\n")),
    ("MIME spoof", "ELF renamed .csv", spoof(Path(sys.executable).resolve().read_bytes()[:4096])),
    ("oversize", "file over max_file_size_mb", oversize),
    ("XSS", "<script> and <img onerror> values in report.html", xss_in_report),
    ("template injection", "{{ 7*7 }} and {{ ''.__class__ }} typed literally", template_literal),
    ("formula injection", "=, +, -, @ cells in results.csv", formula_neutralised),
    ("secret leakage", "batch files (reports, logs, HTML, traces)", secrets_in_files),
    ("secret leakage", "CLI stdout and stderr", secrets_in_cli_output),
    ("secret leakage", "stored error and attempt messages", secrets_in_stored_messages),
]


BROWSER_THREATS = {"XSS", "template injection", "formula injection", "secret leakage"}


@pytest.mark.parametrize(
    ("threat", "case", "check"),
    [
        pytest.param(
            *row,
            id=f"{row[0]}: {row[1]}",
            marks=[pytest.mark.browser] * (row[0] in BROWSER_THREATS),
        )
        for row in TABLE
    ],
)
async def test_threat_is_contained(
    threat: str, case: str, check: Check, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    await check(tmp_path, request)
