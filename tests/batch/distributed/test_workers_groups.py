"""A group on two real worker processes: every file's rows sent, each entered once,
one exit code and the group's index report."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from workers_cluster import Cluster, run_cli, submitted_emails, worker_env, write_batch

from batch.engine import BatchEngine
from batch.settings import load_settings
from runtime.run_context import RunContext

pytestmark = pytest.mark.browser


def test_a_directory_on_the_workers_runs_every_file_once(
    workers: Cluster, site: Any, site_url: str, tmp_path: Path
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    _, flow = write_batch(exports, 6, tag="a")
    write_batch(exports, 4, tag="b")
    flow = flow.rename(tmp_path / "flow.yaml")
    for other in exports.glob("*.yaml"):
        other.unlink()

    result = subprocess.run(
        run_cli(workers, "run", str(exports), "--flow", str(flow), "--workers",
                "--base-url", site_url, "--progress", "lines"),
        cwd=tmp_path, env=worker_env(workers.redis_url), capture_output=True, text=True,
        timeout=180, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    submitted = submitted_emails(site)
    assert len(submitted) == 10
    assert set(submitted.values()) == {1}, "a row was entered twice"
    found = re.search(r"group-\d{8}-\d{6}-[0-9a-f]{6}", result.stdout)
    assert found, result.stdout
    folder = workers.artifacts / "groups" / found.group()
    document = json.loads((folder / "group.json").read_text(encoding="utf-8"))
    assert [b["total"] for b in document["batches"]] == [6, 4]
    assert document["counts"]["completed"] == 10
    assert document["status"] == "finished"
    assert (folder / "index.html").is_file()


def test_resume_group_on_the_workers_runs_what_every_batch_left(
    workers: Cluster, site: Any, site_url: str, tmp_path: Path
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    _, flow = write_batch(exports, 3, tag="c")
    write_batch(exports, 2, tag="d")
    flow = flow.rename(tmp_path / "flow.yaml")
    for other in exports.glob("*.yaml"):
        other.unlink()
    config = {"artifacts_dir": workers.artifacts, "base_dir": tmp_path, "base_url": site_url}
    settings = load_settings(config, read_env=False)
    with BatchEngine(RunContext(settings=settings)) as engine:  # created, never run
        group_id = engine.create_batch_group(exports, flow).group_id

    result = subprocess.run(
        run_cli(workers, "resume", group_id, "--progress", "lines"),
        cwd=tmp_path, env=worker_env(workers.redis_url), capture_output=True, text=True,
        timeout=180, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert "rows of 2 batches sent to the workers" in result.stderr
    assert f"group {group_id}: 5/5 completed" in result.stdout
    submitted = submitted_emails(site)
    assert (len(submitted), set(submitted.values())) == (5, {1})
