"""The examples of spec/batch-module-readme.md, run as written (``src.batch`` is
``batch``) against the demo CRM, from a working directory like a user's: the demo
CSV and flow beside it, the flow and the site's URL given as settings.

Lines between the examples' own lines only set the scene and check the results.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from paths import EXAMPLES

from batch import BatchEngine, start_batch
from batch.exceptions import ConfigurationError, SecurityError
from runtime.run_context import RunContext

pytestmark = pytest.mark.browser

DEMO_ROWS = 8


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site_url: str) -> Path:
    """customers.csv and add_customer.yaml in the working directory; the flow and the
    demo site's URL in BATCH_FLOW and BATCH_BASE_URL; no other BATCH_* variable."""
    for name in list(os.environ):
        if name.startswith("BATCH_"):
            monkeypatch.delenv(name)
    shutil.copy(EXAMPLES / "customers.csv", tmp_path / "customers.csv")
    shutil.copy(EXAMPLES / "add_customer.yaml", tmp_path / "add_customer.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BATCH_FLOW", "add_customer.yaml")
    monkeypatch.setenv("BATCH_BASE_URL", site_url)
    return tmp_path


def customers_entered(site: Any) -> list[str]:
    with site.state.lock:
        return [customer["email"] for customer in site.state.customers]


def open_files_under(folder: Path) -> int:
    """This process's file descriptors on files in ``folder`` (the store and its WAL)."""
    found = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except FileNotFoundError:
            continue
        found += target.startswith(f"{folder}{os.sep}")
    return found


async def test_quick_start(workdir: Path, site: Any) -> None:
    run_context = RunContext()

    # Option 1: Using BatchEngine directly
    engine = BatchEngine(run_context)
    manifest = engine.create_batch_jobs("customers.csv")
    await engine.execute_batch_jobs(manifest.batch_id)

    assert engine.get_batch_summary(manifest.batch_id).completed_jobs == DEMO_ROWS
    assert len(customers_entered(site)) == DEMO_ROWS
    assert open_files_under(workdir / "artifacts") > 0, "an open engine holds its store"
    engine.close()  # SQLite keeps a closed connection's file open while another is open

    # Option 2: Using convenience function
    manifest = await start_batch("customers.csv", run_context=run_context)

    assert (manifest.total_jobs, manifest.completed_jobs, manifest.failed_jobs) == (8, 8, 0)
    assert len(customers_entered(site)) == 2 * DEMO_ROWS
    assert open_files_under(workdir / "artifacts") == 0, "start_batch closes its engine"


async def test_with_configuration(workdir: Path) -> None:
    run_context = RunContext()
    config = {
        "max_file_size_mb": 100,
        "chunk_size": 1000,
        "encoding": "utf-8",
        "delimiter_fallback": ",",
        "allow_path_traversal": False,
        "validate_headers": True,
        "skip_empty_rows": True,
        "log_level": "INFO",
    }

    engine = BatchEngine(run_context, config=config)

    settings = engine.settings
    assert settings.max_file_size_bytes == 100 * 1024 * 1024
    assert settings.flow == "add_customer.yaml", "the environment still applies under config"
    assert len(engine.parse_csv("customers.csv")) == DEMO_ROWS
    engine.close()


