"""Pool entries and their leases in the store, on SQLite and PostgreSQL, with the clock
injected: exclusive leases, release, expiry with the job's lease, max_uses, cooldown,
entries marked unusable, and two threads racing for the last entry."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from tests.batch.store.test_store import jobs, manifest

from batch.models import JobStatus
from batch.store import ManifestStore, PoolDemand

LEASE_S = 30.0

ACCOUNTS = [(name, {"username": name, "password": f"pw-{name}"}) for name in ("ann", "bob")]


def _batch(store: ManifestStore, rows: int = 4, entries: int = 2) -> list[tuple[str, str]]:
    """A batch with ``entries`` accounts; every job claimed: (job_id, token) each."""
    store.create_batch(manifest("b1"), jobs("b1", rows), pools={"account": ACCOUNTS[:entries]})
    claimed = []
    for index in range(rows):
        job_id = f"b1-{index:06d}"
        token = store.claim_job(job_id, "engine-1", LEASE_S)
        assert token is not None
        claimed.append((job_id, token))
    return claimed


def _lease(
    store: ManifestStore, claim: tuple[str, str], now: datetime, max_uses: int = 0
) -> str | None:
    result = store.lease_pool_entries(
        "b1", claim[0], claim[1], [PoolDemand("account", max_uses)], now=now
    )
    return None if result.entries is None else result.entries["account"].key


def test_entries_are_leased_exclusively_and_come_back_on_release(store: ManifestStore) -> None:
    now = datetime.now(UTC)
    first, second, third, _ = _batch(store)
    assert _lease(store, first, now) == "ann"
    assert _lease(store, second, now) == "bob"
    assert _lease(store, third, now) is None  # both busy: wait
    held = {e.key: e.leased_by for e in store.pool_entries("b1", now=now)}
    assert held == {"ann": first[0], "bob": second[0]}
    assert store.release_pool_entries("b1", first[1], {"account": 0.0}, now=now) == 1
    assert _lease(store, third, now) == "ann"


def test_a_lease_ends_with_the_jobs_lease(store: ManifestStore) -> None:
    """A dead engine stops renewing its jobs' leases: once they expire, so do its pool
    leases; while the job's lease is renewed, the entry stays held."""
    now = datetime.now(UTC)
    first, second, *_ = _batch(store, entries=1)
    assert _lease(store, first, now) == "ann"
    assert _lease(store, second, now + timedelta(seconds=LEASE_S - 5)) is None
    assert _lease(store, second, now + timedelta(seconds=LEASE_S + 1)) == "ann"


def test_a_lease_ends_when_the_job_is_recovered_or_finished(store: ManifestStore) -> None:
    now = datetime.now(UTC)
    first, second, *_ = _batch(store, entries=1)
    assert _lease(store, first, now) == "ann"
    assert _lease(store, second, now) is None
    store.release_owner("engine-1")  # the engine is gone: its jobs back to pending
    assert store.get_job(first[0]).status is JobStatus.PENDING
    token = store.claim_job(second[0], "engine-2", LEASE_S)
    assert token is not None
    assert _lease(store, (second[0], token), now) == "ann"


def test_max_uses_and_exhaustion(store: ManifestStore) -> None:
    now = datetime.now(UTC)
    first, second, third, _ = _batch(store, entries=1)
    assert _lease(store, first, now, max_uses=2) == "ann"
    store.release_pool_entries("b1", first[1], {"account": 0.0}, now=now)
    assert _lease(store, second, now, max_uses=2) == "ann"
    store.release_pool_entries("b1", second[1], {"account": 0.0}, now=now)
    result = store.lease_pool_entries("b1", third[0], third[1], [PoolDemand("account", 2)], now=now)
    assert result.entries is None
    assert result.exhausted == "account"  # never free again: the row must not wait forever
    assert [e.uses for e in store.pool_entries("b1")] == [2]


def test_cooldown_between_uses(store: ManifestStore) -> None:
    now = datetime.now(UTC)
    first, second, *_ = _batch(store, entries=1)
    assert _lease(store, first, now) == "ann"
    store.release_pool_entries("b1", first[1], {"account": 2.0}, now=now)
    assert _lease(store, second, now + timedelta(seconds=1.9)) is None
    waiting = store.lease_pool_entries(
        "b1", second[0], second[1], [PoolDemand("account")], now=now + timedelta(seconds=1)
    )
    assert waiting.exhausted is None  # resting, not exhausted
    assert _lease(store, second, now + timedelta(seconds=2)) == "ann"


def test_an_unusable_entry_is_out_for_the_batch(store: ManifestStore) -> None:
    now = datetime.now(UTC)
    first, second, third, fourth = _batch(store)
    assert _lease(store, first, now) == "ann"
    store.release_pool_entries("b1", first[1], {"account": 0.0}, {"account": "locked"}, now=now)
    assert _lease(store, second, now) == "bob"
    assert _lease(store, third, now) is None
    store.release_pool_entries("b1", second[1], {"account": 0.0}, now=now)
    assert _lease(store, third, now) == "bob"
    states = {e.key: (e.unusable, e.unusable_reason) for e in store.pool_entries("b1")}
    assert states == {"ann": (True, "locked"), "bob": (False, "")}
    store.release_pool_entries("b1", third[1], {"account": 0.0}, {"account": "gone"}, now=now)
    assert (
        store.lease_pool_entries(
            "b1", fourth[0], fourth[1], [PoolDemand("account")], now=now
        ).exhausted
        == "account"
    )


def test_several_pools_are_leased_all_or_none(store: ManifestStore) -> None:
    now = datetime.now(UTC)
    devices = [("d1", {"device": "d1"})]
    store.create_batch(
        manifest("b1"), jobs("b1", 2), pools={"account": ACCOUNTS, "device": devices}
    )
    claims = [(f"b1-{i:06d}", store.claim_job(f"b1-{i:06d}", "e", LEASE_S)) for i in range(2)]
    demands = [PoolDemand("account"), PoolDemand("device")]
    (job_a, token_a), (job_b, token_b) = claims
    assert token_a
    assert token_b
    got = store.lease_pool_entries("b1", job_a, token_a, demands, now=now).entries
    assert got is not None
    assert {p: e.key for p, e in got.items()} == {
        "account": "ann",
        "device": "d1",
    }
    assert got["account"].data == {"username": "ann", "password": "pw-ann"}
    assert store.lease_pool_entries("b1", job_b, token_b, demands, now=now).entries is None
    # the account it could have had was not kept while it waited for the device
    assert {e.key: e.leased_by for e in store.pool_entries("b1", now=now)}["bob"] is None


def test_a_token_leasing_again_gives_back_what_it_held(store: ManifestStore) -> None:
    """A retry under the same claim whose earlier attempt never released."""
    now = datetime.now(UTC)
    first, *_ = _batch(store, entries=1)
    assert _lease(store, first, now) == "ann"
    assert _lease(store, first, now) == "ann"


def test_two_threads_race_for_one_entry(store: ManifestStore) -> None:
    now = datetime.now(UTC)
    claims = _batch(store, rows=8, entries=1)
    barrier = threading.Barrier(len(claims))
    won: list[str] = []

    def race(claim: tuple[str, str]) -> None:
        with ManifestStore(store.url) as other:
            barrier.wait()
            key = _lease(other, claim, now)
            if key is not None:
                won.append(claim[0])

    threads = [threading.Thread(target=race, args=(claim,)) for claim in claims]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
