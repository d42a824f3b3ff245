"""The off-site copy of a database whose archiver writes to one store only (CloudNativePG's
barmanObjectStore): object-store.sh's `mirror` copies the primary store into the off-site
one with rclone, then applies the retention policy there with barman-cloud. On real
PostgreSQL and two real S3 servers (versitygw) standing for two regions; the off-site one
serves TLS with a certificate of its own CA, given as its store's CA bundle.
"""

from __future__ import annotations

import pytest

from tests.data.dataservers import postgres_server
from tests.data.objectstore import BUCKET, S3Server
from tests.data.walarchive import (
    SERVER_NAME,
    Archive,
    ArgumentWatch,
    archiving_settings,
    restored_server,
    tick_ids,
    write_across_base_backup,
)

pytestmark = [pytest.mark.data, pytest.mark.timeout(900)]

# The folders of the database in each store: the off-site store has a path of its own.
PRIMARY_PATH = "cnpg"
OFFSITE_PATH = "copy/eu"


def held(store: S3Server, path: str) -> dict[str, bytes]:
    """Every object of the database's folder in the store, by its key below `path`."""
    client = store.client()
    return {
        key.removeprefix(f"{path}/"): client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        for key in store.keys(f"{path}/{SERVER_NAME}/")
    }


def test_the_offsite_copy_alone_restores_to_a_time_and_a_wiped_primary_deletes_nothing_there(
    s3_primary: S3Server, s3_offsite_tls: S3Server, require_rclone: None
) -> None:
    # The database archives and backs up to the primary store only, as CloudNativePG does.
    primary_only = Archive(stores=s3_primary.store_env("PRIMARY", PRIMARY_PATH))
    mirror = Archive(
        stores={
            **s3_primary.store_env("PRIMARY", PRIMARY_PATH),
            **s3_offsite_tls.store_env("OFFSITE", OFFSITE_PATH),
        },
        extra_env={"BACKUP_RETENTION": "RECOVERY WINDOW OF 7 DAYS"},
    )
    secrets = [s.secret_key for s in (s3_primary, s3_offsite_tls)]
    secrets += [s.access_key for s in (s3_primary, s3_offsite_tls)]
    with postgres_server(
        settings=archiving_settings(primary_only), server_env=primary_only.env()
    ) as pg:
        committed, target = write_across_base_backup(pg, primary_only)
    expected = [i for i, ts in committed if ts <= target]
    assert 0 < len(expected) < len(committed)
    assert s3_offsite_tls.keys() == []

    with ArgumentWatch(secrets) as watch:
        copied = mirror.run("mirror")
    # rclone copied, barman-cloud pruned; the credentials were in neither's arguments nor
    # in what they printed.
    assert {"rclone", "barman-cloud-backup-delete"} <= watch.tools
    assert watch.leaks == []
    assert not any(secret in copied.stdout + copied.stderr for secret in secrets)
    # Every object the primary holds of the database is off-site, byte for byte, and
    # barman-cloud reads it there as a backup.
    original = held(s3_primary, PRIMARY_PATH)
    assert any("/wals/" in key for key in original)
    assert held(s3_offsite_tls, OFFSITE_PATH) == original
    assert [b["status"] for b in mirror.backups("OFFSITE")] == ["DONE"]

    # The primary is ransomed: a segment encrypted in place, then every object deleted.
    # A mirror run after each changes nothing off-site.
    client = s3_primary.client()
    segment = next(key for key in original if "/wals/" in key)
    client.put_object(Bucket=BUCKET, Key=f"{PRIMARY_PATH}/{segment}", Body=b"encrypted")
    mirror.run("mirror")
    assert held(s3_offsite_tls, OFFSITE_PATH) == original
    for key in s3_primary.keys(f"{PRIMARY_PATH}/"):
        client.delete_object(Bucket=BUCKET, Key=key)
    assert s3_primary.keys(f"{PRIMARY_PATH}/") == []
    mirror.run("mirror")
    assert held(s3_offsite_tls, OFFSITE_PATH) == original

    # The primary's region is lost: the off-site copy alone restores to T.
    s3_primary.wipe()
    with restored_server(mirror, target_time=target) as restored:
        assert tick_ids(restored) == expected
