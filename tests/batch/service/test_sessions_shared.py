"""Dashboard sessions live in the store: two real servers on one store (a SQLite file,
or PostgreSQL) behind a load balancer share them; one survives a server restart;
signing out on one server ends it on the other; revoking the key ends it everywhere."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
from service_server import ServiceProcess, StartService

from batch.service.sessions import SESSION_COOKIE
from batch.store import ManifestStore, default_store_path
from batch.store._api_keys import ApiKeyStore


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(default_store_path(tmp_path / "shared" / "artifacts"))
    url: str = request.getfixturevalue("pg_url")
    return url


def whoami(server: ServiceProcess, token: str) -> httpx.Response:
    """``GET /api/v1/session`` with only the session cookie (as a browser sends it)."""
    with server.client() as client:
        return client.get("/api/v1/session", headers={"Cookie": f"{SESSION_COOKIE}={token}"})


def test_a_session_is_shared_by_the_servers_of_a_store_and_outlives_a_restart(
    start_server: StartService, shared_store: str
) -> None:
    with ManifestStore(shared_store) as store:
        _, key = ApiKeyStore(store).create("dash", "write")
    first, second = (start_server(store_url=shared_store) for _ in range(2))
    with first.client() as client:
        signed_in = client.post("/api/v1/session", json={"key": key})
    assert signed_in.status_code == 200, signed_in.text
    token = signed_in.cookies[SESSION_COOKIE]
    csrf = signed_in.json()["csrf_token"]

    on_second = whoami(second, token)
    assert on_second.status_code == 200, on_second.text
    assert on_second.json() == {"name": "dash", "scope": "write", "csrf_token": csrf}
    assert whoami(second, token + "x").status_code == 401
    with second.client() as client:
        page = client.get("/", headers={"Cookie": f"{SESSION_COOKIE}={token}"})
    assert page.status_code == 200, "the dashboard's pages know it too (no redirect)"
    assert f'<meta name="csrf-token" content="{csrf}">' in page.text

    assert first.stop() in (0, -signal.SIGTERM), first.log()
    restarted = start_server(store_url=shared_store)
    assert whoami(restarted, token).json()["csrf_token"] == csrf, "survived the restart"

    cookie = {"Cookie": f"{SESSION_COOKIE}={token}"}
    with second.client() as client:
        refused = client.delete("/api/v1/session", headers=cookie)
        assert refused.status_code == 403, "no CSRF token: the session stays"
        assert whoami(restarted, token).status_code == 200
        signed_out = client.delete("/api/v1/session", headers=cookie | {"X-CSRF-Token": csrf})
        assert signed_out.status_code == 204, signed_out.text
    assert whoami(restarted, token).status_code == 401, "signed out on the other server"
    assert whoami(second, token).status_code == 401

    with restarted.client() as client:
        again = client.post("/api/v1/session", json={"key": key}).cookies[SESSION_COOKIE]
    assert whoami(second, again).status_code == 200
    with ManifestStore(shared_store) as store:
        ApiKeyStore(store).revoke("dash")
    assert whoami(second, again).status_code == 401, "revoking the key ends its sessions"
    assert whoami(restarted, again).status_code == 401
