"""Schedules and retention (docs/schedules.md): batches fired by cron slots in a time
zone, each slot once even with several service instances on one store; old batches
pruned with their rows and folders, never a running one."""

from batch.schedule.definitions import ScheduleView, add_schedule, list_schedules
from batch.schedule.launchers import in_background, on_workers, run_in_process
from batch.schedule.loop import DailyRetention, run_scheduler
from batch.schedule.retention import PruneOptions, PruneResult, apply_retention, prune
from batch.schedule.scheduler import Launch, Launcher, Scheduler, SlotResult

__all__ = [
    "DailyRetention",
    "Launch",
    "Launcher",
    "PruneOptions",
    "PruneResult",
    "ScheduleView",
    "Scheduler",
    "SlotResult",
    "add_schedule",
    "apply_retention",
    "in_background",
    "list_schedules",
    "on_workers",
    "prune",
    "run_in_process",
    "run_scheduler",
]
