"""API keys in the store, on both backends: only a hash kept, verified in constant
time, scopes, revocation, one active key per name."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text

from batch.exceptions import ConfigurationError
from batch.store import ManifestStore
from batch.store._api_keys import ApiKeyStore


def test_a_created_key_verifies_and_only_its_hash_is_stored(store: ManifestStore) -> None:
    keys = ApiKeyStore(store)
    record, key = keys.create("ci", "write")
    assert key.startswith(f"bw_{record.key_id}_")
    verified = keys.verify(key)
    assert verified is not None
    assert (verified.name, verified.scope, verified.active) == ("ci", "write", True)
    with store.transaction(write=False) as conn:
        stored = [tuple(row) for row in conn.execute(text("SELECT * FROM api_keys")).fetchall()]
    flat = " ".join(str(value) for row in stored for value in row)
    assert key not in flat
    assert key.rsplit("_", 1)[-1] not in flat
    assert hashlib.sha256(key.encode()).hexdigest() in flat


def test_wrong_malformed_and_revoked_keys_do_not_verify(store: ManifestStore) -> None:
    keys = ApiKeyStore(store)
    record, key = keys.create("dash", "read")
    other = key[:-1] + ("A" if key[-1] != "A" else "B")
    for candidate in (other, "", "bw_", "Bearer " + key, key + "x", key.upper()):
        assert keys.verify(candidate) is None, candidate
    revoked = keys.revoke("dash")
    assert revoked.key_id == record.key_id
    assert revoked.revoked_at is not None
    assert keys.verify(key) is None
    assert keys.get(record.key_id) == revoked
    with pytest.raises(ConfigurationError, match="no active API key named 'dash'"):
        keys.revoke("dash")


def test_one_active_key_per_name_and_scopes(store: ManifestStore) -> None:
    keys = ApiKeyStore(store)
    reader, _ = keys.create("ops", "read")
    with pytest.raises(ConfigurationError, match="already named 'ops'"):
        keys.create("ops", "write")
    keys.revoke(reader.key_id)
    writer, _ = keys.create("ops", "write")
    assert [(k.name, k.scope, k.active) for k in keys.list()] == [
        ("ops", "read", False),
        ("ops", "write", True),
    ]
    assert writer.allows("read")
    assert writer.allows("write")
    assert reader.allows("read")
    assert not reader.allows("write")


@pytest.mark.parametrize("name", ["", "has space", "-dash", "x" * 65, "semi;colon"])
def test_bad_names_are_refused(store: ManifestStore, name: str) -> None:
    with pytest.raises(ConfigurationError, match="key name"):
        ApiKeyStore(store).create(name, "read")
