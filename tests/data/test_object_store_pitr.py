"""Point-in-time recovery from object stores, on real PostgreSQL and real S3 servers.

PostgreSQL archives every WAL segment through object-store.sh (barman-cloud)
into two versitygw servers standing for two regions; base backups go to both.
A restore to time T must hold exactly the rows committed at or before T, from
either store alone.
"""

from __future__ import annotations

import time

import pytest

from tests.data.dataservers import postgres_server
from tests.data.objectstore import S3Server
from tests.data.walarchive import (
    SERVER_NAME,
    Archive,
    ArgumentWatch,
    archiving_settings,
    create_ticks,
    insert_ticks,
    restored_server,
    switch_and_wait_archived,
    tick_ids,
    wait_archived,
    write_across_base_backup,
)

pytestmark = [pytest.mark.data, pytest.mark.timeout(900)]


def test_restore_to_a_time_holds_exactly_the_rows_committed_by_then_from_either_store(
    s3_primary: S3Server, s3_offsite: S3Server
) -> None:
    archive = Archive(
        stores={
            **s3_primary.store_env("PRIMARY", "pitr"),
            **s3_offsite.store_env("OFFSITE", "pitr"),
        }
    )
    secrets = [s.secret_key for s in (s3_primary, s3_offsite)]
    secrets += [s.access_key for s in (s3_primary, s3_offsite)]
    watch = ArgumentWatch(secrets)
    with (
        watch,
        postgres_server(settings=archiving_settings(archive), server_env=archive.env()) as pg,
    ):
        committed, target = write_across_base_backup(pg, archive)
        server_log = pg.logfile.read_text(errors="replace")
    # The credentials went to barman-cloud, never as an argument, never into a log.
    assert {"barman-cloud-wal-archive", "barman-cloud-backup"} <= watch.tools
    assert watch.leaks == []
    assert not any(secret in server_log for secret in secrets)

    expected = [i for i, ts in committed if ts <= target]
    assert 0 < len(expected) < len(committed)

    # Every WAL segment and a base backup reached both stores.
    wals = [
        {k.rsplit("/", 1)[1] for k in store.keys(f"pitr/{SERVER_NAME}/wals/")}
        for store in (s3_primary, s3_offsite)
    ]
    assert wals[0] and wals[0] == wals[1]
    assert [b["status"] for b in archive.backups("PRIMARY")] == ["DONE"]
    assert [b["status"] for b in archive.backups("OFFSITE")] == ["DONE"]

    with restored_server(archive, target_time=target) as restored:
        assert tick_ids(restored) == expected

    s3_primary.wipe()
    with restored_server(archive, target_time=target) as restored:
        assert tick_ids(restored) == expected


def test_a_store_outage_keeps_the_wal_until_the_store_returns_and_a_restore_includes_it(
    s3_primary: S3Server,
) -> None:
    archive = Archive(stores=s3_primary.store_env("PRIMARY", "outage"))
    with postgres_server(settings=archiving_settings(archive), server_env=archive.env()) as pg:
        create_ticks(pg)
        insert_ticks(pg, 20)
        archive.base_backup(pg)
        switch_and_wait_archived(pg)

        s3_primary.stop()
        segments = []
        for _ in range(3):
            insert_ticks(pg, 20)
            segments.append(pg.psql("SELECT pg_walfile_name(pg_switch_wal())"))
        deadline = time.monotonic() + 120
        while int(pg.psql("SELECT failed_count FROM pg_stat_archiver")) == 0:
            assert time.monotonic() < deadline, "the archiver never reported a failure"
            time.sleep(0.1)
        assert pg.psql("SELECT last_failed_wal FROM pg_stat_archiver") == segments[0]
        waiting = {p.name for p in (pg.datadir / "pg_wal" / "archive_status").glob("*.ready")}
        assert {f"{s}.ready" for s in segments} <= waiting
        for segment in segments:
            assert (pg.datadir / "pg_wal" / segment).is_file()

        s3_primary.start()
        # A new segment wakes the archiver, which then drains the whole backlog in order.
        last = switch_and_wait_archived(pg, timeout=300)
        wait_archived(pg, last)
        assert not list((pg.datadir / "pg_wal" / "archive_status").glob("*.ready"))
        expected = tick_ids(pg)

    with restored_server(archive) as restored:
        assert tick_ids(restored) == expected
