"""The ``batchwright`` commands called in this process (as a service or a test would):
every engine a command builds has its store closed when the command ends, whether it
succeeded or failed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from paths import EXAMPLES
from typer.testing import CliRunner

from batch.cli.app import app
from batch.engine import BatchEngine
from batch.exceptions import StoreError
from batch.settings import load_settings
from batch.store import ManifestStore
from runtime.run_context import RunContext


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[ManifestStore]:
    """Every manifest store opened while the test runs (the real stores, only listed)."""
    stores: list[ManifestStore] = []
    real_init = ManifestStore.__init__

    def listed(self: ManifestStore, path: Path) -> None:
        real_init(self, path)
        stores.append(self)

    monkeypatch.setattr(ManifestStore, "__init__", listed)
    return stores


@pytest.fixture
def batch_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A batch created (nothing run) in tmp_path, the commands' working directory."""
    for name in ("customers.csv", "add_customer.yaml"):
        shutil.copy(EXAMPLES / name, tmp_path)
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("BATCH_"):
            monkeypatch.delenv(name)
    settings = load_settings(
        {"base_dir": tmp_path, "artifacts_dir": tmp_path / "artifacts"}, read_env=False
    )
    engine = BatchEngine(RunContext(settings=settings))
    manifest = engine.create_batch_jobs("customers.csv", "add_customer.yaml")
    engine.close()
    return manifest.batch_id


def is_closed(store: ManifestStore) -> bool:
    try:
        store.list_batches()
    except StoreError as exc:
        return "is closed" in str(exc)
    return False


@pytest.mark.parametrize(
    ("args", "exit_code"),
    [
        (["list"], 0),
        (["status", "{batch}"], 0),
        (["status", "20990101-000000-abcdef"], 2),
        (["cancel", "{batch}"], 0),
        (["review", "{batch}"], 0),
        (["review", "{batch}", "--mark", "completed", "--job", "no-such-job"], 2),
        (["report", "{batch}", "--format", "json"], 0),
        (["report", "{batch}", "--format", "pdf"], 2),
        (["preview", "customers.csv", "--flow", "add_customer.yaml"], 0),
        (["preview", "missing.csv"], 2),
        (["resume", "20990101-000000-abcdef"], 2),
        (["retry", "20990101-000000-abcdef"], 2),
        (["run", "missing.csv", "--flow", "add_customer.yaml"], 2),
    ],
)
def test_every_command_closes_its_store_on_success_and_on_error(
    batch_id: str, opened: list[ManifestStore], args: list[str], exit_code: int
) -> None:
    result = CliRunner().invoke(app, [arg.format(batch=batch_id) for arg in args])
    assert result.exit_code == exit_code, result.output
    assert opened, "the command opened the store"
    assert all(is_closed(store) for store in opened), f"{args[0]} left its store open"
