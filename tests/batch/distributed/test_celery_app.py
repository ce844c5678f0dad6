"""The Celery settings that delivery without doubles relies on, and the broker URL's
password kept out of messages."""

from __future__ import annotations

import pytest

from batch.distributed.celery_app import make_app, redis_priority, visibility_timeout_s
from batch.settings import load_settings
from runtime.errors import ConfigurationError
from runtime.settings import redact_url


def test_late_acks_prefetch_one_and_a_visibility_timeout_above_the_longest_job() -> None:
    settings = load_settings(
        {"broker_url": "redis://:pw@localhost:6379/0", "job_timeout_s": 3000}, read_env=False
    )
    conf = make_app(settings).conf
    assert conf.task_acks_late is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_reject_on_worker_lost is True
    assert conf.broker_transport_options["visibility_timeout"] > 3000 + 60
    assert conf.broker_transport_options["queue_order_strategy"] == "priority"


def test_high_priority_is_popped_first_by_the_redis_transport() -> None:
    # kombu's Redis transport pops priority 0 first
    assert redis_priority("high") < redis_priority("normal") < redis_priority("low")
    assert [redis_priority(p) for p in ("high", "normal", "low")] == [0, 4, 8]


def test_the_broker_password_never_appears_in_an_error_or_a_log_line() -> None:
    assert redact_url("redis://user:s3cret@host:6379/0") == "redis://user:***@host:6379/0"
    assert redact_url("redis://host:6379/0") == "redis://host:6379/0"
    with pytest.raises(ConfigurationError, match="broker_url") as caught:
        load_settings({"broker_url": "amqp://user:s3cret@host//"}, read_env=False)
    assert "s3cret" not in str(caught.value)
    assert visibility_timeout_s(load_settings({}, read_env=False)) >= 3600
