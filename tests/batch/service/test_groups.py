"""Groups through the API against a real server, real Chromium and the local test
site: uploads with a refused file, csv_paths with a directory, the index report's
links, idempotency, every refusal as a problem naming its field, auth."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest
from service_server import ServiceProcess, StartService

from batch.store import ManifestStore, default_store_path

pytestmark = pytest.mark.browser

VISIT = b'name: visit\nsteps:\n  - goto: "{{ base_url }}/slow?ms=0&n={{ row.n }}"\n'


def tiny_csv(*values: int) -> bytes:
    return ("n\n" + "".join(f"{n}\n" for n in values)).encode()


@pytest.fixture
def server(start_server: StartService, site_url: str) -> ServiceProcess:
    return start_server(base_url=site_url, retry_delay=0, jitter=0, step_timeout_s=5)


@pytest.fixture
def writer(server: ServiceProcess) -> Iterator[httpx.Client]:
    with server.client(server.write_key) as client:
        yield client


def wait_settled(client: httpx.Client, group_id: str, timeout: float = 120) -> dict[str, Any]:
    """The group once every batch finished and none is followed by the server."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/api/v1/groups/{group_id}").json()
        if body["status"] == "finished" and all(b["run"] == "idle" for b in body["batches"]):
            return body
        time.sleep(0.2)
    raise AssertionError(f"group {group_id} never finished: {body}")


def test_a_group_of_uploads_runs_every_file_and_names_the_refused_one(
    server: ServiceProcess, writer: httpx.Client
) -> None:
    files = [
        ("csv", (f"{name}.csv", tiny_csv(i, i + 10), "text/csv")) for i, name in enumerate("abc")
    ]
    files.append(("csv", ("bad.csv", b"m\n1\n", "text/csv")))
    files.append(("flow", ("visit.yaml", VISIT, "application/yaml")))

    answer = writer.post("/api/v1/groups", files=files, data={"concurrency": "2"})

    assert answer.status_code == 201, answer.text
    created = answer.json()
    group_id = created["group_id"]
    assert answer.headers["Location"] == f"/api/v1/groups/{group_id}"
    assert [b["file"] for b in created["batches"]] == ["a.csv", "b.csv", "c.csv"]
    assert [r["path"] for r in created["refused"]] == ["bad.csv"]
    assert "'n'" in created["refused"][0]["error"]
    assert "/uploads/" not in created["refused"][0]["error"]  # the client's name, not ours
    assert created["sources"] == ["a.csv", "b.csv", "c.csv", "bad.csv"]

    done = wait_settled(writer, group_id)
    assert done["total"] == 6
    assert done["counts"]["completed"] == 6
    assert [b["counts"]["completed"] for b in done["batches"]] == [2, 2, 2]
    assert done["has_failures"] is True  # a file was refused: not ok, as the CLI's exit 2
    assert done["ok"] is False
    with ManifestStore(default_store_path(server.artifacts)) as store:
        recorded = store.get_manifest(done["batches"][0]["batch_id"]).settings
    assert recorded["service_options"] == {"concurrency": 2}

    with server.client(server.read_key) as reader:  # a reader reads the report
        page = reader.get(done["report"])
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "bad.csv" in page.text
        links = re.findall(r'<a href="([^"]+)"', page.text)
        assert len(links) == 3
        for link in links:
            report = reader.get(urljoin(f"{server.base_url}{done['report']}", link))
            assert report.status_code == 200, link
            assert report.headers["content-type"].startswith("text/html")
        listed = reader.get("/api/v1/groups", params={"limit": 1}).json()
    assert [g["group_id"] for g in listed["items"]] == [group_id]
    assert listed["items"][0]["refused"] == 1
    assert listed["total"] == 1
    assert listed["next_offset"] is None


