"""backup.sh itself on a real PostgreSQL: pruning by a fake clock, failures, interruptions."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.data.dataservers import PostgresServer
from tests.data.helpers import backup_command, backup_env, run_backup, seed_shop
from tierkeeper.backup.dumps import DUMP_NAME, list_dumps

pytestmark = pytest.mark.data

NOW = datetime(2030, 1, 15, 3, 0, 0, tzinfo=UTC)


def dump_name(database: str, at: datetime) -> str:
    return f"{database}-{at:%Y%m%dT%H%M%SZ}.dump"


def place_old_dumps(backup_dir: Path, database: str, ages: dict[str, timedelta]) -> dict[str, Path]:
    """Files named like our dumps, `age` before NOW (their content does not matter to pruning)."""
    paths = {}
    for label, age in ages.items():
        path = backup_dir / dump_name(database, NOW - age)
        path.write_text(f"old dump {label}\n")
        paths[label] = path
    return paths


def test_pruning_removes_only_our_dumps_older_than_retention(
    pg_server: PostgresServer, database: str, backup_dir: Path
) -> None:
    seed_shop(pg_server, database)
    old = place_old_dumps(
        backup_dir,
        database,
        {
            "30 days": timedelta(days=30),
            "8 days": timedelta(days=8),
            "7 days 1s": timedelta(days=7, seconds=1),
            "exactly 7 days": timedelta(days=7),
            "6 days": timedelta(days=6),
            "1 hour": timedelta(hours=1),
        },
    )

    result = run_backup(pg_server, database, backup_dir, retention_days=7, now=NOW)

    assert result.returncode == 0, result.stderr
    new = backup_dir / dump_name(database, NOW)
    assert result.stdout.strip() == str(new)
    remaining = {p.name for p in backup_dir.iterdir()}
    assert remaining == {
        old["exactly 7 days"].name,
        old["6 days"].name,
        old["1 hour"].name,
        new.name,
    }


def test_pruning_leaves_foreign_files_untouched(
    pg_server: PostgresServer, database: str, backup_dir: Path
) -> None:
    seed_shop(pg_server, database)
    ancient = NOW - timedelta(days=400)
    outside = backup_dir.parent / "outside-target.dump"
    outside.write_text("a file the symlink points at\n")
    foreign_files = {
        "README.txt": "notes\n",
        f"{database}-latest.dump": "hand-made copy\n",
        f"{database}-{ancient:%Y%m%dT%H%M%SZ}.dump.bak": "renamed by a person\n",
        f"{database}-{ancient:%Y%m%d}.dump": "another naming scheme\n",
        f"other_db-{ancient:%Y%m%dT%H%M%SZ}.dump": "another database's dump\n",
        f"{database.upper()}-{ancient:%Y%m%dT%H%M%SZ}.dump": "case differs\n",
    }
    for name, text in foreign_files.items():
        (backup_dir / name).write_text(text)
    lookalike_dir = backup_dir / dump_name(database, ancient - timedelta(days=1))
    lookalike_dir.mkdir()
    symlink = backup_dir / dump_name(database, ancient - timedelta(days=2))
    symlink.symlink_to(outside)

    result = run_backup(pg_server, database, backup_dir, retention_days=1, now=NOW)

    assert result.returncode == 0, result.stderr
    for name, text in foreign_files.items():
        assert (backup_dir / name).read_text() == text
    assert lookalike_dir.is_dir()
    assert symlink.is_symlink() and outside.read_text() == "a file the symlink points at\n"
    assert [d.path.name for d in list_dumps(backup_dir, database)] == [dump_name(database, NOW)]


def test_prune_keeps_the_newest_dump_even_when_it_is_older_than_retention(
    pg_server: PostgresServer, database: str, backup_dir: Path
) -> None:
    old = place_old_dumps(
        backup_dir,
        database,
        {
            "90 days": timedelta(days=90),
            "60 days": timedelta(days=60),
            "45 days": timedelta(days=45),
        },
    )

    result = run_backup(pg_server, database, backup_dir, "prune", retention_days=30, now=NOW)

    assert result.returncode == 0, result.stderr
    assert {p.name for p in backup_dir.iterdir()} == {old["45 days"].name}
    assert "newest" in result.stderr


def test_a_failed_dump_writes_nothing_and_prunes_nothing(
    pg_server: PostgresServer, backup_dir: Path
) -> None:
    missing = f"missing_{uuid.uuid4().hex[:6]}"
    old = place_old_dumps(
        backup_dir, missing, {"90 days": timedelta(days=90), "60 days": timedelta(days=60)}
    )

    result = run_backup(pg_server, missing, backup_dir, retention_days=7, now=NOW)

    assert result.returncode == 3
    assert "pg_dump failed" in result.stderr and "nothing pruned" in result.stderr
    assert {p.name for p in backup_dir.iterdir()} == {p.name for p in old.values()}


def test_wrong_password_fails_the_dump_with_exit_3(
    pg_server: PostgresServer, database: str, backup_dir: Path
) -> None:
    result = run_backup(
        pg_server, database, backup_dir, env_overrides={"PGPASSWORD": "not-the-password"}
    )

    assert result.returncode == 3
    assert "password authentication failed" in result.stderr
    assert list(backup_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"BACKUP_DIR": ""}, "BACKUP_DIR is not set"),
        ({"BACKUP_DIR": "/nonexistent/backups"}, "is not a directory"),
        ({"PGDATABASE": ""}, "PGDATABASE is not set"),
        ({"RETENTION_DAYS": ""}, "RETENTION_DAYS is not set"),
        ({"RETENTION_DAYS": "0"}, "RETENTION_DAYS must be"),
        ({"RETENTION_DAYS": "7d"}, "RETENTION_DAYS must be"),
        ({"TIERKEEPER_NOW": "yesterday"}, "TIERKEEPER_NOW must be"),
    ],
)
def test_bad_configuration_exits_2_with_a_message_and_writes_nothing(
    pg_server: PostgresServer,
    database: str,
    backup_dir: Path,
    override: dict[str, str],
    message: str,
) -> None:
    result = run_backup(pg_server, database, backup_dir, env_overrides=override)

    assert result.returncode == 2
    assert message in result.stderr
    assert list(backup_dir.iterdir()) == []


def test_database_names_with_odd_characters_get_safe_file_names(
    pg_server: PostgresServer, backup_dir: Path
) -> None:
    odd = "shop café/ü"
    pg_server.create_database(odd)
    try:
        result = run_backup(pg_server, odd, backup_dir, now=NOW)
    finally:
        pg_server.drop_database(odd)

    assert result.returncode == 0, result.stderr
    (only,) = backup_dir.iterdir()
    assert DUMP_NAME.match(only.name)
    assert only.name.startswith("shop_caf")
    assert [d.path for d in list_dumps(backup_dir, odd)] == [only]


# --- interrupted dumps -----------------------------------------------------------------


@pytest.fixture(scope="module")
def big_database(pg_server: PostgresServer) -> Iterator[str]:
    """Big enough (~300 MB of table data) that pg_dump takes a moment."""
    name = f"big_{uuid.uuid4().hex[:6]}"
    pg_server.create_database(name)
    pg_server.psql(
        "CREATE TABLE filler (id int PRIMARY KEY, payload text); "
        "INSERT INTO filler SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 1000000) g",
        name,
    )
    yield name
    pg_server.drop_database(name)


def start_backup_and_wait_for_data(
    pg_server: PostgresServer, database: str, backup_dir: Path
) -> tuple[subprocess.Popen[str], Path]:
    """Start backup.sh in its own process group (a pod of its own, as it were) and
    return once pg_dump has written table data into the temporary file."""
    process = subprocess.Popen(
        backup_command(),
        env=backup_env(pg_server, database, backup_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        partial = [p for p in backup_dir.iterdir() if ".partial." in p.name]
        if partial and partial[0].stat().st_size > 1_000_000:
            return process, partial[0]
        assert process.poll() is None, process.communicate()
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    pytest.fail("pg_dump never started writing")


def test_a_dump_killed_mid_way_leaves_no_file_that_looks_complete(
    pg_server: PostgresServer, big_database: str, backup_dir: Path
) -> None:
    process, partial = start_backup_and_wait_for_data(pg_server, big_database, backup_dir)

    os.killpg(process.pid, signal.SIGKILL)  # the whole pod: shell and pg_dump
    process.communicate()

    leftovers = list(backup_dir.iterdir())
    assert leftovers == [partial], "killed before it finished, so only the temporary file is left"
    assert not DUMP_NAME.match(partial.name)
    assert list_dumps(backup_dir) == []

    # The next run cleans the leftover up and publishes one complete dump.
    result = run_backup(pg_server, big_database, backup_dir)
    assert result.returncode == 0, result.stderr
    assert "left by an interrupted run" in result.stderr
    (dump,) = backup_dir.iterdir()
    assert DUMP_NAME.match(dump.name)
    listing = subprocess.run(
        [pg_server.tool("pg_restore"), "--list", str(dump)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "TABLE DATA public filler" in listing.stdout


def test_sigterm_mid_dump_stops_pg_dump_and_removes_the_temporary_file(
    pg_server: PostgresServer, big_database: str, backup_dir: Path
) -> None:
    process, _ = start_backup_and_wait_for_data(pg_server, big_database, backup_dir)

    process.send_signal(signal.SIGTERM)  # what the kubelet sends the container's PID 1
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 143
    assert "stopped by SIGTERM" in stderr
    assert list(backup_dir.iterdir()) == []
    dumping = pg_server.psql(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_dump'"
    )
    assert dumping == "0"
