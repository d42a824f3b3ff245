"""The operator's reader of the primary store (backup/store_listing.py), on what real
PostgreSQL archived through object-store.sh (barman-cloud) into a real S3 server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.data.dataservers import postgres_server
from tests.data.objectstore import BUCKET, S3Server
from tests.data.walarchive import (
    SERVER_NAME,
    Archive,
    archiving_settings,
    create_ticks,
    insert_ticks,
    switch_and_wait_archived,
)
from tierkeeper.backup.store_listing import (
    StoreCredentials,
    StoreUnreachable,
    read_store,
)
from tierkeeper.models.backup import ObjectStore

pytestmark = [pytest.mark.data, pytest.mark.timeout(600)]


def store_of(server: S3Server, prefix: str) -> ObjectStore:
    """The spec's store for `server` (the Secret names are not read here)."""
    return ObjectStore.model_validate(
        {
            "bucket": BUCKET,
            "path": prefix,
            "endpoint": server.endpoint,
            "region": server.region,
            "credentials": {
                "accessKeyId": {"name": "s3", "key": "id"},
                "secretAccessKey": {"name": "s3", "key": "secret"},
            },
        }
    )


def test_the_reader_finds_the_last_archived_wal_and_base_backup_then_reports_an_outage(
    s3_primary: S3Server,
) -> None:
    archive = Archive(stores=s3_primary.store_env("PRIMARY", "listing"))
    store = store_of(s3_primary, "listing")
    credentials = StoreCredentials(s3_primary.access_key, s3_primary.secret_key)
    with postgres_server(settings=archiving_settings(archive), server_env=archive.env()) as pg:
        create_ticks(pg)
        insert_ticks(pg, 10)
        archive.base_backup(pg)
        first_segment = switch_and_wait_archived(pg)
        first = read_store(store, SERVER_NAME, credentials)

        insert_ticks(pg, 10)
        archive.base_backup(pg)
        last_segment = switch_and_wait_archived(pg)
        second = read_store(store, SERVER_NAME, credentials, first)

    backups = [b["backup_id"] for b in archive.backups()]
    assert len(backups) == 2
    assert first.last_wal == first_segment
    assert first.last_backup is not None and first.last_backup.id == backups[0]
    assert second.last_wal == last_segment > first_segment
    assert second.last_backup is not None and second.last_backup.id == backups[1]
    assert second.first_backup == first.last_backup
    now = datetime.now(UTC)
    assert second.last_wal_time is not None
    assert now - timedelta(minutes=5) < second.last_wal_time <= now
    assert first.last_backup.end_time <= second.last_backup.end_time <= now

    wrong = StoreCredentials(s3_primary.access_key, "not-the-secret")
    with pytest.raises(StoreUnreachable, match="refused") as refused:
        read_store(store, SERVER_NAME, wrong)
    assert "not-the-secret" not in str(refused.value)

    s3_primary.stop()
    with pytest.raises(StoreUnreachable, match="did not answer") as outage:
        read_store(store, SERVER_NAME, credentials, second)
    assert s3_primary.secret_key not in str(outage.value)
