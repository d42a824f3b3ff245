"""Backup and restore times of a ~100 MB database: a first RTO figure.

Runs the packaged backup.sh and `tierkeeper restore` (restore into a dropped
database, then the --verify drill) against a real, durable (fsync on)
PostgreSQL on loopback, and writes the timings as JSON.

    .venv/bin/python bench/backup_restore.py [--size-mb 100] [--output bench/results-backup.json]

Not a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.data.dataservers import PostgresServer, postgres_server
from tests.data.helpers import run_backup, tierkeeper

DATABASE = "bench_shop"
T = TypeVar("T")


def populate(server: PostgresServer, size_mb: int) -> int:
    """Orders-like rows (text, numeric, timestamptz, jsonb, an index) up to size_mb."""
    server.psql(
        "CREATE TABLE customers (id int PRIMARY KEY, name text, email text);"
        "INSERT INTO customers SELECT g, 'Kundin Müller ' || g, 'c' || g || '@example.com' "
        "FROM generate_series(1, 50000) g;"
        "CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers(id),"
        " total numeric(12,2), placed_at timestamptz, notes jsonb, comment text);"
        "CREATE INDEX orders_customer ON orders (customer_id, placed_at);",
        DATABASE,
    )
    batch = 100_000
    while True:
        size = int(server.psql(f"SELECT pg_database_size('{DATABASE}')"))
        if size >= size_mb * 1_000_000:
            server.psql("VACUUM ANALYZE", DATABASE)
            return int(server.psql(f"SELECT pg_database_size('{DATABASE}')"))
        server.psql(
            "INSERT INTO orders (customer_id, total, placed_at, notes, comment) "
            "SELECT 1 + (random() * 49999)::int, round((random() * 1000)::numeric, 2), "
            "now() - random() * interval '365 days', "
            "jsonb_build_object('gift', random() < 0.1, 'items', (random() * 10)::int), "
            "md5(random()::text) || ' Lieferung an Straße ' || g "
            f"FROM generate_series(1, {batch}) g",
            DATABASE,
        )


def timed(label: str, fn: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    print(f"{label}: {seconds:.2f}s", file=sys.stderr)
    return seconds, result


def machine(postgres_version: str) -> dict[str, object]:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "postgres": postgres_version}


def write_results(output: Path, benchmark: str, results: dict[str, Any]) -> None:
    """`results`, headed by the benchmark's name and when it ran, to `output` and stdout."""
    document = {
        "benchmark": benchmark,
        "measuredAt": datetime.now(UTC).isoformat(timespec="seconds"),
        **results,
    }
    output.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document, indent=2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).with_name("results-backup.json")
    )
    args = parser.parse_args()

    with postgres_server(durable=True) as server, tempfile.TemporaryDirectory() as tmp:
        backup_dir = Path(tmp)
        server.create_database(DATABASE)
        populate_s, db_bytes = timed("populate", lambda: populate(server, args.size_mb))

        backup_s, result = timed(
            "backup (backup.sh)", lambda: run_backup(server, DATABASE, backup_dir)
        )
        if result.returncode != 0:
            print(result.stderr, file=sys.stderr)
            return 1
        dump = Path(result.stdout.strip().splitlines()[-1])

        server.drop_database(DATABASE)
        restore_s, restored = timed(
            "restore (tierkeeper restore into a dropped database)",
            lambda: tierkeeper(
                server, "restore", "--dump", str(dump), "--target", server.dsn(DATABASE)
            ),
        )
        if restored.returncode != 0:
            print(restored.stderr, file=sys.stderr)
            return 1

        drill_s, drilled = timed(
            "drill (tierkeeper restore --verify)",
            lambda: tierkeeper(
                server,
                "restore",
                "--verify",
                "--backup-dir",
                str(backup_dir),
                "--source",
                server.dsn(DATABASE),
                "--json",
            ),
        )
        drill_report = json.loads(drilled.stdout)
        version = server.psql("SHOW server_version")

        results = {
            "machine": machine(version),
            "server": "loopback, fsync on, default settings",
            "databaseBytes": db_bytes,
            "dumpBytes": dump.stat().st_size,
            "rows": sum(
                t["source"] or 0
                for name, t in drill_report["tables"].items()
                if name != "(large objects)"
            ),
            "seconds": {
                "populate": round(populate_s, 2),
                "backup": round(backup_s, 2),
                "restore": round(restore_s, 2),
                "drill": round(drill_s, 2),
                "drillRestoreOnly": drill_report["restoreSeconds"],
            },
            "drillOk": drill_report["ok"],
            "notes": (
                "backup = backup.sh end to end (pg_dump -Fc, pg_restore --list, rename, prune); "
                "restore = `tierkeeper restore` into a dropped database, single transaction, "
                "including index builds; drill = restore into a scratch database, exact row "
                "counts on both sides, drop."
            ),
        }
    write_results(args.output, "backup_restore", results)
    return 0 if results["drillOk"] else 1


if __name__ == "__main__":
    sys.exit(main())
