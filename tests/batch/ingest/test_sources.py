"""CSV sources of one run: files, directories and patterns in a fixed order, each
location through the path guard, refused sources named instead of stopping the rest."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from batch.ingest.sources import expand_sources, is_pattern
from batch.settings import BatchSettings


@pytest.fixture
def settings(make_settings: Callable[..., BatchSettings]) -> BatchSettings:
    return make_settings()


def _write(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text("a\n1\n", encoding="utf-8")


def test_a_directory_gives_its_csv_files_sorted_and_nothing_else(
    settings: BatchSettings, tmp_path: Path
) -> None:
    _write(tmp_path / "in", "b.csv", "a.csv", "C.CSV", "notes.txt")
    _write(tmp_path / "in" / "sub", "deep.csv")

    found = expand_sources(["in"], settings)

    assert [p.as_posix() for p in found.files] == ["in/C.CSV", "in/a.csv", "in/b.csv"]
    assert found.refused == []


def test_sources_keep_their_order_and_a_file_named_twice_is_taken_once(
    settings: BatchSettings, tmp_path: Path
) -> None:
    _write(tmp_path / "in", "a.csv", "b.csv")
    _write(tmp_path, "z.csv")

    found = expand_sources(["z.csv", "in/*.csv", "in/a.csv", str(tmp_path / "in")], settings)

    assert [p.as_posix() for p in found.files] == ["z.csv", "in/a.csv", "in/b.csv"]


def test_a_directory_outside_base_dir_is_refused_by_the_path_guard(
    settings: BatchSettings, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    _write(outside, "x.csv")
    _write(tmp_path, "ok.csv")

    found = expand_sources([str(outside), "ok.csv", "/etc"], settings)

    assert [p.as_posix() for p in found.files] == ["ok.csv"]
    assert [r.path for r in found.refused] == [str(outside), "/etc"]
    assert "outside the base directory" in found.refused[0].error
    assert "sensitive location" in found.refused[1].error


@pytest.mark.parametrize(("source", "expected"), [("empty", "no .csv file"), ("*.tsv", "no file")])
def test_a_source_that_gives_no_file_is_refused_by_name(
    settings: BatchSettings, tmp_path: Path, source: str, expected: str
) -> None:
    (tmp_path / "empty").mkdir()

    found = expand_sources([source], settings)

    assert found.files == []
    assert [r.path for r in found.refused] == [source]
    assert expected in found.refused[0].error


def test_a_named_file_is_left_to_the_csv_checks(settings: BatchSettings) -> None:
    found = expand_sources(["missing.csv"], settings)
    assert [p.as_posix() for p in found.files] == ["missing.csv"]


@pytest.mark.parametrize(
    ("text", "pattern"), [("a/*.csv", True), ("x?.csv", True), ("a.csv", False)]
)
def test_is_pattern(text: str, pattern: bool) -> None:
    assert is_pattern(text) is pattern


def test_a_path_the_os_refuses_is_refused_by_name(settings: BatchSettings, tmp_path: Path) -> None:
    _write(tmp_path / "in", "a.csv")
    too_long = "x" * 300  # longer than any file name the OS allows

    found = expand_sources([too_long, "in"], settings)

    assert [p.as_posix() for p in found.files] == ["in/a.csv"]
    assert [r.path for r in found.refused] == [too_long]
    assert "cannot read this path (OSError" in found.refused[0].error
