"""Groups and attempt notes in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from batch.exceptions import BatchNotFoundError, StoreError
from batch.models import JobStatus, RefusedFile
from batch.store import ManifestStore

from .test_store import attempt, jobs, manifest


def test_a_group_keeps_its_batches_in_order_and_its_refused_files(store: ManifestStore) -> None:
    store.create_group("group-1", "flows/signup.yaml", ["exports", "extra/*.csv"])
    for batch_id in ("b2", "b1", "b3"):
        store.create_batch(manifest(batch_id), jobs(batch_id, 1))
        store.add_to_group("group-1", batch_id)
    store.create_batch(manifest("alone"), jobs("alone", 1))
    refused = [RefusedFile(path="exports/bad.csv", error="no column 'name' — in the CSV")]
    store.record_refused("group-1", refused)

    group = store.get_group("group-1")

    assert group.batch_ids == ["b2", "b1", "b3"]
    assert group.sources == ["exports", "extra/*.csv"]
    assert group.refused == refused
    assert group.flow_ref == "flows/signup.yaml"
    assert store.groups_of(["b1", "alone", "b3"]) == {"b1": "group-1", "b3": "group-1"}
    assert store.groups_of([]) == {}
    assert store.find_group("b1") is None
    with pytest.raises(BatchNotFoundError, match="no group 'nope'"):
        store.get_group("nope")


def test_groups_are_listed_newest_first_a_page_at_a_time(store: ManifestStore) -> None:
    for group_id in ("g-a", "g-b", "g-c"):
        store.create_group(group_id, "f.yaml", [group_id])
    store.create_batch(manifest("b1"), jobs("b1", 1))
    store.add_to_group("g-b", "b1")

    first, total = store.list_groups(limit=2)
    rest, _ = store.list_groups(limit=2, offset=2)

    assert [g.group_id for g in first] == ["g-c", "g-b"]
    assert first[1].batch_ids == ["b1"]
    assert [g.group_id for g in rest] == ["g-a"]
    assert total == 3


def test_a_batch_belongs_to_one_group_at_most(store: ManifestStore) -> None:
    store.create_batch(manifest("b1"), jobs("b1", 1))
    store.create_group("g1", "f.yaml", [])
    store.create_group("g2", "f.yaml", [])
    store.add_to_group("g1", "b1")
    with pytest.raises(StoreError, match=r"(?i)unique|duplicate"):
        store.add_to_group("g2", "b1")
    assert store.get_group("g2").batch_ids == []


def test_deleting_a_batch_drops_its_membership(store: ManifestStore) -> None:
    store.create_group("g1", "f.yaml", [])
    for batch_id in ("b1", "b2"):
        store.create_batch(manifest(batch_id), jobs(batch_id, 1))
        store.add_to_group("g1", batch_id)
    with store._tx() as conn:  # what a prune does, without the prune
        conn.execute(text("DELETE FROM batches WHERE batch_id = 'b1'"))
    assert store.get_group("g1").batch_ids == ["b2"]


def test_an_attempt_keeps_its_note(store: ManifestStore) -> None:
    store.create_batch(manifest("b1"), jobs("b1", 1))
    token = store.claim_job("b1-000000", "w", 60)
    assert token is not None
    note = "evidence not written: the batch's artifact cap is reached (1.0 MB of 1)"
    store.finish_job("b1-000000", token, attempt(1, ok=True, note=note), JobStatus.COMPLETED)
    assert [a.note for a in store.get_job("b1-000000").attempts] == [note]
