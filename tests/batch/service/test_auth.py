"""Auth against a real server: keys (Bearer), scopes, revocation, the dashboard's
session cookie with its CSRF token, CORS closed, body limits, no key in any log."""

from __future__ import annotations

import re

from service_server import ServiceProcess, StartService

CANCEL = "/api/v1/batches/no-such-batch/cancel"
KEY = re.compile(r"^bw_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$")


def test_health_and_the_schema_need_no_key(service: ServiceProcess) -> None:
    with service.client() as client:
        health = client.get("/api/v1/health")
        schema = client.get("/api/v1/openapi.json")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert schema.status_code == 200
    assert "/api/v1/session" in schema.json()["paths"]


def test_no_key_wrong_key_malformed_header_and_revoked_key_get_401(
    service: ServiceProcess,
) -> None:
    wrong = service.write_key[:-4] + ("AAAA" if not service.write_key.endswith("AAAA") else "BBBB")
    with service.client() as client:
        answers = {
            "none": client.get("/api/v1/session"),
            "wrong": client.get("/api/v1/session", headers={"Authorization": f"Bearer {wrong}"}),
            "garbage": client.get("/api/v1/session", headers={"Authorization": "Bearer nope"}),
            "basic": client.get("/api/v1/session", headers={"Authorization": "Basic eDp5"}),
        }
    for case, answer in answers.items():
        assert answer.status_code == 401, case
        assert answer.headers["WWW-Authenticate"].startswith("Bearer"), case
        assert answer.headers["content-type"] == "application/problem+json", case
        assert answer.json()["field"] == "Authorization", case

    with service.client(service.read_key) as reader:
        assert reader.get("/api/v1/session").status_code == 200
        revoked = service.cli("keys", "revoke", "test-reader")
        assert revoked.returncode == 0, revoked.stderr
        after = reader.get("/api/v1/session")
    assert after.status_code == 401
    assert "revoked" in after.json()["detail"]


def test_a_read_key_may_read_but_not_write(service: ServiceProcess) -> None:
    with service.client(service.read_key) as reader:
        me = reader.get("/api/v1/session")
        refused = reader.post(CANCEL)
    assert me.json() == {"name": "test-reader", "scope": "read", "csrf_token": None}
    assert refused.status_code == 403
    assert "test-reader" in refused.json()["detail"]
    with service.client(service.write_key) as writer:
        assert writer.post(CANCEL).status_code == 404, "a write key gets past auth"


def test_session_cookie_reads_but_writes_only_with_the_csrf_token(service: ServiceProcess) -> None:
    with service.client() as browser:
        bad = browser.post("/api/v1/session", json={"key": "bw_000000000000_" + "x" * 43})
        assert bad.status_code == 401
        signed_in = browser.post("/api/v1/session", json={"key": service.write_key})
        assert signed_in.status_code == 200
        cookie = signed_in.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "samesite=strict" in cookie.lower()
        assert service.write_key not in cookie
        csrf = signed_in.json()["csrf_token"]

        assert browser.get("/api/v1/session").json()["csrf_token"] == csrf, "the cookie reads"
        no_token = browser.post(CANCEL)
        assert no_token.status_code == 403
        assert no_token.json()["field"] == "X-CSRF-Token"
        wrong_token = browser.post(CANCEL, headers={"X-CSRF-Token": csrf[::-1]})
        assert wrong_token.status_code == 403
        assert browser.post(CANCEL, headers={"X-CSRF-Token": csrf}).status_code == 404

        assert browser.delete("/api/v1/session", headers={"X-CSRF-Token": csrf}).status_code == 204
        assert browser.get("/api/v1/session").status_code == 401, "signed out"


def test_revoking_a_key_ends_its_sessions(service: ServiceProcess) -> None:
    with service.client() as browser:
        browser.post("/api/v1/session", json={"key": service.read_key}).raise_for_status()
        assert browser.get("/api/v1/session").status_code == 200
        assert service.cli("keys", "revoke", "test-reader").returncode == 0
        assert browser.get("/api/v1/session").status_code == 401