async def test_parse_csv(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(workdir / "customers.csv", workdir / "data.csv")
    run_context = RunContext()

    engine = BatchEngine(run_context)
    rows = engine.parse_csv("data.csv")
    print(f"Parsed {len(rows)} rows")

    assert capsys.readouterr().out == "Parsed 8 rows\n"
    assert rows[2]["notes"] == "Multi-line\nnote"
    engine.close()


async def test_create_execute_and_summarise(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Create and Execute Batch, then Get Batch Summary, on the demo CSV with one bad
    email, the flow given as ``config={'flow': ...}`` instead of BATCH_FLOW."""
    csv = workdir / "customers.csv"
    csv.write_text(csv.read_text().replace("don@example.com", "don-at-example"))
    monkeypatch.delenv("BATCH_FLOW")
    run_context = RunContext()
    engine = BatchEngine(run_context, config={"flow": EXAMPLES / "add_customer.yaml"})

    # Create batch
    manifest = engine.create_batch_jobs("customers.csv")
    print(f"Created batch {manifest.batch_id} with {manifest.total_jobs} jobs")

    # Execute batch
    result = await engine.execute_batch_jobs(manifest.batch_id)
    print(f"Completed: {result['completed']}, Failed: {result['failed']}")

    batch_id = manifest.batch_id
    summary = engine.get_batch_summary(batch_id)
    if summary:
        print(f"Total: {summary.total_jobs}")
        print(f"Completed: {summary.completed_jobs}")
        print(f"Failed: {summary.failed_jobs}")
        print(f"Success Rate: {summary.success_rate:.1%}")

    assert capsys.readouterr().out.splitlines() == [
        f"Created batch {batch_id} with 8 jobs",
        "Completed: 7, Failed: 1",
        "Total: 8",
        "Completed: 7",
        "Failed: 1",
        "Success Rate: 87.5%",
    ]
    engine.close()


async def test_retry_failed_jobs(workdir: Path, site: Any) -> None:
    """The enterprise rows meet a 503 six times: the default two retries give up, the
    spec's ``max_retries=5`` gets them through on the batch's next execution."""
    flaky_step = (
        '  - goto: "{{ base_url }}/flaky/{{ row.email }}'
        "?fail={{ 6 if row.plan == 'enterprise' else 0 }}\"\n"
    )
    flow = (workdir / "add_customer.yaml").read_text().replace("steps:\n", "steps:\n" + flaky_step)
    (workdir / "flaky.yaml").write_text(flow)
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    run_context = RunContext()
    engine = BatchEngine(run_context, config={"flow": "flaky.yaml", "jitter": 0}, sleep=record)
    batch_id = engine.create_batch_jobs("customers.csv").batch_id
    first = await engine.execute_batch_jobs(batch_id)
    assert (first["completed"], first["failed"]) == (5, 3)
    waits.clear()

    # Get failed job IDs
    manifest = engine._load_manifest_by_batch_id(batch_id)
    failed_jobs = [job.job_id for job in manifest.jobs if job.status == "failed"]

    # Retry with custom settings
    result = engine.retry_batch_jobs(
        batch_id=batch_id, job_ids=failed_jobs, max_retries=5, retry_delay=2.0, backoff_factor=2.0
    )

    assert (result["requeued"], result["pending"], result["failed"]) == (3, 3, 0)
    assert engine.get_batch_summary(batch_id)["pending"] == 3, "re-queued without an await"
    again = await engine.execute_batch_jobs(batch_id)
    assert (again["completed"], again["failed"]) == (8, 0)
    assert sorted(waits) == [2.0] * 3 + [4.0] * 3 + [8.0] * 3, "the recorded policy ran"
    assert "retry_policy" not in engine.get_manifest(batch_id).settings, "used once"
    assert len(customers_entered(site)) == DEMO_ROWS, "completed rows were not entered again"
    engine.close()


async def test_awaiting_the_retry_runs_it(
    make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    (tmp_path / "rows.csv").write_text("id\nok\nbad\n")
    (tmp_path / "flow.yaml").write_text(
        "name: flaky\nsteps:\n"
        "  - goto: \"{{ base_url }}/flaky/{{ row.id }}?fail={{ 3 if row.id == 'bad' else 0 }}\"\n"
        '  - expect_visible: "p.ok"\n'
    )
    engine = make_engine(max_retries=0, flow=tmp_path / "flow.yaml")
    summary = await engine.start_batch(tmp_path / "rows.csv")
    assert summary["failed"] == 1

    summary = await engine.retry_batch_jobs(summary.batch_id, max_retries=2)

    assert (summary["completed"], summary["failed"]) == (2, 0)
    bad = next(j for j in engine.store.iter_jobs(summary.batch_id) if j.row_data["id"] == "bad")
    assert [a.ok for a in bad.attempts] == [False, False, False, True]


def test_exceptions_import_as_written(workdir: Path) -> None:
    from batch.exceptions import (  # noqa: PLC0415 - the spec's import is the test
        BatchEngineError,  # Base exception
        ConfigurationError,  # Configuration errors
        FileProcessingError,  # File processing errors
        SecurityError,  # Security violations
    )

    engine = BatchEngine(RunContext())
    (workdir / "empty.csv").write_text("")
    with pytest.raises(SecurityError):
        engine.parse_csv("/etc/passwd")
    with pytest.raises(FileProcessingError):
        engine.parse_csv("empty.csv")
    with pytest.raises(ConfigurationError):
        BatchEngine(RunContext(), config={"chunk_size": 0})
    assert all(
        issubclass(error, BatchEngineError)
        for error in (ConfigurationError, FileProcessingError, SecurityError)
    )
    engine.close()


SPEC_EXPORTS = """
export BATCH_MAX_FILE_SIZE_MB=100
export BATCH_CHUNK_SIZE=1000
export BATCH_ENCODING=utf-8
export BATCH_ALLOW_PATH_TRAVERSAL=false
export BATCH_LOG_LEVEL=INFO
"""

SHOW_SETTINGS = """
import json
from batch import BatchEngine
from runtime.run_context import RunContext
names = ["max_file_size_mb", "chunk_size", "encoding", "allow_path_traversal", "log_level"]
print(json.dumps(BatchEngine(RunContext()).settings.model_dump(include=set(names))))
"""


def test_environment_variables(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The spec's exports, run by bash, reach an engine built on ``RunContext()``; a
    tiny size limit then refuses the demo CSV: the value is used, not only stored."""
    script = f"{SPEC_EXPORTS}\nexec {shlex.quote(sys.executable)} -c {shlex.quote(SHOW_SETTINGS)}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCH_")}
    shown = subprocess.run(
        ["bash", "-c", script], cwd=workdir, env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(shown.stdout) == {
        "max_file_size_mb": 100,
        "chunk_size": 1000,
        "encoding": "utf-8",
        "allow_path_traversal": False,
        "log_level": "INFO",
    }

    monkeypatch.setenv("BATCH_MAX_FILE_SIZE_MB", "0.0001")
    engine = BatchEngine(RunContext())
    with pytest.raises(SecurityError, match="BATCH_MAX_FILE_SIZE_MB"):
        engine.parse_csv("customers.csv")
    engine.close()


def test_no_flow_anywhere_says_how_to_give_one(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BATCH_FLOW")
    engine = BatchEngine(RunContext())
    with pytest.raises(ConfigurationError, match="no flow given") as raised:
        engine.create_batch_jobs("customers.csv")
    for way in ("flow=", "config={'flow'", "BATCH_FLOW", "--flow"):
        assert way in str(raised.value)
    assert engine.list_batches() == [], "nothing was stored"
    engine.close()
