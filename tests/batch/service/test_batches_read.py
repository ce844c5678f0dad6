"""The read side of the API against a real server: real batches run by the CLI in real
Chromium on the test site (failures, screenshots, a secret column), then listed,
searched, reported and their evidence fetched through the API."""

from __future__ import annotations

import http.client
import json
import re
import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import httpx
import pytest
from service_server import ServiceProcess, start_service

REPO = Path(__file__).resolve().parents[3]
BATCH_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}")
SECRET = "hunter2"
"""Every value of the secret ``password`` column starts with it; no response may hold it."""
ROWS = (
    "name,email,plan,notes,password\n"
    "Ada Lovelace,ada@example.com,pro,,hunter2-ada\n"
    "Grace Hopper,grace@example.com,enterprise,,hunter2-grace\n"
    'Bad Row,no-at-sign,pro,"pin hunter2-bad",hunter2-bad\n'
    "Alan Turing,alan@example.com,pro,,hunter2-alan\n"
    "Broken,also-bad,pro,,hunter2-broken\n"
)

pytestmark = pytest.mark.browser


class Served:
    """The server and the batches run on its store."""

    def __init__(self, server: ServiceProcess, batches: dict[str, str]) -> None:
        self.server = server
        self.main = batches["main"]
        self.other = batches["other"]
        self.stopped = batches["stopped"]
        self.http = server.client(server.read_key)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params)

    def json(self, path: str, **params: Any) -> Any:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        return response.json()

    def batch_dir(self, batch_id: str) -> Path:
        return self.server.artifacts / batch_id


def _run(server: ServiceProcess, site_url: str, *args: str) -> str:
    result = server.cli("run", *args, "--base-url", site_url, "--quiet", timeout=180)
    found = BATCH_ID.search(result.stdout + result.stderr)
    assert found, result.stdout + result.stderr
    return found.group()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, site: Any) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("reads")
    shutil.copy(REPO / "examples" / "add_customer.yaml", workdir)
    flow = (workdir / "add_customer.yaml").read_text(encoding="utf-8")
    other = flow.replace("name: add-customer", "name: other-flow", 1)
    (workdir / "other.yaml").write_text(other, encoding="utf-8")
    (workdir / "rows.csv").write_text(ROWS, encoding="utf-8")
    (workdir / "one.csv").write_text("\n".join(ROWS.splitlines()[:2]) + "\n", encoding="utf-8")
    server = start_service(workdir)
    try:
        site_url = str(site.url)
        flow, secret = ("--flow", "add_customer.yaml"), ("--secret", "password")
        stop_early = ("--max-failures", "1", "--concurrency", "1")
        batches = {
            "main": _run(server, site_url, "rows.csv", *flow, *secret),
            "other": _run(server, site_url, "one.csv", "--flow", "other.yaml"),
            "stopped": _run(server, site_url, "rows.csv", *flow, *secret, *stop_early),
        }
        yield Served(server, batches)
    finally:
        server.stop()


# --- batches -------------------------------------------------------------------------


def test_batches_listed_newest_first_and_paged(served: Served) -> None:
    page = served.json("/api/v1/batches")
    ids = [item["batch_id"] for item in page["items"]]
    assert ids == [served.stopped, served.other, served.main]
    assert page["total"] == 3
    assert page["next_cursor"] is None
    main = page["items"][2]
    assert main["flow_name"] == "add-customer"
    assert main["total"] == 5
    assert main["counts"]["failed"] == 2

    walked, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        one = served.json("/api/v1/batches", **params)
        walked += [item["batch_id"] for item in one["items"]]
        cursor = one["next_cursor"]
        if cursor is None:
            break
    assert walked == ids
    second = served.json("/api/v1/batches", limit=1, offset=1)
    assert [item["batch_id"] for item in second["items"]] == [served.other]


def test_batches_filtered_by_status_flow_and_dates(served: Served) -> None:
    def ids(**params: Any) -> list[str]:
        return [item["batch_id"] for item in served.json("/api/v1/batches", **params)["items"]]

    assert ids(status="interrupted") == [served.stopped]
    assert ids(status=["finished", "interrupted"]) == [served.stopped, served.other, served.main]
    assert ids(flow="other-flow") == [served.other]
    assert ids(flow="add-customer", status="finished") == [served.main]
    created = served.json(f"/api/v1/batches/{served.other}")["created_at"]
    assert ids(created_after=created) == [served.stopped]
    assert ids(created_before=created) == [served.main]
    assert ids(created_after="2000-01-01T00:00:00", created_before="2000-01-02") == []


