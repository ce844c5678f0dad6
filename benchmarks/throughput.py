"""The N-row form flow, side by side: (a) naive, (b) minimal asyncio loop, (c)
batchwright at each isolation level and ``auto``, (d) Playwright Test with 1, 2 and
4 workers. Runs are interleaved (every contender once per repetition) and each
figure is the median over repetitions; ratios are to (b)."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from batch.settings import load_settings
from benchmarks.measure import Result, median, percentile, run_measured
from benchmarks.site import serve_site, write_rows
from runtime.browser import find_chromium, launch_args

__all__ = ["Contender", "contenders", "run_throughput"]

PW_DIR = Path(__file__).with_name("playwright_test")


@dataclass(frozen=True)
class Contender:
    name: str
    argv: Callable[[Path, str, Path], list[str]]
    """(csv, url, scratch dir) -> command line."""
    env: Callable[[Path, str, Path], dict[str, str]] | None = None


def _py(*args: str) -> Callable[[Path, str, Path], list[str]]:
    def argv(csv: Path, url: str, _scratch: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "benchmarks.contenders",
            *args,
            "--csv",
            str(csv),
            "--url",
            url,
        ]

    return argv


def _playwright_test(workers: int) -> Contender:
    def argv(_csv: Path, _url: str, _scratch: Path) -> list[str]:
        return [
            str(PW_DIR / "node_modules" / ".bin" / "playwright"),
            "test",
            f"--workers={workers}",
        ]

    def env(csv: Path, url: str, scratch: Path) -> dict[str, str]:
        settings = load_settings({}, read_env=False)
        return {
            "BENCH_CSV": str(csv),
            "BENCH_URL": url,
            "BENCH_JSON": str(scratch / f"pwtest-{workers}.json"),
            "BENCH_CHROMIUM": str(find_chromium(settings)),
            "BENCH_CHROMIUM_ARGS": " ".join(launch_args(headless=True)),
        }

    return Contender(f"d. Playwright Test, {workers} workers", argv, env)


def playwright_test_missing() -> str | None:
    """Why (d) cannot run here, or None."""
    if not shutil.which("node") or not shutil.which("npm"):
        return "node/npm not found: skipping (d) Playwright Test"
    if not (PW_DIR / "node_modules" / ".bin" / "playwright").exists():
        return f"(d) skipped: run `npm ci` in {PW_DIR} first (needs node and npm)"
    return None


def contenders(
    concurrency: int, *, naive: bool = True, pwtest: bool = True, only: Sequence[str] = ()
) -> list[Contender]:
    """Every contender, or (``only``) those whose name contains one of the given words;
    the baseline (b) is always first, since every ratio is to it."""
    c = str(concurrency)
    chosen = [Contender(f"b. minimal loop, {c} at once", _py("minimal", "--concurrency", c))]
    if naive:
        chosen.append(Contender("a. naive: a browser per row", _py("naive")))
    chosen += [
        Contender(
            f"c. batchwright {isolation}, {c}",
            _py("batchwright", "--isolation", isolation, "--concurrency", c),
        )
        for isolation in ("context", "recycled", "page")
    ]
    chosen.append(
        Contender("c. batchwright context, auto", _py("batchwright", "--concurrency", "auto"))
    )
    if pwtest:
        chosen += [_playwright_test(w) for w in (1, 2, 4)]
    if only:
        chosen = chosen[:1] + [x for x in chosen[1:] if any(word in x.name for word in only)]
    return chosen


def _pwtest_latencies(scratch: Path, result: Result, name: str) -> None:
    """Playwright Test reports each test's duration in its JSON report."""
    workers = name.split(", ")[1].split(maxsplit=1)[0]
    report = json.loads((scratch / f"pwtest-{workers}.json").read_text())
    durations: list[float] = []
    stack = list(report.get("suites", []))
    while stack:
        suite = stack.pop()
        stack += suite.get("suites", [])
        for spec in suite.get("specs", []):
            for test in spec.get("tests", []):
                for res in test.get("results", []):
                    if res.get("status") != "passed":
                        raise RuntimeError(f"Playwright Test row failed: {spec.get('title')}")
                    durations.append(res["duration"] / 1000)
    result.latencies_s = durations


def run_throughput(
    rows: int, reps: int, concurrency: int, *, naive: bool = True, only: Sequence[str] = ()
) -> list[str]:
    """Run the contenders ``reps`` times, interleaved; return the table's lines."""
    missing = playwright_test_missing()
    if missing:
        print(missing, flush=True)
    chosen = contenders(concurrency, naive=naive, pwtest=missing is None, only=only)
    results: dict[str, list[Result]] = {c.name: [] for c in chosen}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, serve_site() as url:
        scratch = Path(tmp)
        csv = write_rows(scratch / "rows.csv", rows)
        for rep in range(1, reps + 1):
            for contender in chosen:
                env = contender.env(csv, url, scratch) if contender.env else None
                cwd = PW_DIR if contender.env else None
                argv = contender.argv(csv, url, scratch)
                result = (
                    run_measured(argv, rows, env=env, cwd=cwd)
                    if cwd
                    else run_measured(argv, rows, env=env)
                )
                if contender.env:
                    _pwtest_latencies(scratch, result, contender.name)
                results[contender.name].append(result)
                used = result.extra.get("concurrency", "")
                print(
                    f"  rep {rep} {contender.name}: {result.rows_per_s:.2f} rows/s"
                    + (f" (concurrency {used})" if str(used).startswith("auto") else ""),
                    flush=True,
                )
    return _table(results, rows, reps)


def _table(results: dict[str, list[Result]], rows: int, reps: int) -> list[str]:
    base = median([r.rows_per_s for r in next(iter(results.values()))])
    lines = [
        f"Throughput: {rows} rows, median of {reps} interleaved runs; ratio = rows/s vs (b)",
        "",
        "| contender | rows/s | ratio to (b) | p50 job s | p95 job s | peak tree MB | CPU s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, runs in sorted(results.items()):
        speed = median([r.rows_per_s for r in runs])
        extra = ""
        used = [str(r.extra.get("concurrency", "")) for r in runs]
        if any(u.startswith("auto") for u in used):
            finals = [u.rpartition("final ")[2].rstrip(")") for u in used]
            extra = f" (final limit {'/'.join(finals)})"
        lines.append(
            f"| {name}{extra} | {speed:.2f} | {speed / base if base else 0:.2f}x"
            f" | {median([percentile(r.latencies_s, 50) for r in runs]):.2f}"
            f" | {median([percentile(r.latencies_s, 95) for r in runs]):.2f}"
            f" | {median([r.peak_mb for r in runs]):.0f}"
            f" | {median([r.cpu_s for r in runs]):.1f} |"
        )
    return lines
