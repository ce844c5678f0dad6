"""``batchwright schedule`` and ``batchwright prune`` as users run them: real
subprocesses, a real store, real Chromium against the local site, and a prune
killed with SIGKILL between a batch's rows and its folder."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from paths import EXAMPLES

from batch.engine import BatchEngine
from batch.settings import load_settings
from batch.store import ManifestStore
from runtime.outcome import ErrorCategory
from runtime.run_context import RunContext
from runtime.runners.fake import ScriptedRunner, fail

from .test_cli import batchwright, cli_env


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    lines = (EXAMPLES / "customers.csv").read_text(encoding="utf-8").splitlines()
    (tmp_path / "two.csv").write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    shutil.copy(EXAMPLES / "add_customer.yaml", tmp_path)
    return tmp_path


def listed(workdir: Path, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    result = batchwright("schedule", "list", "--json", cwd=workdir, env=env)
    assert result.returncode == 0, result.stderr
    views: list[dict[str, Any]] = json.loads(result.stdout)
    return views


def test_add_list_pause_resume_remove(workdir: Path) -> None:
    added = batchwright(
        "schedule", "add", "nightly", "two.csv", "--cron", "0 2 * * *", "--tz", "Europe/Paris",
        "--flow", "add_customer.yaml", "--priority", "high", "--concurrency", "2",
        "--secret", "email", "--retries", "1", cwd=workdir,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "schedule nightly: 0 2 * * * (Europe/Paris), next run " in added.stdout
    assert " 02:00+0" in added.stdout, "the next run in the schedule's zone"
    (view,) = listed(workdir)
    assert view["name"] == "nightly"
    assert view["source"] == str(workdir / "two.csv")
    assert view["options"] | {"base_dir": None} == {
        "base_dir": None,
        "priority": "high",
        "concurrency": "2",
        "secrets": ["email"],
        "max_retries": 1,
    }
    assert view["next_run"].endswith(("02:00:00+00:00", "01:00:00+00:00"))  # 02:00 in Paris
    assert view["last_outcome"] is None
    table = batchwright("schedule", "list", cwd=workdir)
    assert "nightly" in table.stdout
    assert "never ran" in table.stdout
    assert batchwright("schedule", "pause", "nightly", cwd=workdir).returncode == 0
    assert listed(workdir)[0]["paused"] is True
    assert listed(workdir)[0]["next_run"] is None
    assert batchwright("schedule", "resume", "nightly", cwd=workdir).returncode == 0
    assert listed(workdir)[0]["paused"] is False
    assert batchwright("schedule", "remove", "nightly", cwd=workdir).returncode == 0
    assert listed(workdir) == []
    again = batchwright("schedule", "remove", "nightly", cwd=workdir)
    assert again.returncode == 2
    assert "no schedule 'nightly'" in again.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--cron", "61 * * * *"], "--cron '61 * * * *' is not a valid cron expression"),
        (["--cron", "0 2 * *"], "--cron '0 2 * *' has 4 fields"),
        (["--cron", "0 2 * * *", "--tz", "Paris"], "--tz 'Paris' is not a known time zone"),
        (["--cron", "0 2 * * *", "--rate", "fast"], "setting 'rate'"),
    ],
)
def test_a_bad_schedule_exits_2_naming_the_field(
    workdir: Path, args: list[str], expected: str
) -> None:
    result = batchwright(
        "schedule", "add", "n", "two.csv", "--flow", "add_customer.yaml", *args, cwd=workdir
    )
    assert result.returncode == 2, result.stdout
    assert expected in result.stderr
    assert listed(workdir) == []


def backdate(workdir: Path, name: str) -> None:
    """As if the schedule had been added long ago: its yearly slot is due (and missed)."""
    with (
        ManifestStore(workdir / "artifacts" / "batchwright.db") as store,
        store.transaction() as conn,
    ):
        conn.exec_driver_sql(
            "UPDATE schedules SET since = '2020-01-01T00:00:00.000000+00:00' WHERE name = ?",
            (name,),
        )


@pytest.mark.browser
def test_run_due_fires_a_due_slot_and_runs_its_batch_against_the_site(
    workdir: Path, site_url: str, site: Any
) -> None:
    added = batchwright(
        "schedule", "add", "yearly", "two.csv", "--cron", "0 0 1 1 *", "--flow",
        "add_customer.yaml", "--base-url", site_url, cwd=workdir,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "nothing due" in batchwright("schedule", "run-due", cwd=workdir).stdout
    backdate(workdir, "yearly")
    fired = batchwright("schedule", "run-due", "--json", cwd=workdir)
    assert fired.returncode == 0, fired.stderr
    (result,) = json.loads(fired.stdout)
    assert result["outcome"] == "fired"
    batch_id = result["batch_id"]
    status = batchwright("status", batch_id, "--json", cwd=workdir)
    summary = json.loads(status.stdout)
    assert (summary["total"], summary["counts"]["completed"]) == (2, 2)
    with site.state.lock:
        assert len(site.state.customers) == 2
    (view,) = listed(workdir)
    assert view["last_batch_id"] == batch_id
    assert view["last_batch"]["status"] == "finished"
    assert "nothing due" in batchwright("schedule", "run-due", cwd=workdir).stdout, "missed once"
    assert (workdir / "artifacts" / batch_id / "report.html").is_file()


@pytest.mark.browser
def test_a_schedule_on_a_directory_fires_a_group_that_schedule_list_shows(
    workdir: Path, site_url: str, site: Any
) -> None:
    exports = workdir / "exports"
    exports.mkdir()
    for name in ("a.csv", "b.csv", "c.csv"):
        shutil.copy(workdir / "two.csv", exports / name)
    (exports / "bad.csv").write_text("colour,size\nred,2\n", encoding="utf-8")
    added = batchwright(
        "schedule", "add", "folder", "exports", "--cron", "0 0 1 1 *", "--flow",
        "add_customer.yaml", "--base-url", site_url, cwd=workdir,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    backdate(workdir, "folder")
    fired = batchwright("schedule", "run-due", "--json", cwd=workdir)
    assert fired.returncode == 0, fired.stderr
    (result,) = json.loads(fired.stdout)
    assert result["outcome"] == "fired"
    group_id = result["batch_id"]
    status = json.loads(batchwright("status", group_id, "--json", cwd=workdir).stdout)
    assert (status["status"], status["total"], status["counts"]["completed"]) == (
        "finished",
        6,
        6,
    )
    assert [Path(r["path"]).name for r in status["refused"]] == ["bad.csv"]
    (view,) = listed(workdir)
    assert view["last_batch_id"] == group_id
    assert view["last_batch"]["status"] == "finished"
    assert (view["last_batch"]["batches"], view["last_batch"]["refused"]) == (3, 1)
    table = batchwright("schedule", "list", cwd=workdir).stdout
    assert "finished: 6 completed" in table
    assert "3 batches, 1 refused" in table
    assert (workdir / "artifacts" / "groups" / group_id / "index.html").is_file()


# --- prune ---------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def store_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The CLI's environment for each backend (the SQLite file is the default one)."""
    if request.param == "sqlite":
        return {}
    return {"BATCH_STORE_URL": str(request.getfixturevalue("pg_url"))}


