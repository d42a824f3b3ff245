"""backup.sh → `tierkeeper restore` on a real PostgreSQL: nothing lost, nothing half-done."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.data.dataservers import PostgresServer
from tests.data.helpers import fingerprint, run_backup, seed_shop, tierkeeper
from tierkeeper.backup.dumps import list_dumps

pytestmark = pytest.mark.data


def backup(server: PostgresServer, database: str, backup_dir: Path) -> Path:
    result = run_backup(server, database, backup_dir)
    assert result.returncode == 0, result.stderr
    dump = Path(result.stdout.strip().splitlines()[-1])
    assert [d.path for d in list_dumps(backup_dir)] == [dump]
    return dump


def test_backup_then_drop_then_restore_gives_identical_rows_in_every_table(
    pg_server: PostgresServer, database: str, backup_dir: Path
) -> None:
    seed_shop(pg_server, database)
    before = fingerprint(pg_server, database)
    assert before["public.customers"][0] == 500
    assert before["public.attachments"][0] == 40
    assert before["(large objects)"][0] == 12
    dump = backup(pg_server, database, backup_dir)

    pg_server.drop_database(database)
    assert database not in pg_server.databases()
    result = tierkeeper(
        pg_server, "restore", "--dump", str(dump), "--target", pg_server.dsn(database)
    )

    assert result.returncode == 0, result.stderr
    assert "created and restored" in result.stdout
    assert fingerprint(pg_server, database) == before


def test_restored_non_ascii_text_and_bytea_are_byte_identical(
    pg_server: PostgresServer, database: str, backup_dir: Path
) -> None:
    seed_shop(pg_server, database)
    probe = (
        "SELECT name FROM customers WHERE id <= 6 ORDER BY id",
        "SELECT encode(content, 'hex') FROM attachments WHERE id = 1",
    )
    before = [pg_server.psql(q, database) for q in probe]
    dump = backup(pg_server, database, backup_dir)
    pg_server.drop_database(database)

    result = tierkeeper(
        pg_server, "restore", "--dump", str(dump), "--target", pg_server.dsn(database)
    )

    assert result.returncode == 0, result.stderr
    after = [pg_server.psql(q, database) for q in probe]
    assert after == before
    assert "東京都渋谷区" in after[0] and "🐘🚀" in after[0]
    assert after[1].startswith("000102030405")  # every byte value, starting with NUL


def test_restore_refuses_a_non_empty_target_without_clean_and_leaves_it_untouched(
    pg_server: PostgresServer, database: str, backup_dir: Path
) -> None:
    seed_shop(pg_server, database)
    dump = backup(pg_server, database, backup_dir)
    pg_server.psql("INSERT INTO audit.events (what) VALUES ('written after the backup')", database)
    before = fingerprint(pg_server, database)

    result = tierkeeper(
        pg_server, "restore", "--dump", str(dump), "--target", pg_server.dsn(database)
    )

    assert result.returncode == 1
    assert "not empty" in result.stderr and "--clean" in result.stderr
    assert fingerprint(pg_server, database) == before


def test_restore_with_clean_puts_back_the_rows_of_the_dump(
    pg_server: PostgresServer, database: str, backup_dir: Path
) -> None:
    seed_shop(pg_server, database)
    at_backup = fingerprint(pg_server, database)
    dump = backup(pg_server, database, backup_dir)
    pg_server.psql(
        "DELETE FROM \"Order Lines\"; UPDATE customers SET name = 'overwritten'; "
        "SELECT lo_unlink(document) FROM attachments WHERE document IS NOT NULL",
        database,
    )

    result = tierkeeper(
        pg_server, "restore", "--dump", str(dump), "--target", pg_server.dsn(database), "--clean"
    )

    assert result.returncode == 0, result.stderr
    assert fingerprint(pg_server, database) == at_backup


def test_restore_of_a_corrupt_dump_fails_and_leaves_no_database_behind(
    pg_server: PostgresServer, database: str, backup_dir: Path
) -> None:
    seed_shop(pg_server, database)
    dump = backup(pg_server, database, backup_dir)
    data = bytearray(dump.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)  # zero a stretch of compressed table data
    dump.write_bytes(bytes(data))
    target = f"{database}_restored"

    result = tierkeeper(
        pg_server, "restore", "--dump", str(dump), "--target", pg_server.dsn(target)
    )

    assert result.returncode == 1
    assert "failed" in result.stderr
    assert target not in pg_server.databases()


def test_restore_of_a_file_that_is_no_dump_fails_before_touching_the_server(
    pg_server: PostgresServer, backup_dir: Path
) -> None:
    bogus = backup_dir / "shop-20240101T000000Z.dump"
    bogus.write_text("not a pg_dump archive\n")

    result = tierkeeper(
        pg_server, "restore", "--dump", str(bogus), "--target", pg_server.dsn("never_created")
    )

    assert result.returncode == 1
    assert "not a readable pg_dump archive" in result.stderr
    assert "never_created" not in pg_server.databases()


def test_restore_messages_never_show_the_password(
    pg_server: PostgresServer, database: str, backup_dir: Path
) -> None:
    seed_shop(pg_server, database)
    dump = backup(pg_server, database, backup_dir)

    refused = tierkeeper(
        pg_server, "restore", "--dump", str(dump), "--target", pg_server.dsn(database)
    )

    assert refused.returncode == 1
    assert pg_server.password not in refused.stdout + refused.stderr
