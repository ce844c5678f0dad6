"""Reading a CSV the way its author wrote it: encoding, delimiter and headers
detected once (``inspect_csv``), then rows streamed one at a time
(``iter_records``) so memory stays flat whatever the file size.

Every problem is a ``FileProcessingError`` naming the file, the physical line
(1-based, the header being line 1) and, where it helps, the column. A row is
never dropped silently: a malformed row either fails the file or comes out as a
``CsvRecord`` carrying its ``problem``.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from batch.exceptions import ConfigurationError, FileProcessingError
from batch.ingest.rows import CsvRows
from batch.ingest.security import check_csv_file
from batch.models import CsvDialect
from batch.settings import BadRowPolicy, BatchSettings

__all__ = [
    "DELIMITERS",
    "CsvInfo",
    "CsvRecord",
    "detect_dialect",
    "detect_encoding",
    "inspect_csv",
    "iter_chunks",
    "iter_records",
    "parse_csv",
]

DELIMITERS = (",", ";", "\t", "|")
"""Candidates, in order of preference when they score the same."""

_READ_BLOCK = 1 << 20
_SAMPLE_CHARS = 64 * 1024
_CP1252_UNDEFINED = tuple(bytes([b]) for b in (0x81, 0x8D, 0x8F, 0x90, 0x9D))
_UTF16_BOMS = {codecs.BOM_UTF16_LE: "utf-16-le", codecs.BOM_UTF16_BE: "utf-16-be"}
_AUTO_ENCODINGS = frozenset({"utf-8", "utf-8-sig"})

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CsvInfo:
    """What ``inspect_csv`` found: enough to read the rows and to record how."""

    path: Path
    size_bytes: int
    sha256: str
    encoding: str
    """Codec used to read the file, e.g. ``utf-8``, ``utf-8-sig``, ``utf-16``, ``cp1252``."""
    dialect: CsvDialect
    headers: tuple[str, ...]
    header_line_count: int
    """Physical lines up to and including the header row (blank lines and quoted newlines count)."""


@dataclass(frozen=True, slots=True)
class CsvRecord:
    """One data row. ``problem`` is set (and ``data`` partial) for a malformed row."""

    row_index: int
    """0-based position among the data rows (skipped empty rows not counted)."""
    line: int
    """1-based physical line where the row starts."""
    data: dict[str, str] | None
    problem: str | None = None


# --- encoding ------------------------------------------------------------------


def _codec_name(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise ConfigurationError(
            f"setting 'encoding' = {encoding!r}: unknown encoding; use a Python codec name "
            "such as utf-8, utf-16 or cp1252 (BATCH_ENCODING)"
        ) from None


class _Validator:
    """Decodes a byte stream incrementally only to learn whether, and where, it fails."""

    def __init__(self, codec: str, plain_codec: str) -> None:
        # ``plain_codec`` has no BOM handling (a BOM decodes as U+FEFF), so error
        # offsets are offsets in the bytes fed, and line counts stay exact.
        self.codec = codec
        self._plain_codec = plain_codec
        self._decoder = codecs.getincrementaldecoder(plain_codec)()
        self.lines = 1
        self.error: tuple[int, UnicodeError] | None = None

    def feed(self, block: bytes, *, final: bool = False) -> None:
        if self.error is not None:
            return
        pending: bytes = getattr(self._decoder, "buffer", b"")
        try:
            self.lines += self._decoder.decode(block, final).count("\n")
        except UnicodeDecodeError as exc:
            good = (pending + block)[: exc.start]
            line = self.lines + good.decode(self._plain_codec, "replace").count("\n")
            self.error = (line, exc)
        except UnicodeError as exc:  # e.g. utf-16 asked for, but the file has no BOM
            self.error = (self.lines, exc)


def detect_encoding(path: Path, settings: BatchSettings) -> tuple[str, str]:
    """Return ``(codec, sha256)`` from one streaming pass over the file.

    With the default ``encoding`` (utf-8): a UTF-16 BOM means utf-16, a UTF-8 BOM
    utf-8-sig; a file that is not valid UTF-8 is legacy, read as cp1252 unless it
    holds bytes cp1252 leaves undefined, then latin-1 (which decodes anything).
    Any other ``encoding`` is used as given, and must decode the whole file.
    """
    expected = _codec_name(settings.encoding)
    digest = hashlib.sha256()
    validator: _Validator | None = None
    cp1252_ok = True
    with path.open("rb") as handle:
        while block := handle.read(_READ_BLOCK):
            if validator is None:
                validator = _validator_for(block, expected)
            digest.update(block)
            validator.feed(block)
            cp1252_ok = cp1252_ok and not any(b in block for b in _CP1252_UNDEFINED)
    if validator is None:
        raise FileProcessingError("empty file", path=path, hint="a CSV needs at least a header row")
    validator.feed(b"", final=True)
    if validator.error is None:
        return validator.codec, digest.hexdigest()
    line, exc = validator.error
    if validator.codec == "utf-8" and expected in _AUTO_ENCODINGS:
        return ("cp1252" if cp1252_ok else "latin-1"), digest.hexdigest()
    why = (
        f"{exc.reason}, byte 0x{exc.object[exc.start]:02x}"
        if isinstance(exc, UnicodeDecodeError)
        else str(exc)
    )
    raise FileProcessingError(
        f"cannot be decoded as {validator.codec} ({why})",
        path=path,
        line=line,
        hint="save the file as UTF-8, or set encoding (BATCH_ENCODING) to the file's encoding",
    )


def _validator_for(head: bytes, expected: str) -> _Validator:
    if expected not in _AUTO_ENCODINGS:
        return _Validator(expected, expected)
    for bom, plain in _UTF16_BOMS.items():
        if head.startswith(bom):
            return _Validator("utf-16", plain)
    if head.startswith(codecs.BOM_UTF8):
        return _Validator("utf-8-sig", "utf-8")
    return _Validator("utf-8", "utf-8")


# --- dialect -------------------------------------------------------------------


def _sample_rows(sample: str, delimiter: str, truncated: bool) -> list[list[str]]:
    rows: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter):
            if row:
                rows.append(row)
    except csv.Error:
        truncated = True  # keep what parsed before the error
    return rows[:-1] if truncated and len(rows) > 1 else rows


def detect_dialect(sample: str, fallback: str, *, truncated: bool = False) -> CsvDialect:
    """Pick the delimiter that splits the sample into the most consistent rows.

    Each candidate is parsed with ``csv.reader``: it must give the header more
    than one field; the winner has the most rows as wide as the header, then the
    widest header, then the earliest place in ``DELIMITERS``. None qualifying (a
    one-column file) means ``fallback``. ``truncated`` says the sample stops
    mid-file, so its last row may be cut short.
    """
    best: tuple[float, int, int] | None = None
    chosen = fallback
    for preference, delimiter in enumerate(DELIMITERS):
        rows = _sample_rows(sample, delimiter, truncated)
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        consistency = sum(len(row) == width for row in rows) / len(rows)
        score = (consistency, width, -preference)
        if best is None or score > best:
            best, chosen = score, delimiter
    terminator = "\r\n" if "\r\n" in sample else "\n"
    return CsvDialect(delimiter=chosen, lineterminator=terminator)


# --- headers -------------------------------------------------------------------


def _read_header(reader: Iterator[list[str]], path: Path) -> list[str]:
    for row in reader:
        if row:  # leading blank lines are not the header
            return row
    raise FileProcessingError(
        "no header row: the file holds only blank lines",
        path=path,
        hint="the first line must name the columns",
    )


def _header_names(raw: list[str], path: Path, line: int, validate: bool) -> tuple[str, ...]:
    names = [name.strip() for name in raw]
    if names:
        names[0] = names[0].lstrip("\ufeff").strip()
    hint = "or set validate_headers=false (BATCH_VALIDATE_HEADERS=false) to have names generated"
    seen: dict[str, int] = {}
    result: list[str] = []
    for position, given in enumerate(names, start=1):
        name = given
        if not name:
            if validate:
                raise FileProcessingError(
                    f"column {position} has a blank header name",
                    path=path,
                    line=line,
                    hint=f"give every column a name, {hint} (column_{position})",
                )
            name = f"column_{position}"
        if name in seen:
            if validate:
                raise FileProcessingError(
                    f"duplicate header name in columns {seen[name]} and {position}",
                    path=path,
                    line=line,
                    column=name,
                    hint=f"make the header names unique, {hint}",
                )
            name = _unique(name, seen)
        seen[name] = position
        result.append(name)
    return tuple(result)


def _unique(name: str, taken: dict[str, int]) -> str:
    suffix = 2
    while f"{name}_{suffix}" in taken:
        suffix += 1
    return f"{name}_{suffix}"


# --- reading -------------------------------------------------------------------


def inspect_csv(path: Path, settings: BatchSettings) -> CsvInfo:
    """Detect encoding, checksum, dialect and headers of an already checked file."""
    size = path.stat().st_size
    encoding, sha256 = detect_encoding(path, settings)
    with path.open(encoding=encoding, newline="") as text:
        sample = text.read(_SAMPLE_CHARS)
        truncated = bool(text.read(1))
    dialect = detect_dialect(sample, settings.delimiter_fallback, truncated=truncated)
    with CsvRows(path, encoding, dialect, settings) as rows:
        raw = _read_header(rows, path)
        headers = _header_names(raw, path, rows.line, settings.validate_headers)
        header_lines = rows.line
    return CsvInfo(path, size, sha256, encoding, dialect, headers, header_lines)


def _is_blank(row: list[str]) -> bool:
    return not "".join(row).strip()


def _records(info: CsvInfo, settings: BatchSettings, bad_rows: BadRowPolicy) -> Iterator[CsvRecord]:
    width = len(info.headers)
    with CsvRows(info.path, info.encoding, info.dialect, settings) as rows:
        _read_header(rows, info.path)
        rows.columns = info.headers
        index = 0
        for row in rows:
            if settings.skip_empty_rows and _is_blank(row):
                continue
            fields = row or [""]  # a blank line kept as data is one empty field
            if len(fields) == width:
                yield CsvRecord(index, rows.start, dict(zip(info.headers, fields, strict=True)))
            else:
                problem = f"expected {width} fields, found {len(fields)}"
                if bad_rows == "fail":
                    raise FileProcessingError(
                        problem,
                        path=info.path,
                        line=rows.start,
                        hint="fix the row (quote values holding the delimiter), or set "
                        "bad_rows=skip (BATCH_BAD_ROWS=skip) to keep it as a skipped job",
                    )
                partial = dict(zip(info.headers, fields, strict=False))
                yield CsvRecord(index, rows.start, partial, problem)
            index += 1


def iter_records(info: CsvInfo, settings: BatchSettings) -> Iterator[CsvRecord]:
    """Stream the data rows of an inspected file, one ``CsvRecord`` at a time.

    Rows with the wrong number of fields raise ``FileProcessingError`` when
    ``bad_rows`` is ``fail``; with ``skip`` they come out with ``problem`` set.
    """
    return _records(info, settings, settings.bad_rows)


def iter_chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Group ``items`` into lists of ``size`` (the last may be shorter)."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, got {size}")
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def parse_csv(path: str | Path, settings: BatchSettings) -> list[dict[str, str]]:
    """Check, inspect and read a small CSV whole; any malformed row is an error."""
    info = inspect_csv(check_csv_file(path, settings), settings)
    return [record.data or {} for record in _records(info, settings, "fail")]
