"""BatchSummary numbers on batches whose outcomes are known in advance."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from batch.models import (
    AttemptRecord,
    BatchJob,
    BatchManifest,
    CsvDialect,
    ErrorCategory,
    JobStatus,
)
from batch.reports.summary import (
    MAX_SIGNATURES,
    OTHER_SIGNATURE,
    SCHEMA_VERSION,
    build_summary,
    mask_secrets,
    message_signature,
)

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
MANIFEST = BatchManifest(
    batch_id="b-sum",
    run_id="r1",
    csv_path="data/customers.csv",
    csv_sha256="0" * 64,
    encoding="utf-8",
    dialect=CsvDialect(delimiter=","),
    headers=["email", "token"],
    flow_ref="flows/signup.yaml",
    flow_name="signup",
    created_at=T0,
)


def attempt(n: int, ok: bool, duration: float = 1.0, **kw: object) -> AttemptRecord:
    failure: dict[str, object] = {} if ok else {"category": ErrorCategory.TRANSIENT}
    return AttemptRecord.model_validate(
        {"number": n, "started_at": T0, "duration_s": duration, "ok": ok, **failure, **kw}
    )


def job(
    index: int,
    status: JobStatus,
    attempts: list[AttemptRecord] | None = None,
    *,
    start: float | None = None,
    end: float | None = None,
    **kw: object,
) -> BatchJob:
    return BatchJob.model_validate(
        {
            "job_id": f"j{index}",
            "batch_id": "b-sum",
            "row_index": index,
            "source_line": index + 2,
            "row_data": {"email": f"u{index}@example.com", "token": f"tok-{index}-secret"},
            "status": status,
            "attempts": attempts or [],
            "created_at": T0,
            "started_at": None if start is None else T0 + timedelta(seconds=start),
            "finished_at": None if end is None else T0 + timedelta(seconds=end),
            **kw,
        }
    )


def failed(index: int, category: ErrorCategory, message: str) -> BatchJob:
    return job(
        index,
        JobStatus.FAILED,
        [attempt(1, False, category=category, message=message)],
        error_category=category,
        error_message=message,
    )


def known_batch() -> Iterator[BatchJob]:
    """10 rows: 5 completed (1 flaky), 2 failed, 2 skipped, 1 pending; read once."""
    yield job(0, JobStatus.COMPLETED, [attempt(1, True, 1.0)], start=0, end=1)
    yield job(1, JobStatus.COMPLETED, [attempt(1, True, 2.0)], start=1, end=3)
    yield job(2, JobStatus.COMPLETED, [attempt(1, True, 3.0)], start=2, end=5)
    yield job(3, JobStatus.COMPLETED, [attempt(1, True, 4.0)], start=3, end=7)
    yield job(
        4, JobStatus.COMPLETED, [attempt(1, False, 2.0), attempt(2, True, 3.0)], start=4, end=9
    )
    yield job(
        5,
        JobStatus.FAILED,
        [
            attempt(1, False, 1.0, message="Timeout 30000ms exceeded"),
            attempt(2, False, 1.0, message="Timeout 30000ms exceeded"),
            attempt(3, False, 4.0, message="Timeout 15000ms exceeded"),
        ],
        error_category=ErrorCategory.TRANSIENT,
        error_message="Timeout 15000ms exceeded",
        start=5,
        end=20,
    )
    yield job(
        6,
        JobStatus.FAILED,
        [attempt(1, False, 10.0, category=ErrorCategory.BUSINESS, message="rejected")],
        error_category=ErrorCategory.BUSINESS,
        error_message="rejected",
        start=6,
        end=16,
    )
    yield job(7, JobStatus.SKIPPED)
    yield job(8, JobStatus.SKIPPED)
    yield job(9, JobStatus.PENDING)


def test_counts_rate_flaky_and_histogram_on_a_known_batch() -> None:
    summary = build_summary(MANIFEST, known_batch())

    assert summary.total == 10
    assert summary.counts == {
        "pending": 1,
        "running": 0,
        "completed": 5,
        "failed": 2,
        "skipped": 2,
        "cancelled": 0,
        "needs_review": 0,
    }
    assert summary.success_rate == pytest.approx(5 / 8)  # skipped rows are not runnable
    assert summary.flaky == 1
    assert summary.attempts_histogram == {0: 3, 1: 5, 2: 1, 3: 1}
    assert summary.total_attempts == 10
    assert summary.has_failures
    assert summary.errors_by_category["transient"] == 1
    assert summary.errors_by_category["business"] == 1
    assert summary.errors_by_category["rate_limit"] == 0
    assert summary.failed_attempts_by_category["transient"] == 4  # flaky row's first try too


def test_durations_use_nearest_rank_over_rows_that_ran() -> None:
    summary = build_summary(MANIFEST, known_batch())
    # Row durations (attempts summed): 1, 2, 3, 4, 5, 6, 10 -> 7 rows ran.
    d = summary.durations
    assert d.count == 7
    assert (d.min_s, d.max_s) == (1.0, 10.0)
    assert d.p50_s == 4.0  # rank ceil(0.5 * 7) = 4
    assert d.p95_s == 10.0  # rank ceil(0.95 * 7) = 7
    assert d.mean_s == pytest.approx(31 / 7)
    assert sum(b.count for b in summary.duration_histogram) == 7
    assert summary.duration_histogram[0].lower_s == 1.0
    assert summary.duration_histogram[-1].upper_s == 10.0


def test_wall_time_and_throughput_span_first_start_to_last_finish() -> None:
    summary = build_summary(MANIFEST, known_batch())
    assert summary.started_at == T0
    assert summary.finished_at == T0 + timedelta(seconds=20)
    assert summary.wall_time_s == 20.0
    assert summary.throughput_rows_per_s == pytest.approx(7 / 20)


def test_naive_timestamps_compare_with_aware_ones() -> None:
    naive = job(0, JobStatus.COMPLETED, [attempt(1, True)], start=0, end=2)
    naive = naive.model_copy(update={"started_at": datetime(2026, 3, 1, 11, 59, 0)})
    aware = job(1, JobStatus.COMPLETED, [attempt(1, True)], start=0, end=2)
    summary = build_summary(MANIFEST, [naive, aware])
    assert summary.wall_time_s == 62.0


def test_empty_and_all_skipped_batches_do_not_divide_by_zero() -> None:
    empty = build_summary(MANIFEST, [])
    assert (empty.total, empty.success_rate, empty.wall_time_s) == (0, 0.0, 0.0)
    assert empty.throughput_rows_per_s == 0.0
    assert empty.durations.count == 0
    assert empty.durations.p50_s is None
    assert empty.duration_histogram == ()
    assert not empty.has_failures

    skipped = build_summary(MANIFEST, [job(0, JobStatus.SKIPPED), job(1, JobStatus.SKIPPED)])
    assert skipped.success_rate == 0.0
    assert skipped.runnable == 0


def test_instant_jobs_give_zero_throughput_not_an_error() -> None:
    summary = build_summary(
        MANIFEST, [job(0, JobStatus.COMPLETED, [attempt(1, True, 0.0)], start=1, end=1)]
    )
    assert summary.wall_time_s == 0.0
    assert summary.throughput_rows_per_s == 0.0
    assert len(summary.duration_histogram) == 1


def test_needs_review_counts_as_a_failure_for_the_exit_code() -> None:
    summary = build_summary(MANIFEST, [job(0, JobStatus.NEEDS_REVIEW, [attempt(1, False)])])
    assert summary.has_failures
    assert not build_summary(MANIFEST, [job(0, JobStatus.COMPLETED)]).has_failures


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Timeout 30000ms exceeded", "Timeout 15000ms exceeded"),
        ("HTTP 503 from http://h/api?id=12&t=abc", "HTTP 502 from http://h/api?id=99&t=zz"),
        ('locator("#email-1") not found', 'locator("#row-9 > td") not found'),
        ("order 0x7ffe12ab failed", "order 0xdeadbeef01 failed"),
        (
            "session 3f2a9c1e-1b2c-4d5e-8f90-a1b2c3d4e5f6 expired",
            "session 00000000-aaaa-bbbb-cccc-111111111111 expired",
        ),
        ("commit 9fceb02d0ae598e95dc970b74767f19372d61af8 missing", "commit 1a2b3c4d5e6f missing"),
        ("field 'name' is required", "field 'e-mail' is required"),
    ],
)
def test_messages_differing_only_in_variable_parts_share_a_signature(
    first: str, second: str
) -> None:
    assert message_signature(first) == message_signature(second)


def test_signatures_keep_what_makes_errors_different() -> None:
    assert message_signature("Timeout 100ms exceeded") == "Timeout <n>ms exceeded"
    assert message_signature("net::ERR_CONNECTION_REFUSED") != message_signature(
        "net::ERR_NAME_NOT_RESOLVED"
    )
    assert message_signature("can't find   the\nbutton") == "can't find the button"


def test_error_groups_rank_by_count_with_examples() -> None:
    jobs = [
        failed(0, ErrorCategory.TRANSIENT, "Timeout 30000ms exceeded"),
        failed(1, ErrorCategory.BUSINESS, "email 'a@x' already registered"),
        failed(2, ErrorCategory.TRANSIENT, "Timeout 5000ms exceeded"),
        failed(3, ErrorCategory.BUSINESS, "email 'b@x' already registered"),
        failed(4, ErrorCategory.TRANSIENT, "Timeout 1ms exceeded"),
        failed(5, ErrorCategory.RATE_LIMIT, "HTTP 429"),
        failed(6, ErrorCategory.TRANSIENT, "HTTP 429"),  # same text, other category
    ]
    summary = build_summary(MANIFEST, jobs, top_errors=3)
    groups = summary.error_groups
    assert [(g.category, g.count) for g in groups] == [
        ("transient", 3),
        ("business", 2),
        ("rate_limit", 1),
    ]
    assert groups[0].signature == "Timeout <n>ms exceeded"
    assert groups[0].example_message == "Timeout 30000ms exceeded"
    assert groups[0].example_rows == (0, 2, 4)
    assert summary.error_signatures == 4  # the top 3 are shown, 4 were seen


def test_failed_job_without_its_own_error_uses_the_last_attempt() -> None:
    bare = job(
        0,
        JobStatus.FAILED,
        [attempt(1, False, category=ErrorCategory.RATE_LIMIT, message="HTTP 429 too many")],
    )
    group = build_summary(MANIFEST, [bare]).error_groups[0]
    assert (group.category, group.example_message) == ("rate_limit", "HTTP 429 too many")


def test_distinct_signatures_are_bounded() -> None:
    many = (
        failed(i, ErrorCategory.UNKNOWN, "".join(chr(97 + int(c)) for c in str(i)))
        for i in range(MAX_SIGNATURES + 50)
    )
    summary = build_summary(MANIFEST, many, top_errors=MAX_SIGNATURES + 1)
    assert summary.error_signatures == MAX_SIGNATURES + 1
    other = next(g for g in summary.error_groups if g.signature == OTHER_SIGNATURE)
    assert other.count == 50


def test_secret_values_are_masked_in_example_messages() -> None:
    leak = failed(0, ErrorCategory.BUSINESS, "login failed for token tok-0-secret")
    summary = build_summary(MANIFEST, [leak], secrets=["token"])
    assert summary.error_groups[0].example_message == "login failed for token ***"
    assert "tok-0-secret" not in json.dumps(summary.to_dict())


def test_mask_secrets_ignores_values_too_short_to_mean_anything() -> None:
    assert mask_secrets("code 1 of 12", ["1", ""]) == "code 1 of 12"
    assert mask_secrets("pw hunter2 and hunter22", ["hunter2", "hunter22"]) == "pw *** and ***"


def test_to_dict_has_stable_json_keys() -> None:
    data = build_summary(MANIFEST, known_batch()).to_dict()
    assert list(data) == [
        "schema_version",
        "batch_id",
        "flow_name",
        "flow_ref",
        "status",
        "concurrency",
        "csv_path",
        "created_at",
        "total",
        "counts",
        "success_rate",
        "flaky",
        "has_failures",
        "total_attempts",
        "attempts_histogram",
        "durations",
        "duration_histogram",
        "started_at",
        "finished_at",
        "wall_time_s",
        "throughput_rows_per_s",
        "errors_by_category",
        "failed_attempts_by_category",
        "error_groups",
        "error_signatures",
        "stop_reason",
        "pools",
        "artifact_cap",
    ]
    assert data["pools"] is None  # the flow has no pools
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["attempts_histogram"] == {"0": 3, "1": 5, "2": 1, "3": 1}
    assert data["durations"]["method"] == "nearest-rank"
    assert data["created_at"] == "2026-03-01T12:00:00+00:00"
    assert json.loads(json.dumps(data)) == data
