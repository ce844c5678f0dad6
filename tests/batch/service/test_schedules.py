"""Schedules in a real server: added through ``/api/v1/schedules``, fired by the
server's own scheduler (its batch run against the local site by the server's
launcher), paused, refused with the field at fault; two servers on one store firing a
slot once; ``retention_days`` applied by the server.

No test sleeps until a cron slot: a yearly schedule (``0 0 1 1 *``) is added, then its
``since`` (creation) is moved back two years in the store, as if it had been added
then and no server had run since: its newest slot is due at once, and the next one is
a year away. The servers tick every 0.1 s (``schedule_tick_s``).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from paths import EXAMPLES
from service_server import ServiceProcess, StartService, start_service
from sqlalchemy import text

from batch.engine import BatchEngine
from batch.exceptions import BatchNotFoundError
from batch.models import BatchStatus, JobStatus
from batch.schedule import add_schedule
from batch.schedule.cron import parse_cron
from batch.store import ManifestStore, default_store_path
from batch.store import _codec as codec
from batch.store._schedules import ScheduleStore

pytestmark = pytest.mark.browser

YEARLY = "0 0 1 1 *"
FAST = {"schedule_tick_s": 0.1, "retry_delay": 0, "jitter": 0, "step_timeout_s": 5}


def two_customers(folder: Path) -> None:
    """The example flow and a two-row CSV of its customers in ``folder``."""
    lines = (EXAMPLES / "customers.csv").read_text(encoding="utf-8").splitlines()
    (folder / "customers.csv").write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    (folder / "add_customer.yaml").write_bytes((EXAMPLES / "add_customer.yaml").read_bytes())


def backdate(store_url: str, name: str, years: int = 2) -> None:
    """The schedule as if added ``years`` ago: its newest slot is due now."""
    since = codec.to_iso(datetime.now(UTC) - timedelta(days=366 * years))
    with ManifestStore(store_url) as store, store.transaction() as conn:
        conn.execute(
            text("UPDATE schedules SET since = :since WHERE name = :name"),
            {"since": since, "name": name},
        )


def poll(what: Callable[[], Any], timeout: float = 90, why: str = "") -> Any:
    """``what()`` once it is truthy (the server works meanwhile)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting: {why}")


def store_url(server: ServiceProcess) -> str:
    return str(default_store_path(server.artifacts))


def schedule_body(name: str, **options: Any) -> dict[str, Any]:
    return {
        "name": name, "cron": YEARLY, "timezone": "Europe/Paris",
        "csv_path": "customers.csv", "flow_path": "add_customer.yaml", **options,
    }  # fmt: skip


def test_a_schedule_added_through_the_api_fires_in_the_server(
    start_server: StartService, site_url: str, site: Any
) -> None:
    server = start_server(base_url=site_url, **FAST)
    two_customers(server.workdir)
    with server.client(server.write_key) as writer, server.client(server.read_key) as reader:
        added = writer.post("/api/v1/schedules", json=schedule_body("nightly", retries=1))
        assert added.status_code == 201, added.text
        assert added.headers["Location"] == "/api/v1/schedules/nightly"
        info = added.json()
        next_run = parse_cron(YEARLY, "Europe/Paris").following(datetime.now(UTC))
        assert datetime.fromisoformat(info["next_run"]) == next_run  # midnight in Paris
        assert info["last_outcome"] is None
        assert info["last_batch"] is None
        assert info["options"]["max_retries"] == 1
        control = writer.post("/api/v1/schedules", json=schedule_body("held", priority="low"))
        assert control.status_code == 201, control.text
        assert writer.post("/api/v1/schedules/held/pause").json()["paused"] is True

        for name in ("nightly", "held"):  # both have a due slot now; one is paused
            backdate(store_url(server), name)

        def last_batch() -> dict[str, Any] | None:
            found: dict[str, Any] = reader.get("/api/v1/schedules/nightly").json()
            batch = found["last_batch"] or {}
            return found if batch.get("status") == BatchStatus.FINISHED.value else None

        shown = poll(last_batch, why="the schedule's batch to finish")
        assert shown["last_outcome"] == "fired"
        assert shown["last_batch"]["counts"] == {JobStatus.COMPLETED.value: 2}
        assert len(site.state.customers) == 2
        batch_id = shown["last_batch_id"]
        with ManifestStore(store_url(server)) as store:
            settings = store.get_manifest(batch_id).settings
        assert settings["schedule"]["name"] == "nightly"
        # through the server's launcher, with the schedule's options
        assert settings["service_options"]["retries"] == 1
        assert reader.get(f"/api/v1/batches/{batch_id}").status_code == 200

        listed = {s["name"]: s for s in reader.get("/api/v1/schedules").json()}
        assert listed["nightly"]["last_batch_id"] == batch_id
        assert listed["held"]["last_outcome"] is None  # the ticks that fired nightly passed it
        assert listed["held"]["next_run"] is None
        resumed = writer.post("/api/v1/schedules/held/resume").json()
        assert resumed["paused"] is False
        assert resumed["next_run"] is not None
        assert writer.delete("/api/v1/schedules/held").status_code == 204
        assert reader.get("/api/v1/schedules/held").status_code == 404
        batches = reader.get("/api/v1/batches").json()
        assert [b["batch_id"] for b in batches["items"]] == [batch_id]