def test_one_batch_is_its_summary_json(served: Served) -> None:
    summary = served.json(f"/api/v1/batches/{served.main}")
    keys = re.findall(r"^\| `(\w+)` \|", (REPO / "docs" / "summary-json.md").read_text(), re.M)
    assert list(summary) == keys
    assert summary["batch_id"] == served.main
    assert summary["counts"]["completed"] == 3
    assert summary["counts"]["failed"] == 2
    assert (
        summary["errors_by_category"]["business"]
        + summary["errors_by_category"]["configuration"]
        + summary["errors_by_category"]["unknown"]
        == 2
    )
    cli = served.server.cli("status", served.main, "--json")
    assert json.loads(cli.stdout)["counts"] == summary["counts"]


# --- rows ----------------------------------------------------------------------------


def _numbers(page: dict[str, Any]) -> list[int]:
    return [row["number"] for row in page["items"]]


def test_rows_paged_by_cursor_and_offset(served: Served) -> None:
    path = f"/api/v1/batches/{served.main}/rows"
    first = served.json(path, limit=2)
    assert _numbers(first) == [1, 2]
    second = served.json(path, limit=2, cursor=first["next_cursor"])
    assert _numbers(second) == [3, 4]
    last = served.json(path, limit=2, cursor=second["next_cursor"])
    assert _numbers(last) == [5]
    assert last["next_cursor"] is None
    assert _numbers(served.json(path, limit=2, offset=3)) == [4, 5]


def test_rows_filtered_by_status_and_category(served: Served) -> None:
    path = f"/api/v1/batches/{served.main}/rows"
    failed = served.json(path, status="failed")
    assert _numbers(failed) == [3, 5]
    category = failed["items"][0]["category"]
    assert category
    assert _numbers(served.json(path, category=category)) == [3, 5]
    assert _numbers(served.json(path, status="completed", category=category)) == []
    assert _numbers(served.json(path, status=["completed", "failed"])) == [1, 2, 3, 4, 5]


def test_rows_searched_by_value_never_by_secret(served: Served) -> None:
    path = f"/api/v1/batches/{served.main}/rows"
    assert _numbers(served.json(path, q="GRACE")) == [2]
    assert _numbers(served.json(path, q="example.com")) == [1, 2, 4]
    # The secret column is never searched, nor a secret value inside another column.
    assert _numbers(served.json(path, q=SECRET)) == []
    assert _numbers(served.json(path, q="hunter2-bad")) == []
    assert _numbers(served.json(path, q="PIN")) == [3]
    walked = served.json(path, q="a", limit=1)
    assert _numbers(walked) == [1]
    assert walked["next_cursor"]


