"""RTO from an object store: restore a >= 1 GB database from its base backup and WAL.

A durable (fsync on) PostgreSQL on loopback archives its WAL through the packaged
object-store.sh (barman-cloud) into a real S3 server (versitygw); after a base
backup and more writes, a fresh instance is restored from the store alone
(barman-cloud-restore, then replay of the archived WAL, then promotion) and its
rows are compared with the source's. Writes the timings as JSON.

    .venv/bin/python bench/object_store_restore.py [--size-mb 1024] \
        [--output bench/results-object-store.json]

Not a test: nothing here asserts on time. Needs `make data-deps`.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.backup_restore import DATABASE, machine, populate, timed, write_results
from tests.data.dataservers import PostgresServer, postgres_server
from tests.data.objectstore import s3_server
from tests.data.walarchive import Archive, archiving_settings, restored_server


def counts(server: PostgresServer) -> dict[str, int]:
    return {
        table: int(server.psql(f"SELECT count(*) FROM {table}", DATABASE))
        for table in ("customers", "orders")
    }


def wait_archived(server: PostgresServer) -> None:
    segment = server.psql("SELECT pg_walfile_name(pg_switch_wal())")
    while server.psql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver") < segment:
        time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).with_name("results-object-store.json")
    )
    args = parser.parse_args()

    with s3_server("bench") as store:
        archive = Archive(stores=store.store_env("PRIMARY", "bench"))
        settings = archiving_settings(archive, archive_timeout="60s")
        with postgres_server(durable=True, settings=settings, server_env=archive.env()) as pg:
            pg.create_database(DATABASE)
            populate_s, db_bytes = timed("populate", lambda: populate(pg, args.size_mb))
            timed("archive the load's WAL", lambda: wait_archived(pg))
            backup_s, _ = timed(
                "base backup (barman-cloud-backup)",
                lambda: archive.base_backup(pg),
            )
            # Writes after the backup: the restore has WAL to replay, as a real one would.
            pg.psql(
                "INSERT INTO orders (customer_id, total, placed_at, comment) "
                "SELECT 1 + g % 50000, g, now(), 'after the backup' "
                "FROM generate_series(1, 200000) g",
                DATABASE,
            )
            wait_archived(pg)
            expected = counts(pg)
            version = pg.psql("SHOW server_version")
        stored_bytes = sum(
            item["Size"]
            for page in store.client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket="tierkeeper-backups")
            for item in page.get("Contents", [])
        )

        with ExitStack() as stack:
            restore_s, restored = timed(
                "restore (download, replay, promote)",
                lambda: stack.enter_context(restored_server(archive)),
            )
            got = counts(restored)
            restored_bytes = int(restored.psql(f"SELECT pg_database_size('{DATABASE}')"))

    results = {
        "machine": machine(version),
        "server": "loopback, fsync on; versitygw v1.8.0 (posix backend) on loopback",
        "databaseBytes": db_bytes,
        "restoredDatabaseBytes": restored_bytes,
        "storeBytes": stored_bytes,
        "rows": expected,
        "rowsMatch": got == expected,
        "seconds": {
            "populate": round(populate_s, 2),
            "baseBackup": round(backup_s, 2),
            "restore": round(restore_s, 2),
        },
        "notes": (
            "restore = a fresh instance from the store alone: barman-cloud-restore of the "
            "latest base backup, replay of the archived WAL written after it through "
            "restore_command (barman-cloud-wal-restore), promotion; the RTO of a lost volume "
            "on this machine, minus scheduling a pod."
        ),
    }
    write_results(args.output, "object_store_restore", results)
    return 0 if results["rowsMatch"] else 1


if __name__ == "__main__":
    sys.exit(main())
