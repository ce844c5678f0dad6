"""The OpenAPI schema fuzzed with schemathesis against a real server: whatever the
inputs, no 5xx, and every response (status, content type, body) as the schema says.

Authenticated with a write key, on a store holding one real batch, one real group and
one schedule (so the lists answer with items, not only an empty page, and the routes of
one of them are tried with its real id or name too). The quick variant runs a few examples per
operation; ``-m slow`` runs many more.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from service_server import ServiceProcess, start_service

REPO = Path(__file__).resolve().parents[3]
SCHEDULE = "nightly"
pytestmark = pytest.mark.browser
Fuzzed = tuple[ServiceProcess, dict[str, str]]
"""The server and the real ids: batch_id, group_id, a schedule's name."""
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory, site: Any) -> Iterator[Fuzzed]:
    workdir = tmp_path_factory.mktemp("fuzz")
    shutil.copy(REPO / "examples" / "customers.csv", workdir)
    shutil.copy(REPO / "examples" / "add_customer.yaml", workdir)
    server = start_service(workdir)
    try:
        ran = server.cli(
            "run", "customers.csv", "--flow", "add_customer.yaml", "--base-url", str(site.url),
            "--quiet", timeout=180,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stdout + ran.stderr
        found = re.search(r"\d{8}-\d{6}-[0-9a-f]{6}", ran.stdout)
        assert found, ran.stdout
        grouped = server.cli(
            "run", "*.csv", "--flow", "add_customer.yaml", "--base-url", str(site.url),
            "--quiet", timeout=180,
        )  # fmt: skip
        group = re.search(r"group-\d{8}-\d{6}-[0-9a-f]{6}", grouped.stdout + grouped.stderr)
        assert group, grouped.stdout + grouped.stderr
        added = server.cli(
            "schedule", "add", SCHEDULE, "customers.csv", "--cron", "0 2 * * *",
            "--flow", "add_customer.yaml",
        )  # fmt: skip
        assert added.returncode == 0, added.stdout + added.stderr
        yield server, {"batch_id": found.group(), "group_id": group.group(), "name": SCHEDULE}
    finally:
        server.stop()


def _fuzz(server: ServiceProcess, real_ids: dict[str, str], examples: int) -> list[str]:
    """Every operation of the schema, in positive and negative modes, with random path
    parameters and with the real batch's (or group's) id; the failures found, as text."""
    api = schemathesis.openapi.from_url(f"{server.base_url}/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {server.write_key}"}
    failures: list[str] = []
    for result in api.get_all_operations():
        operation = result.ok()
        real = {k: v for k, v in real_ids.items() if f"{{{k}}}" in operation.path} or None
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for path_parameters in (None, real) if real else (None,):
                strategy = operation.as_strategy(mode, path_parameters=path_parameters)

                @given(case=strategy)
                @settings(
                    max_examples=examples,
                    deadline=None,
                    suppress_health_check=list(HealthCheck),
                    derandomize=True,
                    database=None,
                )
                def run(case: Any) -> None:
                    case.call_and_validate(
                        base_url=server.base_url, headers=headers, checks=CHECKS, timeout=60
                    )

                try:
                    run()
                except Unsatisfiable:  # negative mode: an operation with nothing to get wrong
                    continue
                except (Exception, FailureGroup) as error:  # reported together below
                    failures.append(f"{operation.label} ({mode.value}): {error}")
    return failures


def test_api_answers_as_its_schema_says(fuzzed_server: Fuzzed) -> None:
    failures = _fuzz(*fuzzed_server, examples=8)
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
def test_api_answers_as_its_schema_says_long(fuzzed_server: Fuzzed) -> None:
    failures = _fuzz(*fuzzed_server, examples=150)
    assert not failures, "\n\n".join(failures)
