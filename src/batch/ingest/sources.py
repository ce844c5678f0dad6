"""The CSV files of one run: files, directories and glob patterns, in a fixed order.

``run a.csv data/ 'more/*.csv'`` makes one batch per file. A directory gives its
``*.csv`` files (not its subdirectories'), a pattern its matching files, each sorted
by name; the sources keep the order they were given and a file named twice is taken
once. Every location passes the path guard (``security.check_location``) before it
is listed, and every file passes all the CSV checks again when its batch is made.
A source that cannot be read, or that gives no file, is refused by name instead of
stopping the others.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from batch.exceptions import BatchEngineError, FileProcessingError
from batch.ingest.security import check_location
from batch.models import RefusedFile
from batch.settings import BatchSettings

__all__ = ["CsvSources", "expand_sources", "is_pattern"]

_PATTERN_CHARS = frozenset("*?[")


def is_pattern(source: str | Path) -> bool:
    """Whether ``source`` is a glob pattern rather than a path."""
    return any(char in _PATTERN_CHARS for char in str(source))


@dataclass
class CsvSources:
    """The files to make batches of, in order, and the sources refused already."""

    files: list[Path] = field(default_factory=list)
    refused: list[RefusedFile] = field(default_factory=list)


def expand_sources(sources: Sequence[str | Path], settings: BatchSettings) -> CsvSources:
    """The files of ``sources`` (relative ones taken from ``base_dir``)."""
    found = CsvSources()
    seen: set[Path] = set()
    for source in sources:
        try:
            files = _files_of(str(source), settings)
        except BatchEngineError as exc:
            found.refused.append(RefusedFile(path=str(source), error=str(exc)))
            continue
        except (OSError, ValueError) as exc:  # a name too long, bad bytes: the OS refuses it
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            error = f"cannot read this path ({type(exc).__name__}: {reason})"
            found.refused.append(RefusedFile(path=str(source), error=error))
            continue
        for given, resolved in files:
            if resolved not in seen:
                seen.add(resolved)
                found.files.append(given)
    return found


def _files_of(source: str, settings: BatchSettings) -> list[tuple[Path, Path]]:
    """``(path as named, resolved path)`` of each file ``source`` stands for."""
    if is_pattern(source):
        return _matches(source, settings)
    resolved = check_location(source, settings)
    if not resolved.is_dir():
        return [(Path(source), resolved)]  # a file: its batch's CSV checks judge it
    files = sorted(
        entry for entry in resolved.iterdir() if entry.suffix.lower() == ".csv" and entry.is_file()
    )
    if not files:
        raise FileProcessingError(f"no .csv file in this directory (resolved to {resolved})")
    return [(Path(source) / entry.name, entry.resolve()) for entry in files]


def _matches(pattern: str, settings: BatchSettings) -> list[tuple[Path, Path]]:
    names = sorted(glob.glob(pattern, root_dir=settings.base_dir))
    files = [
        (Path(name), check_location(name, settings))
        for name in names
        if (settings.base_dir / name).is_file()
    ]
    if not files:
        raise FileProcessingError(f"no file matches this pattern (from {settings.base_dir})")
    return files