@pytest.fixture
async def batches(workdir: Path, store_env: dict[str, str]) -> list[str]:
    """Two batches (the second with a failed row) run by a scripted runner, their reports
    and a fat evidence file written, more than a second old: oldest first."""
    config = {
        "base_dir": workdir,
        "artifacts_dir": workdir / "artifacts",
        "retry_delay": 0,
        "store_url": store_env.get("BATCH_STORE_URL"),
    }
    settings = load_settings(config, read_env=False)
    made = []
    for script in (None, {0: [fail(ErrorCategory.BUSINESS)]}):
        runner = ScriptedRunner(script)
        with BatchEngine(RunContext(settings=settings), runner_factory=runner.bind) as engine:
            manifest = engine.create_batch_jobs(workdir / "two.csv", "add_customer.yaml")
            await engine.execute_batch_jobs(manifest.batch_id)
            evidence = engine.batch_dir(manifest.batch_id) / "evidence.png"
            evidence.write_bytes(b"x" * 200_000)
        made.append(manifest.batch_id)
    time.sleep(1.1)  # noqa: ASYNC251 - `--older-than 1s` must see them as old
    return made


def prune(workdir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return batchwright("prune", "--older-than", "1s", *args, cwd=workdir, env=env)


def test_prune_dry_run_then_prune(
    workdir: Path, batches: list[str], store_env: dict[str, str]
) -> None:
    dry = prune(workdir, store_env, "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    planned = json.loads(dry.stdout)
    assert planned["dry_run"] is True
    assert [(b["batch_id"], b["kind"]) for b in planned["removed"]] == [
        (batches[0], "finished"),
        (batches[1], "failed"),
    ]
    assert planned["bytes_freed"] > 400_000
    assert all((workdir / "artifacts" / b).is_dir() for b in batches)
    kept = prune(workdir, store_env, "--keep-failed")
    assert kept.returncode == 0, kept.stderr
    assert f"removed {batches[0]} (finished" in kept.stdout
    assert "1 batch(es) and 0 group(s) removed" in kept.stdout
    assert "KB freed" in kept.stdout
    rest = json.loads(batchwright("list", "--json", cwd=workdir, env=store_env).stdout)
    assert [b["batch_id"] for b in rest] == [batches[1]]
    assert not (workdir / "artifacts" / batches[0]).exists()


def test_prune_refuses_a_bad_age_with_exit_2_and_no_traceback(
    workdir: Path, store_env: dict[str, str]
) -> None:
    refused = batchwright("prune", "--older-than", "30 days", cwd=workdir, env=store_env)
    assert refused.returncode == 2
    assert "--older-than '30 days'" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_prune_killed_between_rows_and_folder_leaves_a_readable_store(
    workdir: Path, batches: list[str], store_env: dict[str, str]
) -> None:
    first, second = batches
    process = subprocess.Popen(
        [sys.executable, "-m", "batch", "prune", "--older-than", "1s"],
        cwd=workdir,
        env=cli_env() | store_env | {"BATCHWRIGHT_TEST_PRUNE_PAUSE_S": "60"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == f"rows of {first} deleted", line + process.stderr.read()
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    # the store holds the second batch whole; the first is gone, its folder left behind
    listing = batchwright("list", "--json", cwd=workdir, env=store_env)
    assert listing.returncode == 0, listing.stderr
    assert [b["batch_id"] for b in json.loads(listing.stdout)] == [second]
    gone = batchwright("status", first, cwd=workdir, env=store_env)
    assert gone.returncode == 2
    assert f"no batch '{first}'" in gone.stderr
    status = batchwright("status", second, "--json", cwd=workdir, env=store_env)
    assert json.loads(status.stdout)["total"] == 2
    assert batchwright("report", second, cwd=workdir, env=store_env).returncode == 0
    assert (workdir / "artifacts" / first / "evidence.png").is_file()
    # the next prune removes the leftover folder with the rest
    again = json.loads(prune(workdir, store_env, "--json").stdout)
    assert [b["batch_id"] for b in again["removed"]] == [second]
    assert again["leftover_folders"] == [first]
    assert again["bytes_freed"] > 400_000
    assert sorted(p.name for p in (workdir / "artifacts").iterdir() if p.is_dir()) == []


@pytest.fixture
async def group(workdir: Path, store_env: dict[str, str]) -> tuple[str, list[str]]:
    """A group of two batches run by a scripted runner, its reports written, more than
    a second old: its id and its batches'."""
    config = {
        "base_dir": workdir,
        "artifacts_dir": workdir / "artifacts",
        "store_url": store_env.get("BATCH_STORE_URL"),
    }
    settings = load_settings(config, read_env=False)
    (workdir / "exports").mkdir()
    for name in ("a.csv", "b.csv"):
        shutil.copy(workdir / "two.csv", workdir / "exports" / name)
    runner = ScriptedRunner()
    with BatchEngine(RunContext(settings=settings), runner_factory=runner.bind) as engine:
        made = engine.create_batch_group("exports", "add_customer.yaml")
        await engine.execute_group(made.group_id)
    time.sleep(1.1)  # noqa: ASYNC251 - `--older-than 1s` must see them as old
    return made.group_id, made.batch_ids


def test_a_prune_killed_midway_leaves_a_group_readable_and_the_next_one_removes_it(
    workdir: Path, group: tuple[str, list[str]], store_env: dict[str, str]
) -> None:
    group_id, (first, second) = group
    process = subprocess.Popen(
        [sys.executable, "-m", "batch", "prune", "--older-than", "1s"],
        cwd=workdir,
        env=cli_env() | store_env | {"BATCHWRIGHT_TEST_PRUNE_PAUSE_S": "60"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == f"rows of {first} deleted", line + process.stderr.read()
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    listing = batchwright("list", "--json", cwd=workdir, env=store_env)
    assert listing.returncode == 0, listing.stderr
    assert [(b["batch_id"], b["group_id"]) for b in json.loads(listing.stdout)] == [
        (second, group_id)
    ]
    status = batchwright("status", group_id, "--json", cwd=workdir, env=store_env)
    assert status.returncode == 0, status.stderr
    summary = json.loads(status.stdout)
    assert ([b["batch_id"] for b in summary["batches"]], summary["pruned"]) == ([second], [first])
    table = batchwright("status", group_id, cwd=workdir, env=store_env)
    assert table.returncode == 0, table.stderr
    assert f"{first}" in table.stdout
    assert "pruned" in table.stdout
    report = batchwright("report", group_id, cwd=workdir, env=store_env)
    assert report.returncode == 0, report.stderr
    index = workdir / "artifacts" / "groups" / group_id / "index.html"
    assert f'<ul id="pruned"><li><code>{first}</code></li></ul>' in index.read_text()

    again = prune(workdir, store_env, "--json")
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert [b["batch_id"] for b in result["removed"]] == [second]
    assert [g["group_id"] for g in result["removed_groups"]] == [group_id]
    assert result["leftover_folders"] == [first]
    assert not (workdir / "artifacts" / "groups" / group_id).exists()
    gone = batchwright("status", group_id, cwd=workdir, env=store_env)
    assert gone.returncode == 2
    assert group_id in gone.stderr


def test_prune_prints_the_groups_it_removes(
    workdir: Path, group: tuple[str, list[str]], store_env: dict[str, str]
) -> None:
    group_id, _ = group
    dry = prune(workdir, store_env, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would remove group {group_id}" in dry.stdout
    assert "2 batch(es) and 1 group(s) would remove" in dry.stdout
    assert (workdir / "artifacts" / "groups" / group_id / "index.html").is_file()
    done = prune(workdir, store_env)
    assert f"removed group {group_id}" in done.stdout
    assert "2 batch(es) and 1 group(s) removed" in done.stdout
    assert list((workdir / "artifacts" / "groups").iterdir()) == []
