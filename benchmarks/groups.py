"""``python -m benchmarks.groups``: many CSVs, three ways, as a user would run them.

- **one after another**: ``batchwright run`` once per file, in turn (what a shell
  loop did before groups): the baseline;
- **separate processes**: ``batchwright run`` once per file, all at once (each with
  its own browser and its own ``--concurrency``);
- **one group**: ``batchwright run f1 f2 ...``: one process, one browser, one
  concurrency budget shared by every file.

Runs are interleaved (each contender once per repetition); figures are medians over
repetitions, ratios to the baseline. Rows/s is over the whole wall time (creation,
runs, reports); peak memory is the RSS of the whole process tree (Chromium included).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
from pathlib import Path

from benchmarks.measure import Result, median, run_measured
from benchmarks.site import serve_site, write_rows

FLOW = Path(__file__).with_name("form_flow.yaml")


def _commands(
    files: list[Path], url: str, artifacts: Path, concurrency: int
) -> dict[str, list[str]]:
    def run(*csvs: Path) -> list[str]:
        return [sys.executable, "-m", "batch", "--artifacts", str(artifacts), "run",
                *map(str, csvs), "--flow", str(FLOW), "--base-url", url,
                "--concurrency", str(concurrency), "--progress", "quiet"]  # fmt: skip

    each = [shlex.join(run(csv)) for csv in files]
    # `wait PID` per child: the shell's exit code is non-zero if any run failed
    parallel = " ".join(f"{command} & pids+=($!);" for command in each)
    wait_all = "for p in ${pids[@]}; do wait $p || exit 1; done"
    return {
        "one after another": ["bash", "-c", " && ".join(each)],
        "separate processes": ["bash", "-c", f"pids=(); {parallel} {wait_all}"],
        "one group": run(*files),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.groups", description=__doc__)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--rows", type=int, default=20, help="rows per file")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    total = args.files * args.rows
    results: dict[str, list[Result]] = {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCH_")}
    with tempfile.TemporaryDirectory() as tmp, serve_site() as url:
        files = [
            write_rows(Path(tmp) / f"part-{n}.csv", args.rows, start=n * args.rows)
            for n in range(args.files)
        ]
        commands = _commands(files, url, Path(tmp) / "artifacts", args.concurrency)
        for rep in range(args.reps):
            for name, argv in commands.items():
                result = run_measured(argv, total, env=env, cwd=Path(tmp))
                results.setdefault(name, []).append(result)
                print(f"rep {rep + 1} {name}: {result.rows_per_s:.2f} rows/s", flush=True)
    base_rate = median([r.rows_per_s for r in results["one after another"]])
    print(
        f"\n{args.files} files x {args.rows} rows, --concurrency {args.concurrency} "
        f"per process, {args.reps} reps (medians)"
    )
    print("| contender | rows/s | ratio | CPU s | peak tree MB |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, runs in results.items():
        rate = median([r.rows_per_s for r in runs])
        cpu = median([r.cpu_s for r in runs])
        peak = median([r.peak_mb for r in runs])
        print(f"| {name} | {rate:.2f} | {rate / base_rate:.2f}x | {cpu:.0f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
