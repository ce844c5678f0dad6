"""The Celery app shared by ``run --workers`` (which sends) and ``batchwright worker``.

Messages carry ids only: ``(batch_id, job_id, run_attempt)``; the row, the flow and
the batch's settings are read from the store. Delivery is at least once (late
acks); the store's claim makes it at most one run per claim, so a message
delivered twice does nothing the second time.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from batch.settings import BatchSettings, Priority
from runtime.runners.local import BROWSER_GRACE_S

__all__ = [
    "PRIORITIES",
    "QUEUE",
    "RUN_JOB",
    "VERIFY_ATTEMPT",
    "make_app",
    "publish_job",
    "redis_priority",
    "visibility_timeout_s",
]

QUEUE = "batchwright"
"""The default queue; ``batchwright worker --queues`` and ``run --queue`` pick others."""
RUN_JOB = "batchwright.run_job"
VERIFY_ATTEMPT = 0
"""The ``run_attempt`` of a message that checks a needs_review row with the flow's
``verify:`` steps instead of running it."""

PRIORITIES: dict[Priority, int] = {"high": 9, "normal": 5, "low": 1}
"""The seed's priorities, higher first (AMQP's convention)."""

MIN_VISIBILITY_TIMEOUT_S = 3600.0


def redis_priority(priority: Priority) -> int:
    """The message priority on Redis, whose transport pops priority 0 first: 9 - level."""
    return 9 - PRIORITIES[priority]


def visibility_timeout_s(settings: BatchSettings) -> float:
    """How long Redis waits for an unacknowledged message before delivering it again:
    well above the longest attempt (one message is one attempt) and the longest retry
    delay. Lost workers are found sooner through their expired leases in the store."""
    longest = settings.job_timeout_s + BROWSER_GRACE_S + settings.max_delay
    return max(MIN_VISIBILITY_TIMEOUT_S, 4 * longest)


def make_app(settings: BatchSettings) -> Celery:
    """A Celery app on ``settings.broker_url`` with the delivery settings that matter."""
    app = Celery("batchwright", broker=settings.broker_url, set_as_current=False)
    transport: dict[str, Any] = {
        "visibility_timeout": visibility_timeout_s(settings),
        "priority_steps": list(range(10)),
        "queue_order_strategy": "priority",
    }
    app.conf.update(
        task_acks_late=True,  # a message is acked after its attempt is recorded
        # a pool child lost mid-task (prefork) puts its message back; the threads pool
        # we use has no children, and a lost worker process is handled by its leases
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # reserve no more messages than free slots
        task_default_queue=QUEUE,
        task_default_priority=redis_priority("normal"),
        task_ignore_result=True,  # outcomes live in the store, not in a result backend
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a broker restart is waited out, not fatal
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    return app


def publish_job(
    app: Celery,
    batch_id: str,
    job_id: str,
    *,
    run_attempt: int = 1,
    priority: Priority = "normal",
    countdown: float | None = None,
    queue: str = QUEUE,
) -> None:
    """Send one job to the workers (``countdown``: not before that many seconds)."""
    app.send_task(
        RUN_JOB,
        args=[batch_id, job_id, run_attempt],
        queue=queue,
        priority=redis_priority(priority),
        countdown=countdown,
    )
