"""Dashboard sessions in the store, on both backends: opened, found, closed and
expired on an injected clock; neither the cookie token nor the CSRF token is stored."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from batch.service.sessions import SessionStore
from batch.store import ManifestStore, StoreUrl
from batch.store._api_keys import ApiKeyStore
from batch.store._sessions import PURGE_LIMIT, SessionRows

START = datetime(2026, 12, 3, 5, 0, tzinfo=UTC)
TTL_S = 3600.0


class Clock:
    """Wall-clock time that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def sessions_of(store: ManifestStore, clock: Clock) -> tuple[SessionStore, str]:
    """A session store on ``store`` and the id of a key to sign in with."""
    record, _ = ApiKeyStore(store).create("dash", "write")
    return SessionStore(SessionRows(store), TTL_S, clock), record.key_id


def rows(store: ManifestStore) -> list[tuple[object, ...]]:
    with store.transaction(write=False) as conn:
        found = conn.execute(text("SELECT * FROM service_sessions ORDER BY created_at"))
        return [tuple(row) for row in found.fetchall()]


def test_an_opened_session_is_found_until_closed(store: ManifestStore) -> None:
    clock = Clock()
    sessions, key_id = sessions_of(store, clock)
    token, opened = sessions.open(key_id)
    assert opened.key_id == key_id
    assert opened.expires_at == START + timedelta(seconds=TTL_S)
    assert sessions.get(token) == opened, "the same key, CSRF token and expiry"
    other_token, other = sessions.open(key_id)
    assert other_token != token
    assert other.csrf_token != opened.csrf_token
    sessions.close(token)
    assert sessions.get(token) is None
    assert sessions.get(other_token) == other, "closing one leaves the other"
    assert sessions.get("") is None
    assert sessions.get(token + "x") is None
    sessions.close("no such token")  # nothing to close is fine


def test_another_server_on_the_store_knows_the_session(store_url: StoreUrl) -> None:
    clock = Clock()
    with ManifestStore(store_url) as first, ManifestStore(store_url) as second:
        sessions, key_id = sessions_of(first, clock)
        token, opened = sessions.open(key_id)
        elsewhere = SessionStore(SessionRows(second), TTL_S, clock)
        assert elsewhere.get(token) == opened
        elsewhere.close(token)
        assert sessions.get(token) is None


def test_a_session_expires_after_its_ttl_and_its_row_goes(store: ManifestStore) -> None:
    clock = Clock()
    sessions, key_id = sessions_of(store, clock)
    token, _ = sessions.open(key_id)
    clock.now = START + timedelta(seconds=TTL_S - 1)
    assert sessions.get(token) is not None, "still live a second before"
    clock.now = START + timedelta(seconds=TTL_S)
    assert sessions.get(token) is None, "expired at its expiry"
    assert rows(store) == [], "and its row deleted by the get"


def test_opening_deletes_expired_rows_a_bounded_number_at_a_time(store: ManifestStore) -> None:
    clock = Clock()
    sessions, key_id = sessions_of(store, clock)
    for _ in range(PURGE_LIMIT + 5):
        sessions.open(key_id)
    clock.now = START + timedelta(seconds=TTL_S / 2)
    live, _ = sessions.open(key_id)
    assert len(rows(store)) == PURGE_LIMIT + 6, "nothing had expired yet"
    clock.now = START + timedelta(seconds=TTL_S)  # the first PURGE_LIMIT + 5 expire
    newest, _ = sessions.open(key_id)
    assert len(rows(store)) == 5 + 2, "PURGE_LIMIT of the expired deleted, not the live"
    sessions.open(key_id)
    assert len(rows(store)) == 3, "the rest on the next open"
    assert sessions.get(live) is not None
    assert sessions.get(newest) is not None


def test_only_the_token_hash_is_stored_not_the_token_nor_the_csrf_token(
    store: ManifestStore,
) -> None:
    clock = Clock()
    sessions, key_id = sessions_of(store, clock)
    token, opened = sessions.open(key_id)
    [row] = rows(store)
    flat = " ".join(str(value) for value in row)
    assert token not in flat
    assert opened.csrf_token not in flat
    assert hashlib.sha256(token.encode()).hexdigest() == row[0]
    assert row[1] == key_id
    assert (row[2], row[3]) == (
        START.isoformat(timespec="microseconds"),
        (START + timedelta(seconds=TTL_S)).isoformat(timespec="microseconds"),
    ), "wall-clock UTC"
    assert opened.csrf_token != row[0], "the CSRF token is not the stored hash"


def test_revoking_a_key_deletes_its_sessions_only(store: ManifestStore) -> None:
    clock = Clock()
    sessions, key_id = sessions_of(store, clock)
    other, _ = ApiKeyStore(store).create("other", "read")
    mine, _ = sessions.open(key_id)
    theirs, _ = sessions.open(other.key_id)
    ApiKeyStore(store).revoke("dash")
    assert sessions.get(mine) is None
    assert sessions.get(theirs) is not None
    assert [row[1] for row in rows(store)] == [other.key_id]
