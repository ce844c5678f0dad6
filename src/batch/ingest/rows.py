"""The raw rows of a CSV file for the reader: each failure located (file, line,
column), and the field size limit enforced by each reader on its own, so readers in
different threads (the service's uploads) never see each other's limits.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from batch.exceptions import FileProcessingError
from batch.models import CsvDialect
from batch.settings import BatchSettings

__all__ = ["CsvRows"]

_CSV_CEILING = 2**31 - 1
"""The csv module's field limit is process-wide, so it is raised once, on import, out of
every reader's way (to the most a C long holds on every platform) and never touched
again: each reader enforces its own ``max_field_size_kb``, whatever other threads read."""
if csv.field_size_limit() < _CSV_CEILING:
    csv.field_size_limit(_CSV_CEILING)


class _RecordTooLong(Exception):
    """Raised by ``_Lines`` inside ``csv.reader``: the record outgrew its budget."""


class _Lines:
    """The file's physical lines for ``csv.reader``, counting the characters of the
    current record. A record longer than its fields could be (each within the limit,
    quotes doubled) is refused as it is read, so an unclosed quote swallowing the rest
    of the file costs a bounded read, not the file's size in memory."""

    def __init__(self, handle: TextIO, delimiter: str, limit: int) -> None:
        self._lines = iter(handle)
        self._delimiter = delimiter
        self._field_budget = 2 * limit + 3  # quoted, every quote doubled, a delimiter
        self.width = 0
        """Fields per row (the header's); 0 until known: the first line's count then."""
        self._budget = 0
        self._taken = 0

    def new_record(self) -> None:
        self._taken = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        if not self._taken:
            width = self.width or line.count(self._delimiter) + 1
            self._budget = self._field_budget * width
        self._taken += len(line)
        if self._taken > self._budget:
            raise _RecordTooLong
        return line


class CsvRows:
    """``csv.reader`` over the file, turning its failures into located errors.

    ``start`` and ``line`` are the first and last physical line of the row just read.
    Set ``columns`` once the header is known: errors then name the column.
    """

    def __init__(
        self, path: Path, encoding: str, dialect: CsvDialect, settings: BatchSettings
    ) -> None:
        self._path = path
        self._encoding = encoding
        self._handle = path.open(encoding=encoding, newline="")
        self._limit = settings.max_field_size_kb * 1024
        self._lines = _Lines(self._handle, dialect.delimiter, self._limit)
        self._reader = csv.reader(
            self._lines,
            delimiter=dialect.delimiter,
            quotechar=dialect.quotechar,
            doublequote=dialect.doublequote,
        )
        self._columns: tuple[str, ...] = ()
        self.start = 0
        self.line = 0

    @property
    def columns(self) -> tuple[str, ...]:
        return self._columns

    @columns.setter
    def columns(self, names: tuple[str, ...]) -> None:
        self._columns = names
        self._lines.width = len(names)

    def __enter__(self) -> CsvRows:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._handle.close()

    def __iter__(self) -> Iterator[list[str]]:
        return self

    def __next__(self) -> list[str]:
        self.start = self.line + 1
        self._lines.new_record()
        try:
            row = next(self._reader)
        except _RecordTooLong:
            raise self._too_long(None) from None
        except csv.Error as exc:
            raise self._error(exc) from None
        except UnicodeError as exc:
            reason = exc.reason if isinstance(exc, UnicodeDecodeError) else str(exc)
            raise FileProcessingError(
                f"cannot be decoded as {self._encoding} near here ({reason}); "
                "the file may have changed since it was inspected",
                path=self._path,
                line=self.start,
            ) from None
        self.line = self._reader.line_num
        if row and max(map(len, row)) > self._limit:
            raise self._too_long(row)
        if "\x00" in "".join(row):
            raise FileProcessingError(
                "contains a NUL byte",
                path=self._path,
                line=self.start,
                hint="the file is probably binary or corrupt; re-export it as text CSV",
            )
        return row

    def _too_long(self, row: list[str] | None) -> FileProcessingError:
        """A field over the limit (``row`` read whole), or a row outgrowing what its
        fields could hold (``None``: most likely an unclosed quote)."""
        limit = f"the limit of {self._limit // 1024} KiB"
        column = None
        if row is None:
            message = f"the row runs past what its fields can hold: a field is longer than {limit}"
        else:
            index = next(n for n, value in enumerate(row) if len(value) > self._limit)
            if index < len(self._columns):
                column = self._columns[index]
                message = f"a field is longer than {limit}"
            else:
                message = f"field {index + 1} is longer than {limit}"
        return FileProcessingError(
            message,
            path=self._path,
            line=self.start,
            column=column,
            hint="check for an unclosed quote, or raise max_field_size_kb "
            "(BATCH_MAX_FIELD_SIZE_KB)",
        )

    def _error(self, exc: csv.Error) -> FileProcessingError:
        if "field limit" in str(exc):  # a limit above the ceiling: the csv module's own
            return self._too_long(None)
        return FileProcessingError(f"malformed CSV ({exc})", path=self._path, line=self.start)
