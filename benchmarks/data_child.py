"""Child processes of the ingestion and report benchmarks (measured from outside):

    python -m benchmarks.data_child ingest|raw|sqlite|report --csv F --workdir W
    python -m benchmarks.data_child pg|pg-ingest --csv F --workdir W --store-url URL

Each prints one JSON line: the rows handled, seconds, and its own peak RSS.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import resource
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

from batch.engine import BatchEngine
from batch.settings import load_settings
from runtime.run_context import RunContext

__all__ = ["main"]

FLOW = Path(__file__).with_name("form_flow.yaml")


def _engine(csv_path: Path, workdir: Path, store_url: str | None = None) -> BatchEngine:
    logging.getLogger("batchwright").setLevel(logging.WARNING)
    settings = load_settings(
        {"base_dir": csv_path.parent, "artifacts_dir": workdir, "store_url": store_url},
        read_env=False,
    )
    return BatchEngine(RunContext(settings=settings))


def raw(csv_path: Path) -> dict[str, Any]:
    """The floor: ``csv.reader`` over the file, doing nothing with the rows."""
    started = time.perf_counter()
    with csv_path.open(newline="", encoding="utf-8") as handle:
        rows = sum(1 for _ in csv.reader(handle)) - 1
    return {"rows": rows, "seconds": time.perf_counter() - started}


def sqlite_floor(csv_path: Path, workdir: Path) -> dict[str, Any]:
    """What any SQLite store costs at least: ``csv.reader`` straight into ``executemany``
    on a bare table (no index, no key, no check, one transaction, WAL)."""
    with csv_path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        width = len(next(reader))
        conn = sqlite3.connect(workdir / "floor.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"CREATE TABLE rows ({', '.join(f'c{i}' for i in range(width))})")
        started = time.perf_counter()
        conn.execute("BEGIN")
        insert = f"INSERT INTO rows VALUES ({', '.join('?' * width)})"  # noqa: S608  # only placeholders
        cursor = conn.executemany(insert, reader)
        conn.execute("COMMIT")
        seconds = time.perf_counter() - started
    rows = cursor.rowcount
    conn.close()
    return {"rows": rows, "seconds": seconds}


def postgres_floor(csv_path: Path, store_url: str) -> dict[str, Any]:
    """What any PostgreSQL store costs at least: ``csv.reader`` straight into ``COPY``
    on a bare table (no index, no key, no check, one transaction), dropped after."""
    import psycopg  # noqa: PLC0415 - the SQLite children's peak RSS stays without it
    from psycopg import sql  # noqa: PLC0415

    table = sql.Identifier(f"bench_floor_{uuid.uuid4().hex[:8]}")
    conninfo = store_url.replace("postgresql+psycopg://", "postgresql://")
    with csv_path.open(newline="", encoding="utf-8") as handle, psycopg.connect(conninfo) as conn:
        reader = csv.reader(handle)
        width = len(next(reader))
        columns = sql.SQL(", ").join(
            sql.SQL("{} text").format(sql.Identifier(f"c{i}")) for i in range(width)
        )
        conn.execute(sql.SQL("CREATE TABLE {} ({})").format(table, columns))
        conn.commit()
        started = time.perf_counter()
        rows = 0
        copy_sql = sql.SQL("COPY {} FROM STDIN").format(table)
        with conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in reader:
                copy.write_row(row)
                rows += 1
        conn.commit()
        seconds = time.perf_counter() - started
        conn.execute(sql.SQL("DROP TABLE {}").format(table))
        conn.commit()
    return {"rows": rows, "seconds": seconds}


def ingest(csv_path: Path, workdir: Path, store_url: str | None = None) -> dict[str, Any]:
    """``create_batch_jobs``: every check, then one job per row in the store (SQLite
    under ``workdir``, or ``store_url``)."""
    engine = _engine(csv_path, workdir, store_url)
    started = time.perf_counter()
    manifest = engine.create_batch_jobs(csv_path, FLOW)
    seconds = time.perf_counter() - started
    engine.close()
    return {"rows": manifest.total, "seconds": seconds}


def report(csv_path: Path, workdir: Path) -> dict[str, Any]:
    """Generation time and size of every report for a finished batch of the CSV's rows.

    The jobs are finished with SQL straight into the store (2 % failed), which is
    quicker than running them and does not change what the reports read.
    """
    engine = _engine(csv_path, workdir)
    batch_id = engine.create_batch_jobs(csv_path, FLOW).batch_id
    engine.close()
    with sqlite3.connect(workdir / "batchwright.db") as conn:
        conn.execute(
            "UPDATE jobs SET status = CASE WHEN row_index % 50 = 0 THEN 'failed' ELSE 'completed'"
            " END, started_at = created_at, finished_at = created_at,"
            " error_category = CASE WHEN row_index % 50 = 0 THEN 'business' END,"
            " error_message = CASE WHEN row_index % 50 = 0 THEN 'Email is invalid' ELSE '' END,"
            ' extracted = \'{"customer_id": "42"}\' WHERE batch_id = ?',
            (batch_id,),
        )
        conn.execute(
            "INSERT INTO attempts (job_id, number, started_at, duration_s, ok, category,"
            " message, artifacts) SELECT job_id, 1, created_at, 0.8, status = 'completed',"
            " error_category, error_message, '[]' FROM jobs WHERE batch_id = ?",
            (batch_id,),
        )
    engine = _engine(csv_path, workdir)
    started = time.perf_counter()
    engine.write_reports(batch_id)
    seconds = time.perf_counter() - started
    rows = engine.get_batch_summary(batch_id).total
    engine.close()
    sizes = {
        path.name: path.stat().st_size for path in (workdir / batch_id).iterdir() if path.is_file()
    }
    return {"rows": rows, "seconds": seconds, "sizes": sizes}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("task", choices=["ingest", "raw", "sqlite", "report", "pg", "pg-ingest"])
    parser.add_argument("--csv", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--store-url")
    args = parser.parse_args()
    if args.task == "raw":
        result = raw(args.csv)
    elif args.task == "sqlite":
        result = sqlite_floor(args.csv, args.workdir)
    elif args.task == "ingest":
        result = ingest(args.csv, args.workdir)
    elif args.task == "pg":
        result = postgres_floor(args.csv, args.store_url)
    elif args.task == "pg-ingest":
        result = ingest(args.csv, args.workdir, args.store_url)
    else:
        result = report(args.csv, args.workdir)
    result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()
