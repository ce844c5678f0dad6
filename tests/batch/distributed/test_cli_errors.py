"""Worker options used wrongly: one clear line, exit 2, and no batch left behind."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from paths import EXAMPLES
from workers_cluster import worker_env


def batchwright(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = worker_env("redis://unused")
    env.pop("BATCH_BROKER_URL")
    return subprocess.run(
        [sys.executable, "-m", "batch", "--artifacts", str(tmp_path / "a"), *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--workers"], "--workers needs a broker: set BATCH_BROKER_URL"),
        (["--detach"], "--detach and --priority apply to --workers runs only"),
        (["--priority", "high"], "--detach and --priority apply to --workers runs only"),
    ],
)
def test_worker_options_without_a_broker(tmp_path: Path, flags: list[str], message: str) -> None:
    shutil.copy(EXAMPLES / "customers.csv", tmp_path)
    shutil.copy(EXAMPLES / "add_customer.yaml", tmp_path)
    result = batchwright(tmp_path, "run", "customers.csv", "--flow", "add_customer.yaml", *flags)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "batch " not in result.stdout, "refused before creating the batch"
