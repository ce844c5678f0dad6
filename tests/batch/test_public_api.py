"""The public API's surface without a browser: exports, mapping-style results, the
retry call's bookkeeping and the manifest with its jobs."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from paths import EXAMPLES, REPO

import batch
from batch.engine import BatchEngine
from batch.exceptions import ConfigurationError

FLOW = EXAMPLES / "add_customer.yaml"


def test_every_name_in_all_is_exported() -> None:
    assert {"BatchEngine", "start_batch", "BatchSummary", "BatchSettings"} <= set(batch.__all__)
    missing = [name for name in batch.__all__ if not hasattr(batch, name)]
    assert missing == []


@pytest.mark.parametrize("package", ["batch", "runtime"])
def test_packages_are_marked_typed(package: str) -> None:
    assert (REPO / "src" / package / "py.typed").is_file()


@pytest.fixture
def engine(make_engine: Callable[..., BatchEngine]) -> BatchEngine:
    return make_engine(flow=FLOW)


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    """The demo CSV inside the engine's base directory."""
    return Path(shutil.copy(EXAMPLES / "customers.csv", tmp_path / "customers.csv"))


def test_summary_reads_like_a_mapping_of_counts(engine: BatchEngine, csv: Path) -> None:
    batch_id = engine.create_batch_jobs(csv).batch_id
    summary = engine.get_batch_summary(batch_id)

    assert (summary["pending"], summary["total"], summary["completed"]) == (8, 8, 0)
    assert (summary.total_jobs, summary.completed_jobs, summary.failed_jobs) == (8, 0, 0)
    with pytest.raises(KeyError, match=r"'done'.*completed, failed.*total"):
        summary["done"]


def test_retry_records_its_policy_at_once(engine: BatchEngine, csv: Path) -> None:
    batch_id = engine.create_batch_jobs(csv).batch_id

    request = engine.retry_batch_jobs(batch_id, max_retries=5, retry_delay=2.0)

    assert (request["requeued"], request["pending"]) == (0, 8)
    assert engine.get_manifest(batch_id).settings["retry_policy"] == {
        "max_retries": 5,
        "retry_delay": 2.0,
        "backoff_factor": engine.settings.backoff_factor,
    }
    with pytest.raises(KeyError, match="requeued"):
        request["retried"]


def test_an_invalid_retry_policy_is_refused_before_anything_changes(
    engine: BatchEngine, csv: Path
) -> None:
    batch_id = engine.create_batch_jobs(csv).batch_id

    with pytest.raises(ConfigurationError, match=re.escape("setting 'backoff_factor' = 0.5")):
        engine.retry_batch_jobs(batch_id, backoff_factor=0.5)
    assert "retry_policy" not in engine.get_manifest(batch_id).settings


def test_manifest_loads_its_jobs_only_on_request(engine: BatchEngine, csv: Path) -> None:
    manifest = engine.create_batch_jobs(csv)

    assert engine.get_manifest(manifest.batch_id).jobs is None
    loaded = engine._load_manifest_by_batch_id(manifest.batch_id)
    assert loaded.jobs is not None
    assert [job.row_index for job in loaded.jobs] == list(range(8))
    assert "jobs" not in loaded.model_dump(), "never written with the manifest"
