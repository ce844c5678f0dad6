"""The artifact cap (``max_artifacts_mb``): how much evidence a batch may write.

The bytes are counted in the batch's ``jobs/`` folder itself, not in a counter of
this process, so the cap holds when several engines or workers write into one
batch folder. Each attempt looks once, before its first file: attempts that look
at the same moment may each still write their evidence, so a batch can overshoot
the cap by about one attempt's evidence per job running at once.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["EvidenceBudget", "folder_bytes"]

_MB = 1024 * 1024


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

    def __init__(self, evidence_dir: Path, max_mb: float) -> None:
        self.evidence_dir = evidence_dir
        self.max_mb = max_mb

    def refusal(self) -> str:
        """Why no more evidence may be written, or "" while there is room."""
        if not self.max_mb:
            return ""
        used = folder_bytes(self.evidence_dir)
        if used < self.max_mb * _MB:
            return ""
        return (
            f"evidence not written: the batch's artifact cap is reached "
            f"({used / _MB:.1f} MB of max_artifacts_mb {self.max_mb:g})"
        )
