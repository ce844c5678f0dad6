"""The artifact cap (``max_artifacts_mb``): how much evidence a batch may write.

The bytes are counted in the batch's ``jobs/`` folder itself, so the cap holds when
several engines or workers write into one batch folder. Walking a large folder costs
(about 0.2 s for 6,000 files on a busy machine), so a process walks it at most every
``REWALK_S`` seconds and adds what it writes itself in between. Each attempt looks
once, before its first file. A batch may therefore overshoot the cap by about one
attempt's evidence per job running at once, plus what other processes wrote since
this one last walked the folder.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["REWALK_S", "EvidenceBudget", "folder_bytes"]

_MB = 1024 * 1024
REWALK_S = 5.0
"""How long a count of the folder is trusted (with this process's writes added)."""

_counted: dict[Path, tuple[float, int]] = {}
"""Per evidence folder: when this process last walked it, and its bytes since."""


def folder_bytes(folder: Path) -> int:
    """The size of every file under ``folder`` (0 when it does not exist yet)."""
    total = 0
    pending = [folder]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except OSError:  # not there yet, or removed meanwhile
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total


class EvidenceBudget:
    """The cap of one batch's evidence folder; ``max_mb`` 0 means no cap."""

    def __init__(
        self, evidence_dir: Path, max_mb: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.evidence_dir = evidence_dir
        self.max_mb = max_mb
        self.clock = clock

    def used(self) -> int:
        """The folder's bytes: walked now if the last count is older than ``REWALK_S``."""
        now = self.clock()
        counted = _counted.get(self.evidence_dir)
        if counted is None or now - counted[0] >= REWALK_S:
            counted = (now, folder_bytes(self.evidence_dir))
            _counted[self.evidence_dir] = counted
        return counted[1]

    def wrote(self, size: int) -> None:
        """This process wrote ``size`` bytes of evidence into the folder."""
        counted = _counted.get(self.evidence_dir)
        if counted is not None:
            _counted[self.evidence_dir] = (counted[0], counted[1] + size)

    def refusal(self) -> str:
        """Why no more evidence may be written, or "" while there is room."""
        if not self.max_mb:
            return ""
        used = self.used()
        if used < self.max_mb * _MB:
            return ""
        return (
            f"evidence not written: the batch's artifact cap is reached "
            f"({used / _MB:.1f} MB of max_artifacts_mb {self.max_mb:g})"
        )