def test_keys_create_prints_the_key_once_and_list_never_shows_it(service: ServiceProcess) -> None:
    created = service.cli("keys", "create", "ci", "--scope", "write")
    assert created.returncode == 0, created.stderr
    lines = created.stdout.splitlines()
    assert len(lines) == 1
    assert KEY.match(lines[0]), "the key alone on its line, for $(batchwright keys create ...)"
    key = lines[0]
    assert "shown only this once" in created.stderr
    listed = service.cli("keys", "list")
    assert "ci" in listed.stdout
    assert "write" in listed.stdout
    assert key not in listed.stdout
    assert key[len("bw_000000000000_") :] not in listed.stdout
    with service.client(key) as client:
        assert client.get("/api/v1/session").json()["name"] == "ci"

    twice = service.cli("keys", "create", "ci")
    assert twice.returncode == 2
    assert "already named 'ci'" in twice.stderr
    bad_scope = service.cli("keys", "create", "x", "--scope", "admin")
    assert bad_scope.returncode == 2
    assert "use read or write" in bad_scope.stderr
    unknown = service.cli("keys", "revoke", "nobody")
    assert unknown.returncode == 2
    assert "no active API key named 'nobody'" in unknown.stderr


def test_keys_never_reach_the_server_log(service: ServiceProcess) -> None:
    wrong = "bw_" + service.write_key[3:15] + "_" + "y" * 43
    with service.client() as client:
        for key in (service.write_key, service.read_key, wrong):
            client.get("/api/v1/session", headers={"Authorization": f"Bearer {key}"})
            client.post(CANCEL, headers={"Authorization": f"Bearer {key}"})
            client.post("/api/v1/session", json={"key": key})
    log = service.log()
    assert "GET /api/v1/session" in log, "the log was captured"
    for key in (service.write_key, service.read_key, wrong):
        assert key not in log
        assert key[16:] not in log, "not even the secret part"


def test_cors_is_closed_unless_origins_are_listed(start_server: StartService) -> None:
    preflight = {
        "Origin": "https://evil.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    closed = start_server()
    with closed.client() as client:
        answer = client.options(CANCEL, headers=preflight)
        simple = client.get("/api/v1/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in answer.headers
    assert "access-control-allow-origin" not in simple.headers

    opened = start_server(cors_origins='["https://dash.example"]')
    with opened.client() as client:
        allowed = client.options(CANCEL, headers={**preflight, "Origin": "https://dash.example"})
        other = client.options(CANCEL, headers=preflight)
    assert allowed.headers["access-control-allow-origin"] == "https://dash.example"
    assert "access-control-allow-origin" not in other.headers


def test_a_body_over_the_limit_is_refused_while_it_streams(start_server: StartService) -> None:
    server = start_server(max_body_kb=1)
    big = b'{"key": "' + b"x" * 4096 + b'"}'
    with server.client() as client:
        declared = client.post(
            "/api/v1/session", content=big, headers={"Content-Type": "application/json"}
        )
        chunked = client.post(
            "/api/v1/session",
            content=iter([big[:1000], big[1000:]]),
            headers={"Content-Type": "application/json"},
        )
        small = client.post("/api/v1/session", json={"key": "short"})
    assert declared.status_code == 413
    assert chunked.status_code == 413
    assert chunked.headers["content-type"] == "application/problem+json"
    assert small.status_code == 401


def test_errors_are_problem_details_without_tracebacks(service: ServiceProcess) -> None:
    with service.client() as client:
        missing = client.get("/api/v1/nothing-here")
        invalid = client.post("/api/v1/session", json={"nokey": 1})
        not_json = client.post(
            "/api/v1/session", content=b"{", headers={"Content-Type": "application/json"}
        )
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert invalid.status_code == 422
    assert invalid.json()["field"] == "key"
    assert not_json.status_code == 422
    for answer in (missing, invalid, not_json):
        assert "Traceback" not in answer.text
