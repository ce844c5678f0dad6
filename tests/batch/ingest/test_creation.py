"""Creating a batch: a refusal (duplicate keys) leaves nothing in the store, not even
for a moment, whatever kills the process. Real SQLite, a real subprocess."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from batch.exceptions import FileProcessingError
from batch.ingest.creation import create_batch
from batch.settings import BatchSettings
from batch.store import ManifestStore, default_store_path
from runtime.flows.model import load_flow

FLOW = 'name: signup\nkey: [email]\nsteps:\n  - goto: "{{ base_url }}/"\n'
ROWS = "name,email\nA,a@example.com\nB,b@example.com\nA again,a@example.com\n"

# Runs in a child process: every committed write transaction is followed at once by
# the process's death (os._exit skips every cleanup, like kill -9). A refusal that
# commits the batch and deletes it in a second transaction dies between the two.
CRASH_AFTER_EACH_COMMIT = textwrap.dedent(
    """
    import os, sys
    from contextlib import contextmanager
    from pathlib import Path

    from batch.ingest.creation import create_batch
    from batch.store import ManifestStore, default_store_path
    from runtime.flows.model import load_flow
    from batch.settings import load_settings

    committing = ManifestStore._tx

    @contextmanager
    def dying_after_commit(self, *, write=True):
        with committing(self, write=write) as conn:
            yield conn
        if write:
            os._exit(9)

    ManifestStore._tx = dying_after_commit
    root = Path(sys.argv[1])
    settings = load_settings(
        {"base_dir": root, "artifacts_dir": root / "artifacts"}, read_env=False
    )
    store = ManifestStore(default_store_path(settings.artifacts_dir))
    flow = load_flow(root / "flow.yaml", base_dir=root)
    create_batch(root / "rows.csv", flow, settings, store, run_id="crash")
    """
)


def write_inputs(root: Path) -> None:
    (root / "flow.yaml").write_text(FLOW, encoding="utf-8")
    (root / "rows.csv").write_text(ROWS, encoding="utf-8")


def rows_in(database: Path) -> tuple[int, int]:
    """(batches, jobs) as a second connection sees them."""
    with sqlite3.connect(database) as conn:
        batches = conn.execute("SELECT COUNT(*) FROM batches").fetchone()[0]
        jobs = conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
    return int(batches), int(jobs)


def test_a_refused_batch_leaves_no_batch_and_no_jobs(
    settings: BatchSettings, tmp_path: Path
) -> None:
    write_inputs(tmp_path)
    flow = load_flow(tmp_path / "flow.yaml", base_dir=tmp_path)
    with ManifestStore.for_settings(settings) as store:
        with pytest.raises(FileProcessingError, match=r"same email.*lines 2 and 4"):
            create_batch(tmp_path / "rows.csv", flow, settings, store, run_id="r")
        assert store.list_batches() == []
    assert rows_in(default_store_path(settings.artifacts_dir)) == (0, 0)
    assert not (settings.artifacts_dir / "manifest.json").exists()


def test_a_crash_during_the_refusal_leaves_no_runnable_batch(tmp_path: Path) -> None:
    """The insert and the refusal are one transaction: there is no moment at which a
    committed batch with duplicate rows exists, so no crash can leave one behind."""
    write_inputs(tmp_path)
    child = subprocess.run(
        [sys.executable, "-c", CRASH_AFTER_EACH_COMMIT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode != 9, "the process committed a batch it then refused"
    assert "would be entered twice" in child.stderr, child.stderr
    assert rows_in(default_store_path(tmp_path / "artifacts")) == (0, 0)
