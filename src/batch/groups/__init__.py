"""Groups: the batches made from the CSVs of one run (``run DIR``, several files,
globs), created together, run together on one browser and one concurrency budget
(or on the workers), and reported together (docs/groups.md).

The functions take a ``BatchEngine``; the engine's ``create_batch_group`` and
``execute_group`` call them, and so can the service.
"""

from batch.groups.creation import create_group, new_group_id
from batch.groups.execution import run_group
from batch.groups.operations import (
    cancel_group,
    requeue_group_failures,
    resume_group,
    retry_group,
)
from batch.groups.report import write_group_reports
from batch.groups.summary import GroupSummary, summarise_group

__all__ = [
    "GroupSummary",
    "cancel_group",
    "create_group",
    "new_group_id",
    "requeue_group_failures",
    "resume_group",
    "retry_group",
    "run_group",
    "summarise_group",
    "write_group_reports",
]
