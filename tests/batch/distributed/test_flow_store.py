"""A batch's flow as the store records it: a worker loads it without the flow file,
and refuses a flow it cannot import or whose code differs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from paths import EXAMPLES, FLOWS
from workers_cluster import worker_env

from batch.distributed.flow_store import FlowCache, flow_from_record, flow_record
from batch.engine import BatchEngine
from batch.models import BatchStatus
from batch.settings import load_settings
from runtime.errors import ConfigurationError
from runtime.flows.model import load_flow
from runtime.run_context import RunContext


def local_engine(tmp_path: Path) -> BatchEngine:
    settings = load_settings(
        {"base_dir": tmp_path, "artifacts_dir": tmp_path / "a"}, read_env=False
    )
    return BatchEngine(RunContext(settings))


def test_a_yaml_flow_is_recorded_at_creation_and_loads_without_its_file(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "customers.csv", tmp_path)
    flow_file = tmp_path / "add_customer.yaml"
    shutil.copy(EXAMPLES / "add_customer.yaml", flow_file)
    settings = load_settings(
        {"base_dir": tmp_path, "artifacts_dir": tmp_path / "a"}, read_env=False
    )
    engine = BatchEngine(RunContext(settings))
    manifest = engine.create_batch_jobs(tmp_path / "customers.csv", flow_file)
    engine.close()
    original = load_flow(flow_file)
    flow_file.unlink()  # a worker machine has no flow file
    loaded = FlowCache(tmp_path / "cache").get(manifest.batch_id, manifest.settings)
    assert manifest.settings["flow"]["kind"] == "declarative"
    assert loaded.steps == original.steps
    assert (loaded.name, loaded.idempotent, loaded.key) == ("add-customer", False, ("email",))


def test_a_tampered_record_is_refused(tmp_path: Path) -> None:
    record = flow_record(load_flow(EXAMPLES / "add_customer.yaml"))
    record["text"] = record["text"].replace("Save customer", "Delete customer")
    with pytest.raises(ConfigurationError, match="does not match its sha256"):
        flow_from_record(record, tmp_path)


def test_a_python_file_flow_loads_from_its_recorded_copy(tmp_path: Path) -> None:
    source = tmp_path / "my_flow.py"
    source.write_text("async def run(page, row, ctx):\n    return {'seen': row['x']}\n")
    record = flow_record(load_flow(source))
    source.unlink()
    flow = flow_from_record(record, tmp_path / "cache")
    assert flow.python is not None
    assert Path(flow.python.source).parent == tmp_path / "cache"


def test_a_module_flow_whose_source_differs_on_the_worker_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(FLOWS))
    record = flow_record(load_flow("batchwright_test_flows:add_customer"))
    assert record["kind"] == "module"
    assert record["sha256"]
    assert flow_from_record(record, tmp_path).name == "batchwright_test_flows:add_customer"
    record["sha256"] = "0" * 64
    with pytest.raises(ConfigurationError, match="differs from the module"):
        flow_from_record(record, tmp_path)


def test_a_worker_that_cannot_import_a_running_batchs_flow_says_so_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(FLOWS))
    shutil.copy(EXAMPLES / "customers.csv", tmp_path)
    settings = load_settings(
        {"base_dir": tmp_path, "artifacts_dir": tmp_path / "a"}, read_env=False
    )
    engine = BatchEngine(RunContext(settings))
    manifest = engine.create_batch_jobs(
        tmp_path / "customers.csv", "batchwright_test_flows:add_customer"
    )
    engine.store.set_batch_status(manifest.batch_id, BatchStatus.RUNNING)
    engine.close()
    env = worker_env("redis://127.0.0.1:1/0")  # never reached: the check comes first
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [sys.executable, "-m", "batch", "--artifacts", str(tmp_path / "a"), "worker"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert f"cannot run batch {manifest.batch_id}" in result.stderr
    assert "batchwright_test_flows" in result.stderr


def test_a_worker_without_a_broker_is_a_clear_error(tmp_path: Path) -> None:
    env = worker_env("redis://unused")
    env.pop("BATCH_BROKER_URL")
    result = subprocess.run(
        [sys.executable, "-m", "batch", "--artifacts", str(tmp_path), "worker"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "BATCH_BROKER_URL" in result.stderr
