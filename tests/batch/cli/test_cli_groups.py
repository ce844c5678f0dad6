"""``batchwright run DIR``: a group through the real command, real Chromium, the test site."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from paths import EXAMPLES

GROUP_ID = re.compile(r"group-\d{8}-\d{6}-[0-9a-f]{6}")
HEADER = "name,email,plan,notes\n"


def batchwright(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCH_")}
    env["COLUMNS"] = "200"
    env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run(
        [sys.executable, "-m", "batch", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.browser
def test_a_directory_with_a_refused_file_runs_the_others_and_exits_2(
    tmp_path: Path, site_url: str
) -> None:
    shutil.copy(EXAMPLES / "add_customer.yaml", tmp_path)
    exports = tmp_path / "exports"
    exports.mkdir()
    for name in ("north", "south", "west"):
        rows = "".join(f"{name} {n},{name}-{n}@example.com,pro,\n" for n in range(2))
        (exports / f"{name}.csv").write_text(HEADER + rows, encoding="utf-8")
    (exports / "broken.csv").write_text("who,where\nx,y\n", encoding="utf-8")
    (exports / "readme.txt").write_text("not a CSV: left alone\n", encoding="utf-8")

    result = batchwright(
        "run", "exports", "--flow", "add_customer.yaml", "--base-url", site_url,
        "--progress", "lines", cwd=tmp_path,
    )  # fmt: skip

    assert result.returncode == 2, result.stdout + result.stderr
    assert "refused exports/broken.csv" in result.stderr
    assert "name" in result.stderr  # why: the flow's columns are not in it
    found = GROUP_ID.search(result.stdout)
    assert found, result.stdout
    group_id = found.group()
    assert "north.csv · batch" in result.stdout, "the lines name each file"
    assert f"group {group_id}: 6/6 completed" in result.stdout
    assert "readme" not in result.stdout + result.stderr

    status = batchwright("status", group_id, "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    document = json.loads(status.stdout)
    assert document["group_id"] == group_id
    assert [Path(b["csv_path"]).name for b in document["batches"]] == [
        "north.csv", "south.csv", "west.csv",
    ]  # fmt: skip
    assert [b["status"] for b in document["batches"]] == ["finished"] * 3
    assert document["counts"]["completed"] == 6
    assert [r["path"] for r in document["refused"]] == ["exports/broken.csv"]

    table = batchwright("status", group_id, cwd=tmp_path)
    assert "broken.csv" in table.stdout
    assert "refused" in table.stdout

    table_listing = batchwright("list", cwd=tmp_path).stdout
    assert f"{group_id}: " in table_listing, table_listing
    listing = json.loads(batchwright("list", "--json", cwd=tmp_path).stdout)
    assert sorted(b["batch_id"] for b in listing if b["group_id"] == group_id) == sorted(
        b["batch_id"] for b in document["batches"]
    )

    out = tmp_path / "elsewhere"
    report = batchwright("report", group_id, "--out", str(out), cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    page = (out / "index.html").read_text(encoding="utf-8")
    hrefs = re.findall(r'href="([^"]+)"', page)
    assert len(hrefs) == 3
    for href in hrefs:
        assert (out / href).resolve().is_file(), href
    assert "<tr><td>6</td><td>6</td><td>0</td>" in page, "totals: 6 rows, 6 completed, 0 failed"
    assert json.loads((out / "group.json").read_text(encoding="utf-8")) == document
