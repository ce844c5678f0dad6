"""The write side against a real server, real Chromium and the local test site:
create (upload, paths, registered flow), idempotency, every 4xx, cancel, resume,
retry, review, and a SIGTERM mid-batch losing no row."""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from paths import EXAMPLES
from service_server import ServiceProcess, StartService, start_service

from batch.engine import BatchEngine
from batch.models import BatchManifest, BatchStatus, JobStatus
from batch.store import ManifestStore, default_store_path

pytestmark = pytest.mark.browser

CUSTOMERS = (EXAMPLES / "customers.csv").read_bytes()
ADD_CUSTOMER = (EXAMPLES / "add_customer.yaml").read_bytes()
SLOW_FLOW = b'name: slow\nsteps:\n  - goto: "{{ base_url }}/slow?ms=400&n={{ row.n }}"\n'


def slow_csv(rows: int) -> bytes:
    return ("n\n" + "".join(f"{n}\n" for n in range(rows))).encode()


def upload(
    client: httpx.Client,
    csv: bytes = CUSTOMERS,
    flow: bytes | None = ADD_CUSTOMER,
    *,
    flow_filename: str = "add_customer.yaml",
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> httpx.Response:
    files: dict[str, Any] = {"csv": ("customers.csv", csv, "text/csv")}
    if flow is not None:
        files["flow"] = (flow_filename, flow, "application/yaml")
    return client.post("/api/v1/batches", files=files, data=fields, headers=headers or {})


def manifest(server: ServiceProcess, batch_id: str) -> BatchManifest:
    with ManifestStore(default_store_path(server.artifacts)) as store:
        return store.get_manifest(batch_id)


def wait_for(
    server: ServiceProcess, batch_id: str, done: Any, timeout: float = 120
) -> BatchManifest:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = manifest(server, batch_id)
        if done(found):
            return found
        time.sleep(0.2)
    raise AssertionError(
        f"batch {batch_id} never got there: {manifest(server, batch_id)}\n{server.log()}"
    )


def settled(found: BatchManifest) -> bool:
    """Ended (finished or interrupted) with nothing running."""
    return found.status in (BatchStatus.FINISHED, BatchStatus.INTERRUPTED) and not found.counts.get(
        JobStatus.RUNNING
    )


def released(server: ServiceProcess, batch_id: str, timeout: float = 30) -> None:
    """The run's engine let go of the batch (reports written): no engine owns it."""
    deadline = time.monotonic() + timeout
    with ManifestStore(default_store_path(server.artifacts)) as store:
        while store.batch_owner(batch_id) is not None:
            assert time.monotonic() < deadline, "the batch stayed owned"
            time.sleep(0.1)
    time.sleep(0.5)  # the server forgets the run right after


@pytest.fixture
def server(start_server: StartService, site_url: str, tmp_path: Path) -> ServiceProcess:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "add_customer.yaml").write_bytes(ADD_CUSTOMER)
    return start_server(
        base_url=site_url, retry_delay=0, jitter=0, concurrency=2, step_timeout_s=5,
        flows_dir=flows,
    )  # fmt: skip


@pytest.fixture
def writer(server: ServiceProcess) -> Iterator[httpx.Client]:
    with server.client(server.write_key) as client:
        yield client


def test_an_uploaded_batch_runs_to_completion(
    server: ServiceProcess, writer: httpx.Client, site: Any
) -> None:
    answer = upload(writer, secrets="notes")
    assert answer.status_code == 202, answer.text
    body = answer.json()
    batch_id = body["batch_id"]
    assert answer.headers["Location"] == f"/api/v1/batches/{batch_id}"
    assert body["total"] == 8
    assert body["flow_name"] == "add-customer"
    assert body["run"] in ("queued", "running")
    done = wait_for(server, batch_id, lambda m: m.status is BatchStatus.FINISHED)
    released(server, batch_id)
    assert done.counts == {JobStatus.COMPLETED: 8}
    assert len(site.state.customers) == 8
    assert (server.artifacts / batch_id / "report.html").is_file()
    assert done.settings["service_options"] == {"secrets": ["notes"]}
    assert "Prefers email" not in (server.artifacts / batch_id / "report.html").read_text()


