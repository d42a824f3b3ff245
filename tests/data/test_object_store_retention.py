"""Retention in the object store: a recovery window, pruned by barman-cloud-backup-delete.

The fake clock: barman judges a backup's age by its begin and end times, which
it reads from PostgreSQL's now(), and judges the window against its own real
clock. So PostgreSQL runs under libfaketime (Debian's faketime), its clock
moved from 20 days ago to yesterday while it commits rows and is backed up;
every commit timestamp, backup time and archived WAL then really is "old", and
the pruning runs unfaked, as the CronJob would. (Faking barman's clock instead
would not work: S3 requests signed with a time days off are refused.)
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.data.dataservers import PostgresServer, postgres_server
from tests.data.objectstore import S3Server
from tests.data.walarchive import (
    SERVER_NAME,
    Archive,
    archiving_settings,
    commit_times,
    create_ticks,
    insert_ticks,
    restored_server,
    switch_and_wait_archived,
    tick_ids,
)

pytestmark = [pytest.mark.data, pytest.mark.timeout(900)]

WINDOW_DAYS = 7


def libfaketime() -> Path:
    found = sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))
    if not found:
        pytest.fail("libfaketime not installed; run `make data-deps`")
    return found[0]


class FakeClock:
    """The server's clock, as an offset from now in a file libfaketime rereads."""

    def __init__(self, directory: Path) -> None:
        self.file = directory / "faketime"
        self.file.write_text("-20d\n")
        self.file.chmod(0o644)

    def env(self) -> dict[str, str]:
        return {
            "LD_PRELOAD": str(libfaketime()),
            "FAKETIME_TIMESTAMP_FILE": str(self.file),
            "FAKETIME_CACHE_DURATION": "1",
        }

    def set_days_ago(self, server: PostgresServer, days: int) -> None:
        self.file.write_text(f"-{days}d\n")
        wanted = datetime.now(UTC) - timedelta(days=days)
        deadline = time.monotonic() + 30
        while True:
            now = datetime.fromisoformat(server.psql("SELECT now()"))
            if abs(now - wanted) < timedelta(minutes=5):
                return
            assert time.monotonic() < deadline, f"the server's clock stayed at {now}"
            time.sleep(0.2)


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    # Outside pytest's private tmp dir: the server's user must read the file.
    with tempfile.TemporaryDirectory(prefix="tierkeeper-clock-") as directory:
        os.chmod(directory, 0o755)
        yield FakeClock(Path(directory))


def wal_names(store: S3Server) -> set[str]:
    keys = store.keys(f"retention/{SERVER_NAME}/wals/")
    return {k.rsplit("/", 1)[1].split(".")[0] for k in keys if not k.endswith(".history")}


def test_a_recovery_window_prunes_old_backups_and_wal_and_still_restores_its_oldest_point(
    s3_primary: S3Server, clock: FakeClock
) -> None:
    archive = Archive(stores=s3_primary.store_env("PRIMARY", "retention"))
    settings = archiving_settings(archive)
    # barman-cloud signs its uploads with the time: it must see the real one.
    settings["archive_command"] = "LD_PRELOAD= " + settings["archive_command"]
    server_env = {**archive.env(), **clock.env()}
    with postgres_server(settings=settings, server_env=server_env) as pg:
        create_ticks(pg)
        for days_ago, backup in [(20, True), (10, True), (8, False), (6, False), (1, True)]:
            clock.set_days_ago(pg, days_ago)
            insert_ticks(pg, 10)
            if backup:
                archive.base_backup(pg)
            insert_ticks(pg, 10)
            switch_and_wait_archived(pg)
        committed = commit_times(pg)

    before = archive.backups()
    assert len(before) == 3
    wal_before = wal_names(s3_primary)
    window_start = datetime.now(UTC) - timedelta(days=WINDOW_DAYS)
    archive.run("prune", env={"BACKUP_RETENTION": f"RECOVERY WINDOW OF {WINDOW_DAYS} DAYS"})

    # Kept: the newest backup, and the newest one ending before the window (the
    # one a restore to the window's start needs); pruned: the one before.
    after = archive.backups()
    assert [b["backup_id"] for b in after] == [b["backup_id"] for b in before[1:]]
    needed_from = before[1]["begin_wal"]
    wal_after = wal_names(s3_primary)
    assert wal_after == {w for w in wal_before if w >= needed_from}
    assert wal_after < wal_before

    expected = [i for i, ts in committed if ts <= window_start]
    assert 40 <= len(expected) < len(committed) - 20
    with restored_server(archive, target_time=window_start) as restored:
        assert tick_ids(restored) == expected