def test_a_group_from_a_directory_under_base_dir_replays_its_idempotency_key(
    server: ServiceProcess, writer: httpx.Client
) -> None:
    exports = server.workdir / "exports"
    exports.mkdir()
    (exports / "one.csv").write_bytes(tiny_csv(1))
    (exports / "two.csv").write_bytes(tiny_csv(2, 3))
    (exports / "notes.txt").write_text("not a CSV")
    (server.workdir / "visit.yaml").write_bytes(VISIT)
    body = {"csv_paths": ["exports"], "flow_path": "visit.yaml", "retries": 0}
    key = {"Idempotency-Key": "nightly-1"}

    answer = writer.post("/api/v1/groups", json=body, headers=key)
    again = writer.post("/api/v1/groups", json=body, headers=key)
    other = writer.post("/api/v1/groups", json=body | {"retries": 1}, headers=key)

    assert answer.status_code == 201, answer.text
    group_id = answer.json()["group_id"]
    assert [b["file"] for b in answer.json()["batches"]] == ["exports/one.csv", "exports/two.csv"]
    assert again.status_code == 201
    assert again.json()["group_id"] == group_id
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    assert other.json()["field"] == "Idempotency-Key"
    done = wait_settled(writer, group_id)
    assert done["ok"] is True
    assert done["refused"] == []
    assert done["counts"]["completed"] == 3
    assert len(writer.get("/api/v1/groups").json()["items"]) == 1


def test_refusals_are_problems_naming_the_field(
    server: ServiceProcess, writer: httpx.Client
) -> None:
    (server.workdir / "visit.yaml").write_bytes(VISIT)
    flow = ("flow", ("visit.yaml", VISIT, "application/yaml"))
    good = ("csv", ("a.csv", tiny_csv(1), "text/csv"))

    def problem(answer: httpx.Response, status: int, field: str) -> str:
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["field"] == field, answer.json()
        detail: str = answer.json()["detail"]
        return detail

    no_files = writer.post("/api/v1/groups", files=[flow])
    assert "csv" in problem(no_files, 422, "csv")
    outside = writer.post(
        "/api/v1/groups", json={"csv_paths": ["../elsewhere.csv"], "flow_path": "visit.yaml"}
    )
    assert "outside the base directory" in problem(outside, 422, "csv_paths")
    unknown_flow = writer.post("/api/v1/groups", json={"csv_paths": ["x"], "flow_name": "nope"})
    problem(unknown_flow, 422, "flow_name")
    python_flow = writer.post(
        "/api/v1/groups", files=[good, ("flow", ("f.py", b"x = 1", "text/x-python"))]
    )
    problem(python_flow, 422, "flow")
    broken_flow = writer.post(
        "/api/v1/groups", files=[good, ("flow", ("f.yaml", b"steps: 3\n", "application/yaml"))]
    )
    problem(broken_flow, 422, "flow")
    all_bad = writer.post(
        "/api/v1/groups",
        files=[
            ("csv", ("x.csv", b"m\n1\n", "text/csv")),
            ("csv", ("y.csv", b"", "text/csv")),
            flow,
        ],
    )
    detail = problem(all_bad, 422, "csv")
    assert "x.csv" in detail
    assert "y.csv" in detail
    bad_option = writer.post("/api/v1/groups", files=[good, flow], data={"concurrency": "0"})
    problem(bad_option, 422, "concurrency")
    problem(writer.get("/api/v1/groups/group-nope"), 404, "group_id")
    problem(writer.get("/api/v1/groups/group-nope/report"), 404, "group_id")
    assert writer.get("/api/v1/groups").json()["total"] == 0  # nothing was stored

    with httpx.Client(base_url=server.base_url) as anonymous:
        problem(anonymous.get("/api/v1/groups"), 401, "Authorization")
    with server.client(server.read_key) as reader:
        assert reader.get("/api/v1/groups").status_code == 200
        assert reader.post("/api/v1/groups", files=[good, flow]).status_code == 403
        assert reader.post("/api/v1/groups/group-nope/cancel").status_code == 403


def test_a_group_that_would_wait_past_max_queued_batches_gets_429(
    start_server: StartService, site_url: str
) -> None:
    server = start_server(base_url=site_url, max_running_batches=1, max_queued_batches=1)
    files = [("csv", (f"{n}.csv", tiny_csv(n), "text/csv")) for n in range(3)]
    files.append(("flow", ("visit.yaml", VISIT, "application/yaml")))
    with server.client(server.write_key) as writer:
        answer = writer.post("/api/v1/groups", files=files)
        two = writer.post("/api/v1/groups", files=files[1:])

        assert answer.status_code == 429, answer.text
        assert answer.headers["Retry-After"].isdigit()
        assert "with 3 more, 2 would" in answer.json()["detail"]
        assert two.status_code == 201, two.text  # one runs, one waits
        assert writer.get("/api/v1/groups").json()["total"] == 1