def test_create_by_path_and_by_registered_flow_name(
    server: ServiceProcess, writer: httpx.Client
) -> None:
    (server.workdir / "customers.csv").write_bytes(CUSTOMERS)
    (server.workdir / "add_customer.yaml").write_bytes(ADD_CUSTOMER)
    by_path = writer.post(
        "/api/v1/batches",
        json={"csv_path": "customers.csv", "flow_path": "add_customer.yaml", "concurrency": 3},
    )
    assert by_path.status_code == 202, by_path.text
    by_name = upload(writer, flow=None, flow_name="add_customer")
    assert by_name.status_code == 202, by_name.text
    for answer in (by_path, by_name):
        found = wait_for(server, answer.json()["batch_id"], settled)
        assert found.status is BatchStatus.FINISHED
    assert manifest(server, by_path.json()["batch_id"]).settings["service_options"] == {
        "concurrency": 3
    }


def test_the_same_idempotency_key_returns_the_first_batch(
    server: ServiceProcess, writer: httpx.Client
) -> None:
    key = {"Idempotency-Key": "order-42"}
    first = upload(writer, headers=key)
    again = upload(writer, headers=key)
    assert first.status_code == again.status_code == 202
    assert again.json()["batch_id"] == first.json()["batch_id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other_body = upload(writer, csv=CUSTOMERS.replace(b"Ada", b"Ida"), headers=key)
    assert other_body.status_code == 422
    assert other_body.json()["field"] == "Idempotency-Key"
    with server.client(server.read_key) as reader:  # another principal, another key space
        assert upload(reader, headers=key).status_code == 403
    with ManifestStore(default_store_path(server.artifacts)) as store:
        assert len(store.list_batches()) == 1
    wait_for(server, first.json()["batch_id"], settled)
    assert not list((server.artifacts / "uploads").iterdir())[1:], "replays kept no upload"


def test_every_refusal_is_a_problem_naming_the_field(
    server: ServiceProcess, writer: httpx.Client
) -> None:
    cases: dict[str, tuple[httpx.Response, int, str | None]] = {}
    with server.client() as anonymous:
        cases["no key"] = (upload(anonymous), 401, "Authorization")
    with server.client(server.read_key) as reader:
        cases["read key"] = (upload(reader), 403, None)
    no_boundary = writer.post(
        "/api/v1/batches", content=b"x", headers={"Content-Type": "multipart/form-data"}
    )
    cases["no boundary"] = (no_boundary, 400, "Content-Type")
    text = writer.post("/api/v1/batches", content=b"x", headers={"Content-Type": "text/plain"})
    cases["text/plain"] = (text, 415, "Content-Type")
    cases["no csv"] = (
        writer.post("/api/v1/batches", files={"flow": ("f.yaml", ADD_CUSTOMER)}),
        422,
        "csv",
    )
    cases["no flow"] = (upload(writer, flow=None), 422, "flow")
    cases["python flow"] = (upload(writer, flow=b"x = 1", flow_filename="f.py"), 422, "flow")
    cases["bad flow"] = (upload(writer, flow=b"name: x\nsteps: 3\n"), 422, "flow")
    cases["unknown flow name"] = (upload(writer, flow=None, flow_name="nope"), 422, "flow_name")
    cases["missing column"] = (upload(writer, csv=b"name\nAda\n"), 422, "csv")
    cases["binary csv"] = (upload(writer, csv=b"\x89PNG\r\n\x1a\n" + bytes(range(256))), 422, "csv")
    cases["empty csv"] = (upload(writer, csv=b""), 422, "csv")
    cases["bad option"] = (upload(writer, concurrency="0"), 422, "concurrency")
    cases["unknown option"] = (upload(writer, colour="blue"), 422, "colour")
    cases["secret not a column"] = (upload(writer, secrets="pin"), 422, "secrets")
    outside = writer.post(
        "/api/v1/batches", json={"csv_path": "../../etc/x.csv", "flow_name": "add_customer"}
    )
    cases["path outside base_dir"] = (outside, 422, "csv_path")
    nul = writer.post("/api/v1/batches", json={"csv_path": "c.csv", "flow_path": "a\u0000.yaml"})
    cases["NUL in flow_path"] = (nul, 422, "flow_path")
    cases["not JSON"] = (
        writer.post(
            "/api/v1/batches/x/retry", content=b"{", headers={"Content-Type": "application/json"}
        ),
        400,
        "body",
    )
    cases["unknown batch"] = (writer.post("/api/v1/batches/nope/cancel"), 404, "batch_id")
    for case, (answer, status, field) in cases.items():
        assert answer.status_code == status, (case, answer.text)
        assert answer.headers["content-type"] == "application/problem+json", case
        assert answer.json().get("field") == field, (case, answer.json())
        assert "Traceback" not in answer.text, case
    missing = cases["missing column"][0].json()["detail"]
    assert "no column 'email' in the CSV" in missing, "the CLI's own message"
    assert "add_customer.yaml" in missing, "the client's file name"
    binary = cases["binary csv"][0].json()["detail"]
    assert "customers.csv" in binary
    assert str(server.artifacts) not in missing + binary, "no server path of the upload"
    with ManifestStore(default_store_path(server.artifacts)) as store:
        assert store.list_batches() == []
    assert not any((server.artifacts / "uploads").iterdir()), "refused uploads are removed"


def test_an_upload_over_max_file_size_is_refused_while_streaming(
    start_server: StartService, site_url: str
) -> None:
    server = start_server(base_url=site_url, max_file_size_mb=0.01)  # ~10 KB
    big = b"name,email,plan,notes\n" + b"Ada,a@example.com,pro,x\n" * 5000  # ~120 KB

    def chunks() -> Iterator[bytes]:
        boundary = b"--b0undary"
        yield boundary + b'\r\nContent-Disposition: form-data; name="csv"; filename="c.csv"\r\n\r\n'
        for start in range(0, len(big), 4096):
            yield big[start : start + 4096]
        yield b"\r\n" + boundary + b"--\r\n"

    with server.client(server.write_key) as writer:
        declared = upload(writer, csv=big)
        streamed = writer.post(
            "/api/v1/batches",
            content=chunks(),
            headers={"Content-Type": "multipart/form-data; boundary=b0undary"},
        )
    assert declared.status_code == 413
    assert streamed.status_code == 413
    assert streamed.json()["field"] == "csv"
    assert "max_file_size_mb" in streamed.json()["detail"]
    assert not any((server.artifacts / "uploads").iterdir())


def test_429_with_retry_after_when_too_many_batches_wait(
    start_server: StartService, site_url: str
) -> None:
    server = start_server(
        base_url=site_url, max_running_batches=1, max_queued_batches=0, concurrency=1
    )
    with server.client(server.write_key) as writer:
        first = upload(writer, csv=slow_csv(10), flow=SLOW_FLOW, flow_filename="slow.yaml")
        assert first.status_code == 202
        refused = upload(writer, csv=slow_csv(2), flow=SLOW_FLOW, flow_filename="slow.yaml")
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0
        writer.post(f"/api/v1/batches/{first.json()['batch_id']}/cancel").raise_for_status()


def test_cancel_then_resume_finishes_the_batch(
    server: ServiceProcess, writer: httpx.Client
) -> None:
    created = upload(writer, csv=slow_csv(16), flow=SLOW_FLOW, flow_filename="slow.yaml")
    batch_id = created.json()["batch_id"]
    wait_for(server, batch_id, lambda m: m.counts.get(JobStatus.COMPLETED, 0) >= 2)
    busy = writer.post(f"/api/v1/batches/{batch_id}/resume")
    assert busy.status_code == 409, "a running batch is not resumed"
    assert writer.post(f"/api/v1/batches/{batch_id}/cancel").status_code == 202
    stopped = wait_for(server, batch_id, settled)
    released(server, batch_id)
    assert stopped.status is BatchStatus.INTERRUPTED
    assert stopped.counts.get(JobStatus.CANCELLED, 0) > 0
    resumed = writer.post(f"/api/v1/batches/{batch_id}/resume")
    assert resumed.status_code == 202, resumed.text
    done = wait_for(server, batch_id, lambda m: m.status is BatchStatus.FINISHED)
    released(server, batch_id)
    assert done.counts == {JobStatus.COMPLETED: 16}
    nothing = writer.post(f"/api/v1/batches/{batch_id}/resume")
    assert nothing.status_code == 409


def test_retry_runs_failed_rows_again(server: ServiceProcess, writer: httpx.Client) -> None:
    bad = CUSTOMERS + b"Bad Email,not-an-email,pro,\n"
    created = upload(writer, csv=bad)
    batch_id = created.json()["batch_id"]
    done = wait_for(server, batch_id, settled)
    released(server, batch_id)
    assert done.counts == {JobStatus.COMPLETED: 8, JobStatus.FAILED: 1}
    transient = writer.post(f"/api/v1/batches/{batch_id}/retry", json={"categories": ["transient"]})
    assert transient.status_code == 409, "no failed row of that category"
    assert transient.json()["field"] == "job_ids"
    retried = writer.post(f"/api/v1/batches/{batch_id}/retry", json={"retries": 0})
    assert retried.status_code == 202, retried.text
    again = wait_for(server, batch_id, lambda m: settled(m) and m.counts.get(JobStatus.FAILED))
    released(server, batch_id)
    assert again.counts == {JobStatus.COMPLETED: 8, JobStatus.FAILED: 1}
    with ManifestStore(default_store_path(server.artifacts)) as store:
        failed = next(iter(store.iter_jobs(batch_id, [JobStatus.FAILED])))
    assert len(failed.attempts) == 2, "one attempt, then one more by the retry"
    bad_category = writer.post(f"/api/v1/batches/{batch_id}/retry", json={"categories": ["x"]})
    assert bad_category.status_code == 422


def test_review_with_nothing_to_settle_and_a_bad_body(
    server: ServiceProcess, writer: httpx.Client
) -> None:
    created = upload(writer)
    batch_id = created.json()["batch_id"]
    wait_for(server, batch_id, settled)
    released(server, batch_id)
    none = writer.post(f"/api/v1/batches/{batch_id}/review", json={"decision": "completed"})
    assert none.status_code == 200
    assert none.json()["counts"]["completed"] == 8
    wrong = writer.post(f"/api/v1/batches/{batch_id}/review", json={"decision": "maybe"})
    assert wrong.status_code == 422
    assert wrong.json()["field"] == "decision"


def test_sigterm_mid_batch_loses_no_row_and_leaves_it_resumable(
    server: ServiceProcess, writer: httpx.Client, site_url: str
) -> None:
    created = upload(writer, csv=slow_csv(20), flow=SLOW_FLOW, flow_filename="slow.yaml")
    batch_id = created.json()["batch_id"]
    wait_for(server, batch_id, lambda m: m.counts.get(JobStatus.COMPLETED, 0) >= 2)
    assert server.stop() in (0, -signal.SIGTERM), "uvicorn re-raises the signal it handled"
    assert "Application shutdown complete" in server.log()
    stopped = manifest(server, batch_id)
    assert stopped.status is BatchStatus.INTERRUPTED
    assert not stopped.counts.get(JobStatus.RUNNING), "running rows finished or went back"
    assert stopped.counts.get(JobStatus.COMPLETED, 0) < 20
    assert sum(stopped.counts.values()) == 20

    restarted = start_service(server.workdir, base_url=site_url, retry_delay=0, jitter=0)
    try:
        with restarted.client(restarted.write_key) as client:
            assert client.post(f"/api/v1/batches/{batch_id}/resume").status_code == 202
        done = wait_for(restarted, batch_id, lambda m: m.status is BatchStatus.FINISHED)
        assert done.counts == {JobStatus.COMPLETED: 20}
    finally:
        restarted.stop()
    shutil.rmtree(server.artifacts / "uploads", ignore_errors=True)


def test_review_settles_rows_of_unknown_outcome(
    server: ServiceProcess, writer: httpx.Client, site_url: str
) -> None:
    """Two rows interrupted past their commit step (an engine that died): one marked
    completed, the other pending, which the server then runs."""
    (server.workdir / "customers.csv").write_bytes(CUSTOMERS)
    (server.workdir / "add_customer.yaml").write_bytes(ADD_CUSTOMER)
    config = {"artifacts_dir": server.artifacts, "base_dir": server.workdir, "base_url": site_url}
    with BatchEngine(config=config) as engine:
        batch_id = engine.create_batch_jobs("customers.csv", "add_customer.yaml").batch_id
        store = engine.store
        first, second = store.job_ids(batch_id)[:2]
        for job_id in (first, second):
            token = store.claim_job(job_id, "gone-host:1:dead", 30)
            assert token is not None
            store.mark_reached_commit(job_id, token)
        assert store.release_owner("gone-host:1:dead") == (0, 2)
    entered = writer.post(
        f"/api/v1/batches/{batch_id}/review", json={"decision": "completed", "job_ids": [first]}
    )
    assert entered.status_code == 200, entered.text
    assert entered.json()["counts"]["needs_review"] == 1
    again = writer.post(
        f"/api/v1/batches/{batch_id}/review", json={"decision": "pending", "job_ids": [second]}
    )
    assert again.status_code == 200
    done = wait_for(server, batch_id, lambda m: m.status is BatchStatus.FINISHED)
    released(server, batch_id)
    assert done.counts == {JobStatus.COMPLETED: 8}
    with ManifestStore(default_store_path(server.artifacts)) as store:
        assert store.get_job(first).attempts == [], "settled by review, never run"
        assert len(store.get_job(second).attempts) == 1
    unknown = writer.post(
        f"/api/v1/batches/{batch_id}/review", json={"decision": "completed", "job_ids": ["nope"]}
    )
    assert unknown.status_code == 422
    assert unknown.json()["field"] == "job_ids"