def test_rows_carry_their_evidence_and_masked_values(served: Served) -> None:
    rows = served.json(f"/api/v1/batches/{served.main}/rows", status="failed")["items"]
    bad = rows[0]
    assert bad["values"]["password"] == "***"
    assert bad["values"]["notes"] == "pin ***"
    artifacts = [a for attempt in bad["attempts"] for a in attempt["artifacts"]]
    screenshot = next(a for a in artifacts if a["path"].endswith(".png"))
    assert screenshot["url"].startswith(f"/api/v1/batches/{served.main}/artifacts/")
    response = served.get(screenshot["url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == (served.batch_dir(served.main) / screenshot["path"]).read_bytes()


# --- reports ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("junit.xml", "application/xml"),
        ("results.csv", "text/csv; charset=utf-8"),
        ("summary.json", "application/json"),
    ],
)
def test_reports_are_written_when_missing_and_served(
    served: Served, name: str, content_type: str
) -> None:
    on_disk = served.batch_dir(served.main) / name
    on_disk.unlink()
    response = served.get(f"/api/v1/batches/{served.main}/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert on_disk.is_file(), "written from the store as `batchwright report` does"
    assert response.content == on_disk.read_bytes()
    assert served.main in response.text


def test_html_report_is_served_with_its_type(served: Served) -> None:
    response = served.get(f"/api/v1/batches/{served.main}/report.html")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert served.main in response.text
    assert "<html" in response.text.lower()


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.rows_json = ""
        self._in_rows = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for attr in ("href", "src"):
            if found.get(attr):
                self.links.append(str(found[attr]))
        self._in_rows = tag == "script" and found.get("id") == "rows-data"

    def handle_data(self, data: str) -> None:
        if self._in_rows:
            self.rows_json += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_rows = False


def test_evidence_links_of_the_served_html_report_resolve(served: Served) -> None:
    report_url = f"{served.server.base_url}/api/v1/batches/{served.main}/report.html"
    html = served.get(report_url).text
    parser = _Links()
    parser.feed(html)
    rows = json.loads(parser.rows_json)["rows"]
    evidence = [link[0] for row in rows for key in ("sh", "tr", "o") for link in row[key]]
    assert any(link.endswith(".png") for link in evidence)
    links = [link for link in parser.links + evidence if not link.startswith(("#", "data:"))]
    assert links
    for link in links:
        absolute = urljoin(report_url, link)
        assert urlsplit(absolute).path.startswith(f"/api/v1/batches/{served.main}/artifacts/")
        response = served.get(absolute)
        assert response.status_code == 200, (link, response.text)
        relative = unquote(urlsplit(absolute).path.split("/artifacts/", 1)[1])
        assert response.content == (served.batch_dir(served.main) / relative).read_bytes()


def test_secrets_are_masked_in_every_response(served: Served) -> None:
    base = f"/api/v1/batches/{served.main}"
    bodies = [
        served.get(path).text
        for path in (
            base,
            f"{base}/rows",
            f"{base}/report.html",
            f"{base}/junit.xml",
            f"{base}/results.csv",
            f"{base}/summary.json",
            "/api/v1/batches",
        )
    ]
    for body in bodies:
        assert SECRET not in body
    assert "***" in bodies[1]


# --- artifacts: nothing outside the batch's folder -----------------------------------------


def _raw_get(served: Served, raw_path: str) -> int:
    """A request whose path is sent byte for byte (httpx would normalise ``..``)."""
    url = urlsplit(served.server.base_url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
    try:
        conn.request("GET", raw_path, headers={"Authorization": f"Bearer {served.server.read_key}"})
        return conn.getresponse().status
    finally:
        conn.close()


def test_traversal_out_of_the_batch_folder_is_refused(
    served: Served, tmp_path_factory: pytest.TempPathFactory
) -> None:
    batch_dir = served.batch_dir(served.main)
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_text("not yours", encoding="utf-8")
    (batch_dir / "link-out.txt").symlink_to(outside / "secret.txt")
    (batch_dir / "dir-out").symlink_to(outside, target_is_directory=True)
    (batch_dir / "inside.txt").write_text("yours", encoding="utf-8")
    prefix = f"/api/v1/batches/{served.main}/artifacts"
    assert _raw_get(served, f"{prefix}/inside.txt") == 200
    for attempt in (
        f"{prefix}/../{served.other}/report.html",
        f"{prefix}/../../../batchwright.db",
        f"{prefix}/%2e%2e/%2e%2e/batchwright.db",
        f"{prefix}/%2E%2E%2F{served.other}%2Freport.html",
        f"{prefix}/..%2f..%2fbatchwright.db",
        f"{prefix}//etc/passwd",
        f"{prefix}/%2Fetc%2Fpasswd",
        f"{prefix}/link-out.txt",
        f"{prefix}/dir-out/secret.txt",
        f"{prefix}/",
        f"{prefix}/missing.png",
    ):
        assert _raw_get(served, attempt) in {404}, attempt
    response = served.get(f"{prefix}/inside.txt")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]


# --- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "suffix",
    ["", "/rows", "/report.html", "/junit.xml", "/results.csv", "/summary.json", "/artifacts/x"],
)
def test_an_unknown_batch_is_a_404_problem(served: Served, suffix: str) -> None:
    response = served.get(f"/api/v1/batches/20990101-000000-abcdef{suffix}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "20990101-000000-abcdef" in response.json()["detail"]


def test_bad_paging_names_the_field(served: Served) -> None:
    for path in ("/api/v1/batches", f"/api/v1/batches/{served.main}/rows"):
        bad = served.get(path, cursor="not-a-cursor")
        assert bad.status_code == 422
        assert bad.json()["field"] == "cursor"
        both = served.get(path, cursor="x", offset=1)
        assert both.status_code == 422
        assert both.json()["field"] == "offset"
        big = served.get(path, limit=10_000)
        assert big.status_code == 422
        assert big.json()["field"] == "limit"
    status = served.get("/api/v1/batches", status="nope")
    assert status.status_code == 422
    assert status.json()["field"].startswith("status")  # "status.0": the first value


def test_reads_need_a_key(served: Served) -> None:
    with served.server.client() as anonymous:
        assert anonymous.get("/api/v1/batches").status_code == 401
        assert anonymous.get(f"/api/v1/batches/{served.main}/report.html").status_code == 401
    with served.server.client(served.server.write_key) as writer:
        assert writer.get(f"/api/v1/batches/{served.main}/rows").status_code == 200