def test_a_schedule_on_a_directory_fires_a_group_in_the_server(
    start_server: StartService, site_url: str, site: Any
) -> None:
    server = start_server(base_url=site_url, **FAST)
    two_customers(server.workdir)
    exports = server.workdir / "exports"
    exports.mkdir()
    lines = (server.workdir / "customers.csv").read_text(encoding="utf-8").splitlines()
    (exports / "a.csv").write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")
    (exports / "b.csv").write_text("\n".join([lines[0], lines[2]]) + "\n", encoding="utf-8")
    (exports / "bad.csv").write_text("colour\nred\n", encoding="utf-8")
    with server.client(server.write_key) as writer, server.client(server.read_key) as reader:
        added = writer.post("/api/v1/schedules", json=schedule_body("folder", csv_path="exports"))
        assert added.status_code == 201, added.text
        assert added.json()["csv_path"] == str(exports.resolve())
        backdate(store_url(server), "folder")

        def finished() -> dict[str, Any] | None:
            found: dict[str, Any] = reader.get("/api/v1/schedules/folder").json()
            batch = found["last_batch"] or {}
            return found if batch.get("status") == BatchStatus.FINISHED.value else None

        shown = poll(finished, why="the schedule's group to finish")
        group_id = shown["last_batch_id"]
        assert group_id.startswith("group-")
        assert shown["last_batch"] | {"counts": None} == {
            "pruned": False, "status": "finished", "total": 2, "counts": None,
            "group": True, "batches": 2, "refused": 1, "pruned_batches": 0,
        }  # fmt: skip
        group = reader.get(f"/api/v1/groups/{group_id}").json()
        assert [r["path"] for r in group["refused"]] == [str(exports.resolve() / "bad.csv")]
        assert group["counts"]["completed"] == 2
        with ManifestStore(store_url(server)) as store:
            for batch in group["batches"]:
                settings = store.get_manifest(batch["batch_id"]).settings
                assert settings["schedule"]["name"] == "folder"
                assert "service_options" in settings
    assert len(site.state.customers) == 2


def test_the_schedule_api_refuses_naming_the_field(
    start_server: StartService, tmp_path: Path
) -> None:
    server = start_server(**FAST)
    two_customers(server.workdir)
    outside = tmp_path / "outside.csv"
    outside.write_text("a\n1\n", encoding="utf-8")

    def refused(client: httpx.Client, status: int, field: str, **changes: Any) -> str:
        body = {k: v for k, v in {**schedule_body("bad"), **changes}.items() if v is not None}
        answer = client.post("/api/v1/schedules", json=body)
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["field"] == field, answer.text
        detail: str = answer.json()["detail"]
        return detail

    with server.client(server.write_key) as writer:
        detail = refused(writer, 422, "cron", cron="61 * * * *")
        assert "not a valid cron expression" in detail
        assert "61" in detail
        assert "has 3 fields" in refused(writer, 422, "cron", cron="0 2 *")
        assert "never fires" in refused(writer, 422, "cron", cron="0 0 31 2 *")
        assert "not a known time zone" in refused(writer, 422, "timezone", timezone="Paris")
        assert "outside the base directory" in refused(
            writer, 422, "csv_path", csv_path=str(outside)
        )
        assert "no such CSV file or directory: gone.csv" in refused(
            writer, 422, "csv_path", csv_path="gone.csv"
        )
        refused(writer, 422, "flow", flow_path=None)
        refused(writer, 422, "flow_path", flow_path="missing.yaml")
        refused(writer, 422, "name", name="no spaces")
        refused(writer, 422, "concurrency", concurrency=0)
        assert writer.post("/api/v1/schedules", json=schedule_body("once")).status_code == 201
        assert "already exists" in refused(writer, 409, "name", name="once")
        for method, path in (("GET", ""), ("POST", "/pause"), ("POST", "/resume"), ("DELETE", "")):
            answer = writer.request(method, f"/api/v1/schedules/nope{path}")
            assert answer.status_code == 404, answer.text
            assert answer.json()["field"] == "name"
    with server.client() as anonymous:
        assert anonymous.get("/api/v1/schedules").status_code == 401
    with server.client(server.read_key) as reader:
        assert [s["name"] for s in reader.get("/api/v1/schedules").json()] == ["once"]
        assert reader.post("/api/v1/schedules", json=schedule_body("mine")).status_code == 403
        assert reader.post("/api/v1/schedules/once/pause").status_code == 403
        assert reader.delete("/api/v1/schedules/once").status_code == 403


