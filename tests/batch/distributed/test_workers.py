"""Batches on two real worker processes: every row once, whatever is delivered twice
or whichever worker dies."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from workers_cluster import Cluster, worker_env

from batch.models import BatchStatus, JobStatus
from batch.store import ManifestStore

pytestmark = pytest.mark.browser

ROWS = 30

FLOW = """\
name: add-customer-slowly
key: [email]
idempotent: false
steps:
  - goto: "{{ base_url }}/slow?ms=%(ms)d"
  - goto: "{{ base_url }}/customers/new"
  - fill: { selector: "#name", value: "{{ row.name }}" }
  - fill: { label: "Email", value: "{{ row.email }}" }
  - select: { selector: "#plan", value: "pro" }
  - check: "#terms"
  - click: { role: button, name: "Save customer" }
    commit: true
  - expect_text: { selector: ".flash", text: "Saved {{ row.name }}" }
"""


def write_batch(directory: Path, rows: int, *, ms: int = 100, tag: str = "") -> tuple[Path, Path]:
    data = directory / f"customers{tag}.csv"
    with data.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "email"])
        for n in range(rows):
            writer.writerow([f"Customer {tag}{n}", f"c{tag}{n}@example.com"])
    flow = directory / f"flow{tag}.yaml"
    flow.write_text(FLOW % {"ms": ms}, encoding="utf-8")
    return data, flow


def run_cli(cluster: Cluster, *args: str) -> list[str]:
    return [sys.executable, "-m", "batch", "--artifacts", str(cluster.artifacts), *args]


def submitted_emails(site: Any) -> Counter[str]:
    with site.state.lock:
        return Counter(record["email"] for record in site.state.customers)


def batch_id_of(output: str) -> str:
    return output.split("batch ", 1)[1].split(":", 1)[0].strip()


def test_a_batch_on_two_workers_each_entered_once_one_report(
    workers: Cluster, site: Any, site_url: str, tmp_path: Path
) -> None:
    data, flow = write_batch(tmp_path, ROWS)
    result = subprocess.run(
        run_cli(workers, "run", str(data), "--flow", str(flow), "--workers",
                "--base-url", site_url, "--progress", "lines"),
        cwd=tmp_path, env=worker_env(workers.redis_url), capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    submitted = submitted_emails(site)
    assert len(submitted) == ROWS
    assert set(submitted.values()) == {1}, "a row was entered twice"
    batch_id = batch_id_of(result.stdout)
    with ManifestStore(workers.artifacts / "batchwright.db") as store:
        jobs = list(store.iter_jobs(batch_id))
        assert store.get_manifest(batch_id).status is BatchStatus.FINISHED
    assert [job.status for job in jobs] == [JobStatus.COMPLETED] * ROWS
    assert [len(job.attempts) for job in jobs] == [1] * ROWS
    report = json.loads((workers.artifacts / batch_id / "summary.json").read_text())
    assert report["counts"]["completed"] == ROWS, "one merged report of both workers' rows"
    assert "concurrency" in report
