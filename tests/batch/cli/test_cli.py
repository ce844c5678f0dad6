"""The ``batchwright`` command as users run it: real subprocesses, real exit codes."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from urllib.parse import unquote

import pytest
from paths import REPO

from batch.engine import BatchEngine
from batch.models import JobStatus
from batch.settings import load_settings
from runtime.run_context import RunContext

EXAMPLES = REPO / "examples"
BATCH_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}")


def cli_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("BATCH_") and k != "GITHUB_STEP_SUMMARY"
    }
    env["COLUMNS"] = "200"
    return env


def batchwright(
    *args: str, cwd: Path, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "batch", *args],
        cwd=cwd,
        env=cli_env() | (env or {}),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copy(EXAMPLES / "customers.csv", tmp_path)
    shutil.copy(EXAMPLES / "add_customer.yaml", tmp_path)
    return tmp_path


def test_help_lists_every_command(workdir: Path) -> None:
    result = batchwright("--help", cwd=workdir)
    assert result.returncode == 0
    for command in ("run", "resume", "retry", "cancel", "status", "list", "preview", "report"):
        assert command in result.stdout
    assert batchwright("run", "--help", cwd=workdir).returncode == 0


def test_preview_prints_encoding_headers_rows_and_rendered_steps(workdir: Path) -> None:
    result = batchwright(
        "preview", "customers.csv", "--flow", "add_customer.yaml", "--rows", "2", cwd=workdir
    )
    assert result.returncode == 0, result.stderr
    assert "utf-8" in result.stdout
    assert "Ada Lovelace" in result.stdout
    assert "Grace Hopper" in result.stdout
    assert "Alan Turing" not in result.stdout, "--rows 2 shows two rows"
    assert "http://127.0.0.1:8000/customers/new" in result.stdout
    assert "(commit)" in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["preview", "../outside.csv"], "outside"),
        (["preview", "/etc/passwd"], "/etc"),
        (["preview", "image.csv"], "image/png"),
        (["preview", "archive.csv"], "application/zip"),
        (["preview", "missing.csv"], "no such file"),
        (["preview", "customers.csv", "--flow", "bad_flow.yaml"], "no_such_column"),
        (["status", "20990101-000000-abcdef"], "batchwright list"),
    ],
)
def test_bad_input_exits_2_with_one_line_on_stderr(
    workdir: Path, args: list[str], expected: str
) -> None:
    (workdir.parent / "outside.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    png_1x1 = (
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
    )
    (workdir / "image.csv").write_bytes(bytes.fromhex(png_1x1))
    with zipfile.ZipFile(workdir / "archive.csv", "w") as archive:
        archive.writestr("data.csv", "a,b\n1,2\n")
    (workdir / "bad_flow.yaml").write_text(
        'name: bad\nsteps:\n  - fill: { selector: "#x", value: "{{ row.no_such_column }}" }\n',
        encoding="utf-8",
    )
    result = batchwright(*args, cwd=workdir)
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_debug_shows_the_traceback(workdir: Path) -> None:
    result = batchwright("--debug", "preview", "missing.csv", cwd=workdir)
    assert result.returncode != 0
    assert "Traceback" in result.stderr


@pytest.mark.browser
def test_run_exits_0_when_every_row_completes_and_1_when_one_fails(
    workdir: Path, site_url: str, site: object
) -> None:
    step_summary = workdir / "github-step-summary.md"
    result = batchwright(
        "run", "customers.csv", "--flow", "add_customer.yaml", "--base-url", site_url,
        cwd=workdir, env={"GITHUB_STEP_SUMMARY": str(step_summary)},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8/8 completed" in result.stdout
    assert "100.0%" in step_summary.read_text(encoding="utf-8")
    found = BATCH_ID.search(result.stdout)
    assert found
    batch_id = found.group()
    assert (workdir / "artifacts" / batch_id / "report.html").is_file()

    listing = batchwright("list", cwd=workdir)
    assert batch_id in listing.stdout
    status = batchwright("status", batch_id, cwd=workdir)
    assert status.returncode == 0
    assert "100.0%" in status.stdout

    (workdir / "one_bad.csv").write_text(
        "name,email,plan,notes\nGood,g@example.com,pro,\nBad,no-at-sign,pro,\n", encoding="utf-8"
    )
    failed = batchwright(
        "run", "one_bad.csv", "--flow", "add_customer.yaml", "--base-url", site_url,
        "--quiet", cwd=workdir,
    )  # fmt: skip
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "1 failed" in failed.stdout


@pytest.mark.browser
def test_json_progress_is_one_event_per_line(workdir: Path, site_url: str) -> None:
    result = batchwright(
        "run", "customers.csv", "--flow", "add_customer.yaml", "--base-url", site_url,
        "--json", cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert events[-1]["event"] == "finished"
    assert events[-1]["counts"]["completed"] == 8
    assert sum(1 for e in events if e.get("event") == "progress") == 8


def write_slow_batch(workdir: Path, rows: int) -> None:
    (workdir / "slow.csv").write_text("n\n" + "".join(f"{n}\n" for n in range(rows)))
    (workdir / "slow.yaml").write_text(
        'name: slow\nsteps:\n  - goto: "{{ base_url }}/slow?ms=400&n={{ row.n }}"\n'
    )


def start_run(workdir: Path, site_url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable, "-m", "batch", "run", "slow.csv", "--flow", "slow.yaml",
            "--base-url", site_url, "--concurrency", "1", "--progress", "lines",
        ],
        cwd=workdir, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_for_batch_id(workdir: Path) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        listing = batchwright("list", cwd=workdir)
        for line in listing.stdout.splitlines():
            found = BATCH_ID.search(line)
            if found and "slow" in line and "running" in line:
                return found.group()
        time.sleep(0.3)
    raise AssertionError("the batch never started running")


@pytest.mark.browser
def test_ctrl_c_stops_with_130_and_resume_finishes_the_batch(workdir: Path, site_url: str) -> None:
    write_slow_batch(workdir, rows=10)
    process = start_run(workdir, site_url)
    batch_id = wait_for_batch_id(workdir)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "stopping" in stderr

    resumed = batchwright("resume", batch_id, "--base-url", site_url, "--quiet", cwd=workdir)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "10/10 completed" in resumed.stdout


@pytest.mark.browser
def test_cancel_from_another_process_winds_the_run_down(workdir: Path, site_url: str) -> None:
    write_slow_batch(workdir, rows=20)
    process = start_run(workdir, site_url)
    batch_id = wait_for_batch_id(workdir)
    cancelled = batchwright("cancel", batch_id, cwd=workdir)
    assert cancelled.returncode == 0
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stdout + stderr
    assert "cancelled" in stdout
    assert f"batchwright resume {batch_id}" in stdout


@pytest.mark.browser
def test_resume_of_a_batch_another_process_runs_is_refused(workdir: Path, site_url: str) -> None:
    write_slow_batch(workdir, rows=10)
    process = start_run(workdir, site_url)
    batch_id = wait_for_batch_id(workdir)
    second = batchwright("resume", batch_id, "--base-url", site_url, "--quiet", cwd=workdir)
    assert second.returncode == 2, second.stdout + second.stderr
    assert batch_id in second.stderr
    assert f"pid {process.pid}" in second.stderr, "the refusal names the engine that runs it"
    assert len(second.stderr.strip().splitlines()) == 1, second.stderr
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stdout + stderr
    assert "10/10 completed" in stdout


def recorded_settings(workdir: Path, batch_id: str) -> dict[str, object]:
    """The run settings the last execution recorded, as the exported manifest shows them."""
    manifest = workdir / "artifacts" / batch_id / "manifest.json"
    settings: dict[str, object] = json.loads(manifest.read_text(encoding="utf-8"))["settings"]
    return settings


@pytest.mark.browser
def test_resume_and_retry_take_an_isolation(workdir: Path, site_url: str) -> None:
    (workdir / "one_bad.csv").write_text(
        "name,email,plan,notes\nGood,g@example.com,pro,\nBad,no-at-sign,pro,\n", encoding="utf-8"
    )
    settings = load_settings(
        {"base_dir": workdir, "artifacts_dir": workdir / "artifacts"}, read_env=False
    )
    engine = BatchEngine(RunContext(settings=settings))
    batch_id = engine.create_batch_jobs("one_bad.csv", "add_customer.yaml").batch_id
    engine.close()

    resumed = batchwright(
        "resume", batch_id, "--isolation", "recycled", "--base-url", site_url, "--quiet",
        cwd=workdir,
    )  # fmt: skip
    assert resumed.returncode == 1, resumed.stdout + resumed.stderr
    assert recorded_settings(workdir, batch_id)["isolation"] == "recycled"

    retried = batchwright(
        "retry", batch_id, "--isolation", "page", "--retries", "0", "--quiet", cwd=workdir
    )
    assert retried.returncode == 1, retried.stdout + retried.stderr
    assert "1 failed" in retried.stdout
    assert recorded_settings(workdir, batch_id)["isolation"] == "page"

    wrong = batchwright("retry", batch_id, "--isolation", "shared", cwd=workdir)
    assert wrong.returncode == 2
    assert "isolation" in wrong.stderr


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and modification time."""
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
        if path.is_file()
    }


