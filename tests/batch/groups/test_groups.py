"""Groups through the Python API: a directory of CSVs becomes one batch per file,
run together on one browser and one concurrency budget, reported together."""

from __future__ import annotations

import json
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest
from paths import EXAMPLES

from batch import BatchEngine, GroupSummary, start_batch_group
from batch.exceptions import BatchNotFoundError
from batch.models import BatchStatus, JobStatus
from runtime.runners.fake import ScriptedRunner, ok

FLOW = EXAMPLES / "add_customer.yaml"
HEADER = "name,email,plan,notes\n"


def write_exports(folder: Path, files: dict[str, list[str]]) -> None:
    """One CSV per name; each email is ``<file>-<n>@example.com``, unique across files."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, emails in files.items():
        rows = "".join(f"{email.split('@')[0]},{email},pro,\n" for email in emails)
        (folder / name).write_text(HEADER + rows, encoding="utf-8")


def emails(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{n}@example.com" for n in range(count)]


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs += [value for name, value in attrs if tag == "a" and name == "href" and value]


def links_of(page: Path) -> list[str]:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.hrefs


@pytest.mark.browser
async def test_a_directory_runs_as_one_group_with_an_index_report(
    make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    write_exports(
        tmp_path / "exports",
        {"a.csv": emails("a", 2), "b.csv": emails("b", 3), "c.csv": ["bad-address"]},
    )
    (tmp_path / "exports" / "refused.csv").write_text("only,wrong\n1,2\n", encoding="utf-8")
    engine = make_engine(flow=FLOW, concurrency=2)

    group = engine.create_batch_group("exports")
    summary = await engine.execute_group(group.group_id)

    assert [r.path for r in group.refused] == ["exports/refused.csv"]
    assert "name" in group.refused[0].error  # the flow's column missing from that file
    assert [Path(b.csv_path).name for b in summary.batches] == ["a.csv", "b.csv", "c.csv"]
    assert all(b.status is BatchStatus.FINISHED for b in summary.batches)
    assert (summary.total, summary.count(JobStatus.COMPLETED)) == (6, 5)
    assert summary.count(JobStatus.FAILED) == 1
    assert summary.has_failures
    assert all("(shared by the group)" in b.concurrency for b in summary.batches)

    index = engine.settings.artifacts_dir / "groups" / group.group_id / "index.html"
    hrefs = links_of(index)
    assert len(hrefs) == 3
    for href in hrefs:
        assert (index.parent / href).resolve().is_file(), href
    document = json.loads((index.parent / "group.json").read_text(encoding="utf-8"))
    assert document["counts"]["completed"] == 5
    assert document["refused"] == [r.model_dump() for r in group.refused]
    assert [b["total"] for b in document["batches"]] == [2, 3, 1]
    assert engine.get_group_summary(group.group_id).to_dict() == document


async def test_the_group_shares_one_concurrency_budget(
    make_engine: Callable[..., BatchEngine], tmp_path: Path
) -> None:
    write_exports(tmp_path / "in", {f"{n}.csv": emails(str(n), 4) for n in range(3)})
    runner = ScriptedRunner(default=[ok(delay_s=0.02)])
    engine = make_engine(flow=FLOW, concurrency=3)
    engine.runner_factory = runner.bind

    group = engine.create_batch_group(["in/*.csv"])
    summary = await engine.execute_group(group.group_id)

    assert summary.count(JobStatus.COMPLETED) == 12
    assert runner.peak == 3, "three batches of three workers, one budget of three"


@pytest.mark.browser
async def test_start_batch_group_runs_and_returns_the_summary(
    site_url: str, tmp_path: Path
) -> None:
    write_exports(tmp_path / "in", {"x.csv": emails("x", 1), "y.csv": emails("y", 1)})
    config = {"base_dir": tmp_path, "artifacts_dir": tmp_path / "artifacts"}
    summary = await start_batch_group(
        [tmp_path / "in" / "y.csv", tmp_path / "in" / "x.csv"],
        FLOW,
        config=config | {"base_url": site_url, "concurrency": 2},
    )

    assert isinstance(summary, GroupSummary)
    assert [Path(b.csv_path).name for b in summary.batches] == ["y.csv", "x.csv"]
    assert summary.count(JobStatus.COMPLETED) == 2
    assert not summary.has_failures


def test_an_unknown_group_is_named_in_the_error(make_engine: Callable[..., BatchEngine]) -> None:
    engine = make_engine(flow=FLOW)
    with pytest.raises(BatchNotFoundError, match="no group 'group-nope'"):
        engine.get_group_summary("group-nope")
    assert engine.store.find_group("group-nope") is None
