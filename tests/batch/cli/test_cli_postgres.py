"""The command with ``BATCH_STORE_URL`` on PostgreSQL: a run on one "machine" (working
directory), ``list`` and ``status`` from another; the URL's password never printed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .test_cli import BATCH_ID, EXAMPLES, batchwright

SECRET = "s3cr3t-Pa55"


@pytest.mark.browser
def test_run_on_one_machine_status_from_another(pg_url: str, tmp_path: Path, site_url: str) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    for machine in (here, there):
        machine.mkdir()
    shutil.copy(EXAMPLES / "customers.csv", here)
    shutil.copy(EXAMPLES / "add_customer.yaml", here)
    env = {"BATCH_STORE_URL": pg_url.replace("postgres@", f"postgres:{SECRET}@")}

    result = batchwright(
        "run", "customers.csv", "--flow", "add_customer.yaml", "--base-url", site_url,
        cwd=here, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    found = BATCH_ID.search(result.stdout)
    assert found
    assert not (here / "artifacts" / "batchwright.db").exists()

    listing = batchwright("list", cwd=there, env=env)
    assert found.group() in listing.stdout
    status = batchwright("status", found.group(), cwd=there, env=env)
    assert status.returncode == 0, status.stderr
    assert "100.0%" in status.stdout
    for done in (result, listing, status):
        assert SECRET not in done.stdout + done.stderr


def test_an_unreachable_store_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    env = {"BATCH_STORE_URL": f"postgresql://bw:{SECRET}@127.0.0.1:1/batches"}
    result = batchwright("list", cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "postgresql://bw:***@127.0.0.1:1/batches" in result.stderr
    assert SECRET not in result.stdout + result.stderr
