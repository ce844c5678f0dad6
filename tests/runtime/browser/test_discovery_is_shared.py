"""Tests and benchmarks launch Chromium the way the product does (``find_chromium``,
``launch_args``): a hard-coded path or a copy of the flags would test another browser
setup than the one users get, and break on a machine where Chromium lives elsewhere."""

from __future__ import annotations

import re

from paths import REPO

EXEMPT = {
    "tests/runtime/browser/test_browser.py",
    "tests/runtime/browser/test_discovery_is_shared.py",
}
"""The tests of discovery and flags themselves, which must name paths and flags (and
this one, which names what it looks for)."""
HARD_CODED = re.compile(
    r"/usr/bin/chrom|/usr/lib/chromium|['\"]--(?:no-sandbox|disable-gpu|disable-dev-shm-usage)['\"]"
)


def test_no_test_or_benchmark_hard_codes_chromium_or_its_flags() -> None:
    offenders = []
    for folder in ("tests", "benchmarks"):
        for path in sorted((REPO / folder).rglob("*")):
            relative = path.relative_to(REPO).as_posix()
            if path.suffix not in {".py", ".js"} or relative in EXEMPT:
                continue
            if "node_modules" in path.parts:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if HARD_CODED.search(line):
                    offenders.append(f"{relative}:{number}: {line.strip()}")
    assert not offenders, "use runtime.browser.find_chromium and launch_args:\n" + "\n".join(
        offenders
    )
