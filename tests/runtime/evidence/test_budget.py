"""The artifact cap's count: the bytes in the batch's evidence folder, whoever wrote them."""

from __future__ import annotations

from pathlib import Path

from runtime.evidence.budget import REWALK_S, EvidenceBudget, folder_bytes


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


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
    clock = Clock()
    budget = EvidenceBudget(jobs, max_mb=1 / 1024, clock=clock)  # 1 KiB
    (jobs / "a").write_bytes(b"a" * 1000)
    assert budget.refusal() == ""
    budget.wrote(23)  # this process's own writes count at once
    assert budget.refusal() == ""
    (jobs / "b").write_bytes(b"b" * 24)  # another worker's: seen at the next walk
    assert budget.refusal() == ""
    clock.now += REWALK_S
    assert "artifact cap is reached" in budget.refusal()
    assert EvidenceBudget(jobs, max_mb=0).refusal() == "", "0: no cap"


def test_this_process_counts_what_it_writes_between_walks(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    clock = Clock()
    budget = EvidenceBudget(jobs, max_mb=1 / 1024, clock=clock)
    assert budget.refusal() == ""
    EvidenceBudget(jobs, max_mb=1 / 1024, clock=clock).wrote(1024)  # another attempt's
    assert "artifact cap is reached" in budget.refusal()