def test_two_servers_on_one_store_fire_a_slot_once(
    start_server: StartService, site_url: str, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    two_customers(shared)
    url = str(default_store_path(shared / "artifacts"))
    servers = [start_server(base_url=site_url, store_url=url, **FAST) for _ in range(2)]
    with ManifestStore(url) as store:
        engine_settings = {"base_dir": shared, "artifacts_dir": shared / "artifacts"}
        with BatchEngine(config={**engine_settings, "store_url": url}) as engine:
            add_schedule(
                store, "nightly", YEARLY, "UTC", shared / "customers.csv",
                str(shared / "add_customer.yaml"), {}, engine.settings, datetime.now(UTC),
            )  # fmt: skip
        backdate(url, "nightly")  # both servers see it due at their next tick
        schedules = ScheduleStore(store)
        fired = poll(lambda: schedules.get("nightly").last_outcome, why="a server to fire")
        time.sleep(1)  # ten more ticks of each server: the slot is not fired again
        runs = schedules.runs("nightly")
        assert fired == "fired"
        assert [(run.outcome, run.batch_id is not None) for run in runs] == [("fired", True)]
        assert len(store.list_batches()) == 1
        batch_id = runs[0].batch_id
        assert batch_id is not None
        poll(
            lambda: store.get_manifest(batch_id).status is BatchStatus.FINISHED,
            why="the batch to finish on the server that fired it",
        )
    for server in servers:
        assert server.stop() in (0, -signal.SIGTERM), server.log()  # not killed: it stopped
        assert "Traceback" not in server.log()


def test_the_server_applies_retention_days(tmp_path: Path) -> None:
    workdir = tmp_path / "server"
    (workdir / "artifacts").mkdir(parents=True)
    two_customers(workdir)
    url = str(default_store_path(workdir / "artifacts"))
    config = {"base_dir": workdir, "artifacts_dir": workdir / "artifacts", "store_url": url}
    with BatchEngine(config=config) as engine:
        old, fresh = (
            engine.create_batch_jobs(workdir / "customers.csv", workdir / "add_customer.yaml")
            for _ in range(2)
        )
        (workdir / "artifacts" / old.batch_id).mkdir(exist_ok=True)
        with engine.store.transaction() as conn:
            conn.execute(
                text("UPDATE batches SET created_at = :at WHERE batch_id = :id"),
                {"at": codec.to_iso(datetime.now(UTC) - timedelta(days=3)), "id": old.batch_id},
            )
    server = start_service(workdir, retention_days=2, **FAST)

    def pruned() -> bool:
        with ManifestStore(url) as store:
            try:
                store.get_manifest(old.batch_id)
            except BatchNotFoundError:
                return True
        return False

    try:
        poll(pruned, timeout=30, why="the server to prune the old batch")
        assert not (workdir / "artifacts" / old.batch_id).exists()
        with server.client(server.read_key) as reader:
            assert reader.get(f"/api/v1/batches/{fresh.batch_id}").status_code == 200
            assert reader.get(f"/api/v1/batches/{old.batch_id}").status_code == 404
    finally:
        assert server.stop() in (0, -signal.SIGTERM), server.log()  # not killed: it stopped
        assert "Traceback" not in server.log()
