"""RPO: the database and its volume are lost mid-write; the store alone brings it back.

PostgreSQL is SIGKILLed while a writer commits, its data directory is thrown
away, and the latest state is restored from the object store. What is lost
must be no more than the WAL not yet archived: at most archive_timeout's worth
of commits, plus the one segment the archiver was uploading.
"""

from __future__ import annotations

import shutil
import time

import pytest

from tests.data.dataservers import postgres_server
from tests.data.objectstore import S3Server
from tests.data.walarchive import (
    Archive,
    Writer,
    archiving_settings,
    create_ticks,
    restored_server,
    tick_ids,
)

pytestmark = [pytest.mark.data, pytest.mark.timeout(900)]

ARCHIVE_TIMEOUT_S = 3
# One archive_command run (a barman-cloud-wal-archive upload) for the segment
# in flight when the server died: about a second on loopback, more on a loaded
# CI machine.
UPLOAD_MARGIN_S = 5


def test_after_losing_the_server_and_its_volume_latest_restore_loses_at_most_archive_timeout(
    s3_primary: S3Server,
) -> None:
    archive = Archive(stores=s3_primary.store_env("PRIMARY", "rpo"))
    settings = archiving_settings(archive, archive_timeout=f"{ARCHIVE_TIMEOUT_S}s")
    with postgres_server(durable=True, settings=settings, server_env=archive.env()) as pg:
        create_ticks(pg)
        archive.base_backup(pg)
        with Writer(pg) as writer:
            started = time.time()
            while time.time() - started < 4 * ARCHIVE_TIMEOUT_S:
                writer.wait_for(1)
            killed_at = time.time()
            pg.kill()
        assert writer.error is not None, "the writer should have seen the server die"
        shutil.rmtree(pg.datadir)

    with restored_server(archive) as restored:
        recovered = tick_ids(restored)

    acked = writer.acked
    acked_ids = [i for i, _ in acked]
    # Nothing in the middle is missing: the restore is the acknowledged stream up
    # to some point (plus, at most, commits whose acknowledgement the kill ate).
    assert recovered[: len(acked_ids)] == acked_ids[: len(recovered)]
    lost = [(i, at) for i, at in acked if i not in set(recovered)]
    window = killed_at - min((at for _, at in lost), default=killed_at)
    print(
        f"RPO: {len(lost)} of {len(acked)} acknowledged rows lost, "
        f"committed in the last {window:.2f} s before the kill "
        f"(archive_timeout {ARCHIVE_TIMEOUT_S} s; last acknowledgement "
        f"{killed_at - acked[-1][1]:.3f} s before the kill)"
    )
    assert len(recovered) > len(acked) // 2
    assert window <= ARCHIVE_TIMEOUT_S + UPLOAD_MARGIN_S
