"""A batch upload (``multipart/form-data``) parsed as it streams.

Each file part goes to disk chunk by chunk under the upload's own directory (in the
artifacts dir), counted as it comes: the ``csv`` part is refused with 413 the moment
it passes ``max_file_size_mb``, so no upload is ever held whole in memory. Text parts
(the options) are small and bounded. Everything received is hashed, for
``Idempotency-Key``: the same request twice has the same hash. A group's upload sends
the ``csv`` part several times (``repeated``); each is bounded on its own.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from batch.service.problems import Problem

if TYPE_CHECKING:  # a TypedDict the module defines for type checkers only
    from python_multipart.multipart import MultipartCallbacks

__all__ = ["FILE_FIELDS", "SavedFile", "Upload", "read_upload"]

FILE_FIELDS = frozenset({"csv", "flow"})
_MAX_FIELD_BYTES = 64 * 1024
_MAX_FLOW_BYTES = 1024 * 1024
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class SavedFile:
    path: Path
    filename: str
    """The client's file name (its last component), for messages."""
    size: int


@dataclass
class Upload:
    fields: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, SavedFile] = field(default_factory=dict)
    """The first file of each file field."""
    every: dict[str, list[SavedFile]] = field(default_factory=dict)
    """Every file of each file field, in the order sent (a ``repeated`` one: several)."""
    sha256: str = ""


class _Receiver:
    """The parser's callbacks: headers of each part, then its data."""

    def __init__(self, directory: Path, max_csv_bytes: int, repeated: frozenset[str]) -> None:
        self.directory = directory
        self.max_csv_bytes = max_csv_bytes
        self.repeated = repeated
        self.upload = Upload()
        self.problem: Problem | None = None
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[str, bytes] = {}
        self._name = ""
        self._filename: str | None = None
        self._text = bytearray()
        self._file: IO[bytes] | None = None
        self._size = 0
        self._digest = hashlib.sha256()
        self.parts: list[str] = []
        """A hash per part (its name and content): the request's, whatever the
        boundary or the parts' order."""

    # the parser's callbacks ---------------------------------------------------------
    def on_part_begin(self) -> None:
        self._headers, self._text, self._size = {}, bytearray(), 0
        self._digest = hashlib.sha256()
        self._name, self._filename = "", None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_field.decode("latin-1").lower()] = self._header_value
        self._header_field = self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        raw = options.get(b"filename")
        self._digest.update(self._name.encode() + b"\0")
        self._filename = None if raw is None else raw.decode("utf-8", "replace")
        if self._name in FILE_FIELDS:
            sent = len(self.upload.every.get(self._name, []))
            if sent and self._name not in self.repeated:
                self._fail(
                    Problem(422, detail=f"the {self._name} file was sent twice", field=self._name)
                )
                return
            safe = _SAFE_NAME.sub("_", Path(self._filename or self._name).name)[:100] or self._name
            stem = f"{self._name}-{sent}" if self._name in self.repeated else self._name
            self._file = (self.directory / f"{stem}-{safe}").open("xb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.problem is not None:
            return
        chunk = data[start:end]
        self._size += len(chunk)
        self._digest.update(chunk)
        if self._file is not None:
            limit = self.max_csv_bytes if self._name == "csv" else _MAX_FLOW_BYTES
            if self._size > limit:
                self._fail(_too_large(self._name, limit))
                return
            self._file.write(chunk)
        elif self._size > _MAX_FIELD_BYTES:
            self._fail(_too_large(self._name or "a form field", _MAX_FIELD_BYTES))
        else:
            self._text += chunk

    def on_part_end(self) -> None:
        if self.problem is not None:
            return
        self.parts.append(self._digest.hexdigest())
        if self._file is not None:
            self._file.close()
            path = Path(self._file.name)
            self._file = None
            filename = Path(self._filename or "").name or self._name
            saved = SavedFile(path, filename, self._size)
            self.upload.files.setdefault(self._name, saved)
            self.upload.every.setdefault(self._name, []).append(saved)
        elif self._name:
            try:
                value = self._text.decode("utf-8")
            except UnicodeDecodeError:
                self._fail(Problem(422, detail=f"{self._name}: not UTF-8 text", field=self._name))
                return
            self.upload.fields.setdefault(self._name, []).append(value)

    # ------------------------------------------------------------------------------
    def _fail(self, problem: Problem) -> None:
        if self.problem is None:
            self.problem = problem
        self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _too_large(name: str, limit: int) -> Problem:
    return Problem(
        413,
        detail=f"{name} is over the limit of {limit} bytes"
        + (" (max_file_size_mb)" if name == "csv" else ""),
        field=name,
    )


async def read_upload(
    content_type: str,
    body: AsyncIterator[bytes],
    directory: Path,
    max_csv_bytes: int,
    *,
    repeated: frozenset[str] = frozenset(),
) -> Upload:
    """Parse a multipart body into ``directory``; a ``Problem`` (400/413/422) on bad input,
    raised as soon as it is known (the rest of the body is not read). The file fields
    of ``repeated`` may come more than once; any other twice is a 422."""
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise Problem(400, detail="multipart/form-data needs a boundary", field="Content-Type")
    receiver = _Receiver(directory, max_csv_bytes, repeated)
    parser = MultipartParser(boundary, _callbacks(receiver))
    try:
        async for chunk in body:
            parser.write(chunk)
            if receiver.problem is not None:
                raise receiver.problem
        parser.finalize()
    except MultipartParseError:
        raise Problem(400, detail="the multipart body is malformed", field="body") from None
    finally:
        receiver.close()
    if receiver.problem is not None:
        raise receiver.problem
    receiver.upload.sha256 = hashlib.sha256("".join(sorted(receiver.parts)).encode()).hexdigest()
    return receiver.upload


def _callbacks(receiver: _Receiver) -> MultipartCallbacks:
    return {  # type: ignore[return-value]  # the TypedDict's keys, built by name
        name: getattr(receiver, name)
        for name in (
            "on_part_begin",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
            "on_part_end",
        )
    }
