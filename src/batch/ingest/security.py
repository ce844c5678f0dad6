"""The gate every CSV passes before a byte of it is parsed: where it is, what it
is, how big it is and what it contains.

A batch turns file contents into browser actions, so a path given on a command
line or through the API must not become a way to read ``/etc/shadow``, a
Kubernetes token or a FIFO that blocks forever. The checks run on the resolved
path (symlinks and ``..`` followed), so a link cannot smuggle a file past them.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import magic

from batch.exceptions import FileProcessingError, SecurityError
from batch.settings import BatchSettings

__all__ = [
    "MIME_SAMPLE_BYTES",
    "SENSITIVE_DIRS",
    "check_csv_file",
    "check_csv_path",
    "check_csv_size",
    "check_csv_type",
    "check_location",
]

MIME_SAMPLE_BYTES = 8192
"""How much of the file libmagic looks at."""

SENSITIVE_DIRS: tuple[str, ...] = (
    "/etc",
    "/proc",
    "/sys",
    "/dev",
    "/boot",
    "/run/secrets",
    "/var/run/secrets",
    "/var/lib/kubelet",
    "/root/.ssh",
    "/root/.aws",
    "/root/.gnupg",
    "/root/.kube",
    "/root/.docker",
    "~/.ssh",
    "~/.aws",
    "~/.gnupg",
    "~/.kube",
    "~/.docker",
    "~/.azure",
    "~/.config/gcloud",
)
"""Refused even with ``allow_path_traversal``: system and credential locations."""

_TEXT_MIME_TYPES = frozenset({"application/csv", "application/x-csv"})
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_TRAVERSAL_HINT = (
    "move the file under base_dir, point base_dir at its folder, or set "
    "allow_path_traversal=true (BATCH_ALLOW_PATH_TRAVERSAL=true) to read outside base_dir"
)


def _sensitive_roots() -> list[Path]:
    # Resolved too: /var/run is a symlink to /run on most systems.
    roots: list[Path] = []
    for entry in SENSITIVE_DIRS:
        path = Path(entry).expanduser()
        roots.extend({Path(os.path.normpath(path)), path.resolve()})
    return roots


def _sensitive_root(*candidates: Path) -> Path | None:
    roots = _sensitive_roots()
    for candidate in candidates:
        for root in roots:
            if candidate.is_relative_to(root):
                return root
    return None


def check_location(path: str | Path, settings: BatchSettings) -> Path:
    """Resolve ``path`` (relative to ``base_dir``) and refuse a location that must not
    be read: sensitive ones, and those outside ``base_dir`` (unless allowed). Returns
    the resolved path, which may not exist. Directories of CSVs pass here too."""
    if "\x00" in str(path):
        raise SecurityError(f"refused CSV path {str(path)!r}: it contains a NUL character")
    given = Path(path).expanduser()
    absolute = Path(os.path.normpath(settings.base_dir / given))
    resolved = absolute.resolve()
    root = _sensitive_root(absolute, resolved)
    if root is not None:
        raise SecurityError(
            f"refused CSV path {str(path)!r}: it resolves to {resolved}, inside the "
            f"sensitive location {root}, which is never read (even with "
            "allow_path_traversal); copy the data to a CSV in your working folder"
        )
    if not settings.allow_path_traversal and not resolved.is_relative_to(settings.base_dir):
        raise SecurityError(
            f"refused CSV path {str(path)!r}: it resolves to {resolved}, outside the base "
            f"directory {settings.base_dir}; {_TRAVERSAL_HINT}"
        )
    return resolved


def check_csv_path(path: str | Path, settings: BatchSettings) -> Path:
    """Resolve ``path`` (relative to ``base_dir``) and refuse what must not be read.

    Returns the resolved path of an existing regular file. Raises ``SecurityError``
    for sensitive locations, paths outside ``base_dir`` and non-regular files, and
    ``FileProcessingError`` when nothing exists there.
    """
    resolved = check_location(path, settings)
    try:
        mode = resolved.stat().st_mode
    except FileNotFoundError:
        raise FileProcessingError(
            f"no such file (resolved to {resolved})",
            path=path,
            hint=f"check the path; relative paths are taken from base_dir {settings.base_dir}",
        ) from None
    if not stat.S_ISREG(mode):
        raise SecurityError(
            f"refused CSV path {str(path)!r}: {resolved} is {_describe(mode)}, not a regular "
            "file; give the path of a .csv file"
        )
    return resolved


def _describe(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((text for test, text in kinds if test(mode)), "not a regular file")


def check_csv_size(path: Path, settings: BatchSettings) -> int:
    """Refuse a file over ``max_file_size_mb`` or empty, from its size alone; return the size."""
    size = path.stat().st_size
    limit = settings.max_file_size_bytes
    if size > limit:
        raise SecurityError(
            f"refused CSV {path}: it is {size:,} bytes, over the limit of {limit:,} bytes "
            f"(max_file_size_mb={settings.max_file_size_mb:g}); split the file, or raise "
            "max_file_size_mb (BATCH_MAX_FILE_SIZE_MB)"
        )
    if size == 0:
        raise FileProcessingError("empty file", path=path, hint="a CSV needs at least a header row")
    return size


def _read_head(path: Path) -> bytes:
    # O_NONBLOCK: should the file have been swapped for a FIFO since the path
    # check, opening it must not hang; fstat then refuses it.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise SecurityError(f"refused CSV {path}: it is no longer a regular file")
        return handle.read(MIME_SAMPLE_BYTES)


def _is_text_mime(mime: str) -> bool:
    return mime.startswith("text/") or mime in _TEXT_MIME_TYPES


def _is_utf16_text(head: bytes) -> bool:
    # libmagic may call BOM-marked UTF-16 "application/octet-stream".
    if not head.startswith(_UTF16_BOMS):
        return False
    try:
        head[: len(head) // 2 * 2].decode("utf-16")
    except UnicodeDecodeError:
        return False
    return True


def _is_text_with_nul(mime: str, head: bytes) -> bool:
    # A text file with a stray NUL reads as octet-stream: let it through so the
    # CSV reader can report the NUL with its line number.
    if mime != "application/octet-stream" or b"\x00" not in head:
        return False
    return _is_text_mime(str(magic.from_buffer(head.replace(b"\x00", b""), mime=True)))


def check_csv_type(path: Path) -> str:
    """Refuse a file whose content is not text (a PNG, ZIP, PDF, ... renamed .csv).

    ``path`` is one ``check_csv_path`` returned (resolved: a symlink is not followed
    here). Returns the MIME type libmagic detected on the first ``MIME_SAMPLE_BYTES``.
    """
    head = _read_head(path)
    mime = str(magic.from_buffer(head, mime=True))
    if _is_text_mime(mime) or _is_utf16_text(head) or _is_text_with_nul(mime, head):
        return mime
    raise SecurityError(
        f"refused CSV {path}: its content is {mime}, not text; a CSV must be a text file "
        "(export it as CSV, UTF-8) rather than a renamed binary"
    )


def check_csv_file(path: str | Path, settings: BatchSettings) -> Path:
    """All the checks, cheapest first: path, size, then content type. Returns the resolved path."""
    resolved = check_csv_path(path, settings)
    check_csv_size(resolved, settings)
    check_csv_type(resolved)
    return resolved
