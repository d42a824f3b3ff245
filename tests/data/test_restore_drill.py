"""`tierkeeper restore --verify`: the one-command DR drill, on a real PostgreSQL."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.data.dataservers import PostgresServer
from tests.data.helpers import run_backup, seed_shop, tierkeeper
from tierkeeper.backup.restore import SCRATCH_PREFIX

pytestmark = pytest.mark.data


def drill(
    server: PostgresServer, database: str, backup_dir: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    return tierkeeper(
        server,
        "restore",
        "--verify",
        "--backup-dir",
        str(backup_dir),
        "--source",
        server.dsn(database),
        *extra,
    )


def scratch_databases(server: PostgresServer) -> set[str]:
    return {name for name in server.databases() if name.startswith(SCRATCH_PREFIX)}


def test_drill_passes_on_a_good_backup_and_drops_its_scratch_database(
    pg_server: PostgresServer, database: str, backup_dir: Path
) -> None:
    seed_shop(pg_server, database)
    assert run_backup(pg_server, database, backup_dir).returncode == 0

    result = drill(pg_server, database, backup_dir, "--json")

    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["mismatches"] == []
    assert report["tables"]["public.orders"] == {"source": 5000, "restored": 5000}
    assert report["tables"]["public.Order Lines"] == {"source": 5000, "restored": 5000}
    assert report["tables"]["audit.events"] == {"source": 300, "restored": 300}
    assert report["tables"]["(large objects)"] == {"source": 12, "restored": 12}
    assert scratch_databases(pg_server) == set()


def test_drill_restores_the_newest_dump(
    pg_server: PostgresServer, database: str, backup_dir: Path
) -> None:
    seed_shop(pg_server, database)
    now = datetime.now(UTC).replace(microsecond=0)
    assert run_backup(pg_server, database, backup_dir, now=now - timedelta(hours=2)).returncode == 0
    pg_server.psql("INSERT INTO audit.events (what) VALUES ('after the first backup')", database)
    assert run_backup(pg_server, database, backup_dir, now=now).returncode == 0

    result = drill(pg_server, database, backup_dir)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{database}-{now:%Y%m%dT%H%M%SZ}.dump" in result.stdout
    assert "OK: every table matches the source" in result.stdout


def test_drill_fails_on_a_tampered_dump(
    pg_server: PostgresServer, database: str, backup_dir: Path
) -> None:
    seed_shop(pg_server, database)
    assert run_backup(pg_server, database, backup_dir).returncode == 0
    (dump,) = backup_dir.iterdir()
    data = bytearray(dump.read_bytes())
    for offset in range(len(data) // 3, len(data) // 3 + 256):
        data[offset] ^= 0xFF  # flip bytes inside the compressed table data
    dump.write_bytes(bytes(data))

    result = drill(pg_server, database, backup_dir)

    assert result.returncode == 1
    assert "FAILED: pg_restore of" in result.stdout
    assert scratch_databases(pg_server) == set()


def test_drill_fails_when_the_backup_lacks_rows_the_source_has(
    pg_server: PostgresServer, database: str, backup_dir: Path
) -> None:
    seed_shop(pg_server, database)
    assert run_backup(pg_server, database, backup_dir).returncode == 0
    pg_server.psql(
        "INSERT INTO audit.events (what) SELECT 'not in the backup' FROM generate_series(1, 3)",
        database,
    )

    result = drill(pg_server, database, backup_dir, "--json")

    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["mismatches"] == ["audit.events"]
    assert report["tables"]["audit.events"] == {"source": 303, "restored": 300}
    assert scratch_databases(pg_server) == set()


def test_drill_fails_when_the_backup_lacks_a_table_the_source_has(
    pg_server: PostgresServer, database: str, backup_dir: Path
) -> None:
    seed_shop(pg_server, database)
    assert run_backup(pg_server, database, backup_dir).returncode == 0
    pg_server.psql("CREATE TABLE invoices (id int); INSERT INTO invoices VALUES (1)", database)

    result = drill(pg_server, database, backup_dir)

    assert result.returncode == 1
    assert "public.invoices" in result.stdout and "MISMATCH" in result.stdout
    assert "missing" in result.stdout


def test_drill_without_dumps_of_that_database_fails_and_says_what_is_there(
    pg_server: PostgresServer, database: str, backup_dir: Path
) -> None:
    (backup_dir / "other-20240101T000000Z.dump").write_text("x")

    result = drill(pg_server, database, backup_dir)

    assert result.returncode == 1
    assert f"no dumps of database '{database}'" in result.stderr
    assert "other" in result.stderr