def evidence_links(report_dir: Path) -> dict[str, list[str]]:
    """The evidence each report in ``report_dir`` points at, as written there."""
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    data = html.split('id="rows-data">', 1)[1].split("</script>", 1)[0]
    rows = json.loads(data)["rows"]
    junit = (report_dir / "junit.xml").read_text(encoding="utf-8")
    with (report_dir / "results.csv").open(encoding="utf-8", newline="") as handle:
        cells = [row["artifacts"] for row in csv.DictReader(handle)]
    return {
        "html": [
            unquote(link[0]) for row in rows for key in ("sh", "tr", "o") for link in row[key]
        ],
        "junit": re.findall(r"\[\[ATTACHMENT\|([^\]]+)\]\]", junit),
        "csv": [path for cell in cells if cell for path in cell.split(";")],
    }


@pytest.mark.browser
def test_report_out_writes_only_there_and_its_links_reach_the_evidence(
    workdir: Path, site_url: str
) -> None:
    (workdir / "one_bad.csv").write_text(
        "name,email,plan,notes\nGood,g@example.com,pro,\nBad,no-at-sign,pro,\n", encoding="utf-8"
    )
    failed = batchwright(
        "run", "one_bad.csv", "--flow", "add_customer.yaml", "--base-url", site_url, "--quiet",
        cwd=workdir,
    )  # fmt: skip
    assert failed.returncode == 1, failed.stdout + failed.stderr
    found = BATCH_ID.search(failed.stdout)
    assert found
    batch_dir = workdir / "artifacts" / found.group()
    before = snapshot(batch_dir)
    elsewhere = workdir / "published" / "reports"

    result = batchwright("report", found.group(), "--out", str(elsewhere), cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert snapshot(batch_dir) == before, "nothing written into the batch folder"
    assert sorted(p.name for p in elsewhere.iterdir()) == [
        "junit.xml", "manifest.json", "report.html", "results.csv", "summary.json", "summary.md"
    ]  # fmt: skip
    for report_dir in (batch_dir, elsewhere):
        links = evidence_links(report_dir)
        for kind, paths in links.items():
            assert paths, f"{kind} in {report_dir} links no evidence"
            for path in paths:
                assert (report_dir / path).is_file(), f"{kind} link {path} from {report_dir}"
    assert any(path.endswith(".png") for path in evidence_links(elsewhere)["html"])


def test_review_lists_unknown_outcomes_and_settles_them(workdir: Path) -> None:
    settings = load_settings(
        {"base_dir": workdir, "artifacts_dir": workdir / "artifacts"}, read_env=False
    )
    engine = BatchEngine(RunContext(settings=settings))
    manifest = engine.create_batch_jobs("customers.csv", "add_customer.yaml")
    job_id = engine.store.job_ids(manifest.batch_id)[1]
    token = engine.store.claim_job(job_id, "gone-host:1:x", lease_s=60)
    assert token is not None
    engine.store.transition(job_id, JobStatus.NEEDS_REVIEW, token=token, error_message="crashed")
    engine.close()

    listing = batchwright("review", manifest.batch_id, cwd=workdir)
    assert listing.returncode == 0, listing.stderr
    assert job_id in listing.stdout
    assert "1 row(s) need review" in listing.stdout

    wrong = batchwright("review", manifest.batch_id, "--mark", "failed", cwd=workdir)
    assert wrong.returncode == 2

    settled = batchwright("review", manifest.batch_id, "--mark", "pending", cwd=workdir)
    assert settled.returncode == 0, settled.stderr
    assert "1 row(s) marked pending" in settled.stdout
    assert "no rows need review" in batchwright("review", manifest.batch_id, cwd=workdir).stdout


def create_batch(workdir: Path, csv: str = "customers.csv") -> str:
    """A batch of the example rows in workdir's store, created without running anything."""
    settings = load_settings(
        {"base_dir": workdir, "artifacts_dir": workdir / "artifacts"}, read_env=False
    )
    engine = BatchEngine(RunContext(settings=settings))
    batch_id = engine.create_batch_jobs(csv, "add_customer.yaml").batch_id
    engine.close()
    return batch_id


def test_list_shows_whole_batch_ids_in_80_columns(workdir: Path) -> None:
    (workdir / "a_csv_file_with_a_rather_long_name_for_the_listing.csv").write_text(
        (workdir / "customers.csv").read_text(encoding="utf-8"), encoding="utf-8"
    )
    ids = [
        create_batch(workdir),
        create_batch(workdir, "a_csv_file_with_a_rather_long_name_for_the_listing.csv"),
    ]
    listing = batchwright("list", cwd=workdir, env={"COLUMNS": "80"})
    assert listing.returncode == 0, listing.stderr
    assert max(len(line) for line in listing.stdout.splitlines()) <= 80, listing.stdout
    for batch_id in ids:
        assert batch_id in listing.stdout, listing.stdout
    status = batchwright("status", ids[1], cwd=workdir, env={"COLUMNS": "80"})
    assert ids[1] in status.stdout, status.stdout


def test_list_and_status_json_match_the_store(workdir: Path) -> None:
    older, newer = create_batch(workdir), create_batch(workdir)
    listing = batchwright("list", "--json", cwd=workdir, env={"COLUMNS": "80"})
    assert listing.returncode == 0, listing.stderr
    batches = json.loads(listing.stdout)
    assert [b["batch_id"] for b in batches] == [newer, older], "newest first"
    first = batches[0]
    assert set(first) == {
        "batch_id", "status", "flow_name", "flow_ref", "csv_path", "created_at", "total", "counts",
        "group_id",
    }  # fmt: skip
    assert first["group_id"] is None, "a batch of its own belongs to no group"
    assert first["status"] == "created"
    assert first["flow_name"] == "add-customer"
    assert first["csv_path"].endswith("customers.csv")
    assert first["total"] == 8
    assert first["counts"] == dict.fromkeys((s.value for s in JobStatus), 0) | {"pending": 8}

    status = batchwright("status", newer, "--json", cwd=workdir, env={"COLUMNS": "80"})
    assert status.returncode == 0, status.stderr
    settings = load_settings(
        {"base_dir": workdir, "artifacts_dir": workdir / "artifacts"}, read_env=False
    )
    engine = BatchEngine(RunContext(settings=settings))
    expected = engine.get_batch_summary(newer).to_dict()
    engine.close()
    assert json.loads(status.stdout) == expected
    assert first["created_at"] == expected["created_at"]
    limited = batchwright("list", "--json", "--limit", "1", cwd=workdir)
    assert [b["batch_id"] for b in json.loads(limited.stdout)] == [newer]


def test_global_options_work_after_the_command_too(workdir: Path) -> None:
    elsewhere = workdir / "elsewhere"
    batch_id = create_batch(workdir)
    assert batch_id in batchwright("list", cwd=workdir).stdout
    empty = batchwright("list", "--artifacts", str(elsewhere), cwd=workdir)
    assert "no batches yet" in empty.stdout, empty.stdout + empty.stderr
    after = batchwright("status", batch_id, "--artifacts", str(workdir / "artifacts"), cwd=workdir)
    assert after.returncode == 0, after.stderr
    assert "add-customer" in after.stdout

    traceback = batchwright("preview", "missing.csv", "--debug", cwd=workdir)
    assert "Traceback" in traceback.stderr, "--debug after the command"
    verbose = batchwright("preview", "customers.csv", "-v", "--debug", cwd=workdir)
    assert verbose.returncode == 0, verbose.stderr
    before = batchwright("--artifacts", str(elsewhere), "list", cwd=workdir)
    assert "no batches yet" in before.stdout, "still accepted before the command"

    helped = batchwright("run", "--help", cwd=workdir)
    for option in ("--artifacts", "--verbose", "--debug"):
        assert option in helped.stdout, "--help lists the globals a command accepts"


@pytest.mark.browser
def test_max_failures_stops_a_failing_batch_and_it_stays_resumable(
    workdir: Path, site_url: str
) -> None:
    wrong = f"{site_url}/no-such-app"  # every row: HTTP 404 on step 1
    out = workdir / "out"  # --artifacts after the command, as the issue typed it
    artifacts = ("--artifacts", str(out))
    common = ("--concurrency", "1", "--retries", "0", "--progress", "lines", *artifacts)
    stopped = batchwright(
        "run", "customers.csv", "--flow", "add_customer.yaml", "--base-url", wrong,
        "--max-failures", "2", *common, cwd=workdir,
    )  # fmt: skip
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    found = BATCH_ID.search(stopped.stdout)
    assert found
    batch_id = found.group()
    last = stopped.stdout.strip().splitlines()[-1]
    reason = "stopped after 2 failed rows (--max-failures 2)"
    assert last == f"{reason}; resume with: batchwright resume {batch_id}", stopped.stdout
    assert "--max-failures 2" in stopped.stderr
    summary = json.loads((out / batch_id / "summary.json").read_text())
    assert summary["counts"]["failed"] == 2
    assert summary["counts"]["pending"] == 6
    assert summary["status"] == "interrupted"
    assert summary["stop_reason"] == reason
    assert "--max-failures 2" in (out / batch_id / "report.html").read_text()
    assert reason in batchwright("status", batch_id, *artifacts, cwd=workdir).stdout

    again = batchwright("resume", batch_id, "--max-failures", "2", *common, cwd=workdir)
    assert again.returncode == 1, again.stdout + again.stderr
    status = batchwright("status", batch_id, "--json", *artifacts, cwd=workdir)
    counts = json.loads(status.stdout)["counts"]
    assert (counts["failed"], counts["pending"]) == (4, 4), "the recorded URL fails honestly"

    fixed = batchwright("resume", batch_id, "--base-url", site_url, *common, cwd=workdir)
    assert fixed.returncode == 1, fixed.stdout + fixed.stderr
    assert "4/8 completed" in fixed.stdout
    assert "stopped after" not in fixed.stdout
    summary = json.loads((out / batch_id / "summary.json").read_text())
    assert (summary["status"], summary["stop_reason"]) == ("finished", None)

    retried = batchwright(
        "retry", batch_id, "--base-url", site_url, "--max-failures", "1", *common, cwd=workdir
    )
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert "8/8 completed" in retried.stdout


def test_max_failures_must_not_be_negative(workdir: Path) -> None:
    result = batchwright(
        "run", "customers.csv", "--flow", "add_customer.yaml", cwd=workdir,
        env={"BATCH_MAX_FAILURES": "-1"},
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "max_failures" in result.stderr
