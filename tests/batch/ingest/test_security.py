"""The CSV gate against real files, links, FIFOs and binaries in a temporary directory."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from batch.exceptions import FileProcessingError, SecurityError
from batch.ingest.security import check_csv_file, check_csv_path
from batch.settings import BatchSettings

MakeSettings = Callable[..., BatchSettings]
CSV = b"name,email\nBob,bob@example.org\n"


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.csv"
    path.write_bytes(CSV)
    return path


def test_relative_path_is_taken_from_base_dir(settings: BatchSettings, csv_file: Path) -> None:
    assert check_csv_file("data.csv", settings) == csv_file.resolve()


@pytest.mark.parametrize("name", ["with space.csv", "ünïcødé €.csv", "-leading-dash.csv"])
def test_odd_names_inside_base_dir_are_accepted(
    settings: BatchSettings, tmp_path: Path, name: str
) -> None:
    (tmp_path / name).write_bytes(CSV)
    assert check_csv_file(name, settings) == (tmp_path / name).resolve()


def test_dot_dot_staying_inside_base_dir_is_accepted(
    settings: BatchSettings, csv_file: Path
) -> None:
    (csv_file.parent / "sub").mkdir()
    assert check_csv_path("sub/../data.csv", settings) == csv_file.resolve()


def test_dot_dot_escaping_base_dir_is_refused(make_settings: MakeSettings, tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (tmp_path / "outside.csv").write_bytes(CSV)
    with pytest.raises(SecurityError, match=r"outside the base directory") as info:
        check_csv_path("../outside.csv", make_settings(base_dir=base))
    assert "'../outside.csv'" in str(info.value)
    assert "BATCH_ALLOW_PATH_TRAVERSAL=true" in str(info.value)


def test_absolute_path_outside_base_dir_needs_traversal_allowed(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    base = tmp_path / "base"
    base.mkdir()
    outside = tmp_path / "outside.csv"
    outside.write_bytes(CSV)
    with pytest.raises(SecurityError, match="outside the base directory"):
        check_csv_file(outside, make_settings(base_dir=base))
    allowed = make_settings(base_dir=base, allow_path_traversal=True)
    assert check_csv_file(outside, allowed) == outside.resolve()


def test_symlink_pointing_out_of_base_dir_is_refused(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (tmp_path / "secret.csv").write_bytes(CSV)
    (base / "innocent.csv").symlink_to(tmp_path / "secret.csv")
    with pytest.raises(SecurityError, match=r"resolves to .*secret\.csv, outside"):
        check_csv_file("innocent.csv", make_settings(base_dir=base))


def test_nul_in_path_is_refused(settings: BatchSettings, csv_file: Path) -> None:
    with pytest.raises(SecurityError, match="contains a NUL character"):
        check_csv_path("data.csv\x00../../etc/passwd", settings)


def test_symlink_inside_base_dir_is_followed(settings: BatchSettings, csv_file: Path) -> None:
    (csv_file.parent / "link.csv").symlink_to(csv_file)
    assert check_csv_file("link.csv", settings) == csv_file.resolve()


@pytest.mark.parametrize("path", ["/etc/passwd", "/proc/self/environ", "/dev/null", "/sys/kernel"])
def test_sensitive_paths_are_refused_even_with_traversal_allowed(
    make_settings: MakeSettings, path: str
) -> None:
    with pytest.raises(SecurityError, match="sensitive location") as info:
        check_csv_file(path, make_settings(allow_path_traversal=True))
    assert path in str(info.value)


def test_symlink_to_sensitive_file_is_refused(make_settings: MakeSettings, tmp_path: Path) -> None:
    (tmp_path / "users.csv").symlink_to("/etc/passwd")
    with pytest.raises(SecurityError, match=r"resolves to /etc/passwd, inside the sensitive"):
        check_csv_file("users.csv", make_settings(allow_path_traversal=True))


def test_credentials_in_home_are_refused(make_settings: MakeSettings) -> None:
    path = Path("~/.ssh/known_hosts.csv").expanduser()
    with pytest.raises(SecurityError, match=r"\.ssh"):
        check_csv_path(path, make_settings(allow_path_traversal=True))


def test_fifo_is_refused_without_blocking(settings: BatchSettings, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.csv")
    with pytest.raises(SecurityError, match=r"a FIFO \(named pipe\), not a regular file"):
        check_csv_file("pipe.csv", settings)


def test_directory_is_refused(settings: BatchSettings, tmp_path: Path) -> None:
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(SecurityError, match="a directory, not a regular file"):
        check_csv_file("folder.csv", settings)


def test_missing_file_is_a_clear_error(settings: BatchSettings, tmp_path: Path) -> None:
    with pytest.raises(FileProcessingError, match=r"missing\.csv: no such file") as info:
        check_csv_file("missing.csv", settings)
    assert str(tmp_path) in str(info.value)


def test_file_over_the_size_limit_is_refused(make_settings: MakeSettings, tmp_path: Path) -> None:
    (tmp_path / "big.csv").write_bytes(b"a,b\n" + b"1,2\n" * 1000)
    with pytest.raises(SecurityError, match=r"4,004 bytes, over the limit of 1,048 bytes") as info:
        check_csv_file("big.csv", make_settings(max_file_size_mb=0.001))
    assert "BATCH_MAX_FILE_SIZE_MB" in str(info.value)


def test_empty_file_is_a_processing_error(settings: BatchSettings, tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(FileProcessingError, match=r"empty\.csv: empty file"):
        check_csv_file("empty.csv", settings)


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.csv", CSV)
    return buffer.getvalue()


def _elf_bytes() -> bytes:
    true = shutil.which("true")
    assert true is not None
    return Path(true).read_bytes()[:8192]


@pytest.mark.parametrize(
    ("content", "detected"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(32), "image/png"),
        (_zip_bytes(), "application/zip"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "application/pdf"),
        (_elf_bytes(), "application/x-"),
        (gzip.compress(CSV), "application/gzip"),
    ],
    ids=["png", "zip", "pdf", "elf", "gzip"],
)
def test_binary_renamed_csv_is_refused(
    settings: BatchSettings, tmp_path: Path, content: bytes, detected: str
) -> None:
    (tmp_path / "spoof.csv").write_bytes(content)
    with pytest.raises(SecurityError, match=f"its content is {detected}.*, not text"):
        check_csv_file("spoof.csv", settings)


@pytest.mark.parametrize(
    "content",
    [
        CSV,
        b"a;b\n1;2\n",
        b"a\tb\n1\t2\n",
        b"name\nBob\n",
        b"\xef\xbb\xbfa,b\n1,2\n",
        "a,b\n\u00e9,\u20ac\n".encode("utf-16"),
        b"\xfe\xff" + "a,b\n1,2\n".encode("utf-16-be"),
        "a,b\n\u00e9,\u20ac\n".encode("cp1252"),
        b"a,b\n1,\x002\n",
    ],
    ids=[
        "comma",
        "semicolon",
        "tab",
        "one-column",
        "utf8-bom",
        "utf16le",
        "utf16be",
        "cp1252",
        "nul",
    ],
)
def test_text_csvs_pass_the_gate(settings: BatchSettings, tmp_path: Path, content: bytes) -> None:
    (tmp_path / "ok.csv").write_bytes(content)
    assert check_csv_file("ok.csv", settings) == (tmp_path / "ok.csv").resolve()
