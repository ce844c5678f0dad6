"""The artifact cap's count: the bytes in the batch's evidence folder, whoever wrote them."""

from __future__ import annotations

from pathlib import Path

from runtime.evidence.budget import EvidenceBudget, folder_bytes


def test_folder_bytes_counts_every_file_below_and_a_missing_folder_as_zero(
    tmp_path: Path,
) -> None:
    assert folder_bytes(tmp_path / "jobs") == 0
    (tmp_path / "jobs" / "000001-a").mkdir(parents=True)
    (tmp_path / "jobs" / "000001-a" / "x.png").write_bytes(b"x" * 1000)
    (tmp_path / "jobs" / "y.log").write_bytes(b"y" * 24)
    assert folder_bytes(tmp_path / "jobs") == 1024


def test_the_budget_refuses_once_the_folder_holds_the_cap(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    budget = EvidenceBudget(jobs, max_mb=1 / 1024)  # 1 KiB
    (jobs / "a").write_bytes(b"a" * 1023)
    assert budget.refusal() == ""
    (jobs / "b").write_bytes(b"b")  # written by another worker: counted all the same
    assert "artifact cap is reached" in budget.refusal()
    assert EvidenceBudget(jobs, max_mb=0).refusal() == "", "0: no cap"
