"""``PoolLeaser`` and ``leased_attempt`` on a real SQLite store, the clock and the sleep
injected: the wait is measured only when a row had to wait, entries are released after
the attempt (marked unusable when it says so), and an exhausted pool fails the row
without running it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.batch.store.test_store import jobs, manifest

from batch.run.pool_leases import PoolLeaser, leased_attempt
from batch.store import ManifestStore
from runtime.flows.pools import PoolSpec
from runtime.outcome import AttemptOutcome, ErrorCategory, JobSpec

POOL = PoolSpec("account", Path("accounts.csv"), "username", ("password",))
ACCOUNT = [("ann", {"username": "ann", "password": "Secret-ann"})]


class Clock:
    """A clock that moves only when the leaser sleeps; after ``free_after`` sleeps it
    runs ``then`` (another row's attempt ending)."""

    def __init__(self, free_after: int, then: Callable[[], None]) -> None:
        self.now, self.sleeps, self.free_after, self.then = 100.0, 0, free_after, then

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sleeps += 1
        if self.sleeps == self.free_after:
            self.then()


class Recorder:
    def __init__(self, outcome: AttemptOutcome) -> None:
        self.outcome, self.specs = outcome, list[JobSpec]()

    async def run(self, spec: JobSpec) -> AttemptOutcome:
        self.specs.append(spec)
        return self.outcome


def _claims(store: ManifestStore, rows: int) -> list[tuple[str, str]]:
    store.create_batch(manifest("b1"), jobs("b1", rows), pools={"account": ACCOUNT})
    found = []
    for index in range(rows):
        token = store.claim_job(f"b1-{index:06d}", "engine", 30)
        assert token is not None
        found.append((f"b1-{index:06d}", token))
    return found


def _no_mask(outcome: AttemptOutcome, _secrets: list[str]) -> AttemptOutcome:
    return outcome


async def test_a_row_waits_for_the_entry_and_its_wait_is_measured(tmp_path: Path) -> None:
    with ManifestStore(tmp_path / "s.db") as store:
        (first, first_token), (second, second_token) = _claims(store, 2)
        first_lease = await PoolLeaser(store, "b1", [POOL]).acquire(first, first_token)
        assert first_lease.wait_s == 0.0  # free at once: no wait recorded
        assert first_lease.secret_values == ["Secret-ann"]

        def first_ends() -> None:
            PoolLeaser(store, "b1", [POOL]).release(first_lease, None)

        clock = Clock(free_after=3, then=first_ends)
        leaser = PoolLeaser(store, "b1", [POOL], poll_s=0.25, sleep=clock.sleep, clock=clock)
        lease = await leaser.acquire(second, second_token)
        assert lease.keys == {"account": "ann"}
        assert lease.wait_s == 0.75  # three polls of 0.25 s


async def test_the_attempt_gets_the_entry_and_gives_it_back(tmp_path: Path) -> None:
    with ManifestStore(tmp_path / "s.db") as store:
        (job_id, token), (other, other_token) = _claims(store, 2)
        failed = AttemptOutcome(
            ok=False,
            duration_s=1.0,
            category=ErrorCategory.BUSINESS,
            message="account locked",
            pool_unusable=("account",),
        )
        runner = Recorder(failed)
        leaser = PoolLeaser(store, "b1", [POOL])
        spec = JobSpec(job_id, "b1", 0, {}, 1)
        outcome, lease = await leased_attempt(leaser, runner, spec, token, _no_mask)
        assert runner.specs[0].pool == {"account": ACCOUNT[0][1]}
        assert (outcome, lease.keys) == (failed, {"account": "ann"})
        (entry,) = store.pool_entries("b1")
        assert (entry.leased_by, entry.unusable, entry.unusable_reason) == (
            None,
            True,
            "account locked",
        )
        runner = Recorder(AttemptOutcome(ok=True, duration_s=1.0))
        spec = JobSpec(other, "b1", 1, {}, 1)
        outcome, lease = await leased_attempt(leaser, runner, spec, other_token, _no_mask)
        assert runner.specs == [], "the row did not run"
        assert outcome.category is ErrorCategory.BUSINESS
        assert "pool 'account' has no usable entry left" in outcome.message
        assert lease.exhausted == "account"
