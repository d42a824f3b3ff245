"""The disaster-recovery drill (drill.sh, the drill CronJob's program), on real PostgreSQL and
a real S3 server: it passes on a good backup with its RTO measured, finds a corrupted data
file inside the stored base backup and a WAL segment the backup needs gone missing, and in
every case leaves no scratch instance behind."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest

from tests.data.dataservers import (
    SUPERUSER,
    PostgresServer,
    _as_server_user,
    new_server_root,
    postgres_bindir,
    postgres_server,
)
from tests.data.objectstore import BUCKET, S3Server
from tests.data.walarchive import (
    SERVER_NAME,
    Archive,
    archiving_settings,
    create_ticks,
    insert_ticks,
    switch_and_wait_archived,
)

pytestmark = [pytest.mark.data, pytest.mark.timeout(900)]

PREFIX = "drill"


def drill_script() -> Path:
    return Path(str(resources.files("tierkeeper") / "scripts" / "drill.sh"))


@dataclass
class Drilled:
    returncode: int
    result: dict[str, str]
    output: str


@pytest.fixture
def workdir() -> Iterator[Path]:
    root = new_server_root()
    yield root
    subprocess.run(["rm", "-rf", str(root)], check=False)


def run_drill(archive: Archive, workdir: Path) -> Drilled:
    """drill.sh as the drill pod runs it: as the server's user, the stores in its environment."""
    result_file = workdir / "result.json"
    env = {
        **archive.env(),
        "PGUSER": SUPERUSER,
        "DRILL_WORKDIR": str(workdir),
        "DRILL_RESULT_FILE": str(result_file),
        "DRILL_TIMEOUT": "300",
    }
    env["PATH"] = f"{postgres_bindir()}{os.pathsep}{env['PATH']}"
    done = subprocess.run(
        _as_server_user(["sh", str(drill_script())]),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = done.stdout + done.stderr
    assert result_file.is_file(), output
    result = json.loads(result_file.read_text())
    result_file.unlink()
    return Drilled(done.returncode, result, output)


def assert_no_scratch_left(workdir: Path) -> None:
    """No scratch directory, and no server process running on one."""
    assert list(workdir.iterdir()) == []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes()
        except OSError:
            continue
        assert str(workdir).encode() not in args, args


@contextlib.contextmanager
def backed_up_database(archive: Archive) -> Iterator[PostgresServer]:
    """A database whose base backup and WAL are in the store, with a table the backup holds
    (`victim`) and rows written after the backup (in WAL only)."""
    with postgres_server(settings=archiving_settings(archive), server_env=archive.env()) as pg:
        create_ticks(pg)
        pg.psql(
            "CREATE TABLE victim AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 500) g"
        )
        pg.psql("CREATE INDEX ON victim (id)")
        insert_ticks(pg, 50)
        archive.base_backup(pg)
        insert_ticks(pg, 50)
        switch_and_wait_archived(pg)
        yield pg


def test_the_drill_passes_on_a_good_backup_with_its_rto_and_leaves_nothing_behind(
    s3_primary: S3Server, workdir: Path
) -> None:
    archive = Archive(stores=s3_primary.store_env("PRIMARY", PREFIX))
    with backed_up_database(archive) as pg:
        rows = int(pg.psql("SELECT count(*) FROM ticks")) + 500

        drilled = run_drill(archive, workdir)

    assert drilled.returncode == 0, drilled.output
    result = drilled.result
    assert result["result"] == "Passed", result
    assert 0 < float(result["rtoSeconds"]) < 300
    assert result["finishedAt"].endswith("Z")
    assert "pg_amcheck found no corruption" in result["message"]
    # Every row, those of the base backup and those only in the WAL after it.
    assert f"read 2 tables, {rows} rows" in result["message"], result["message"]
    assert_no_scratch_left(workdir)
    print(f"drill RTO (small database, restore + recovery): {result['rtoSeconds']} s")


def corrupt_table_in_base_backup(s3: S3Server, relation_path: str) -> None:
    """Overwrite the page header of the first block of a table's file inside the stored base
    backup's tar, the object rewritten through the S3 API (its checksums stay consistent:
    only the content is wrong, as after a bad disk or a bad copy)."""
    client = s3.client()
    (key,) = [k for k in s3.keys(f"{PREFIX}/{SERVER_NAME}/base/") if k.endswith("/data.tar")]
    data = bytearray(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    with tarfile.open(fileobj=io.BytesIO(bytes(data))) as tar:
        (member,) = [m for m in tar.getmembers() if m.name.endswith(relation_path)]
    data[member.offset_data : member.offset_data + 24] = b"\xff" * 24
    client.put_object(Bucket=BUCKET, Key=key, Body=bytes(data))


def test_the_drill_finds_a_corrupted_data_file_in_the_stored_base_backup(
    s3_primary: S3Server, workdir: Path
) -> None:
    archive = Archive(stores=s3_primary.store_env("PRIMARY", PREFIX))
    with backed_up_database(archive) as pg:
        relation_path = pg.psql("SELECT pg_relation_filepath('victim')")
    corrupt_table_in_base_backup(s3_primary, relation_path)

    drilled = run_drill(archive, workdir)

    assert drilled.returncode == 1, drilled.output
    assert drilled.result["result"] == "Failed"
    message = drilled.result["message"]
    assert "pg_amcheck found corruption" in message and "public.victim" in message, message
    assert f"invalid page in block 0 of relation {relation_path}" in message, message
    assert drilled.result["rtoSeconds"] != ""  # it restored; the checks failed
    assert_no_scratch_left(workdir)


def test_the_drill_finds_a_wal_segment_the_backup_needs_missing(
    s3_primary: S3Server, workdir: Path
) -> None:
    archive = Archive(stores=s3_primary.store_env("PRIMARY", PREFIX))
    with backed_up_database(archive):
        pass
    (label,) = [
        k for k in s3_primary.keys(f"{PREFIX}/{SERVER_NAME}/base/") if k.endswith("backup.info")
    ]
    info = s3_primary.client().get_object(Bucket=BUCKET, Key=label)["Body"].read().decode()
    begin_wal = next(
        line.split("=", 1)[1] for line in info.splitlines() if line.startswith("begin_wal=")
    )
    wal_prefix = f"{PREFIX}/{SERVER_NAME}/wals/"
    (needed,) = [
        k
        for k in s3_primary.keys(wal_prefix)
        if k.rsplit("/", 1)[1] in (begin_wal, f"{begin_wal}.gz")
    ]
    s3_primary.client().delete_object(Bucket=BUCKET, Key=needed)

    drilled = run_drill(archive, workdir)

    assert drilled.returncode == 1, drilled.output
    assert drilled.result["result"] == "Failed"
    assert drilled.result["rtoSeconds"] == ""
    message = drilled.result["message"]
    assert "the restored backup did not start" in message, message
    assert "could not locate required checkpoint record" in message, message
    assert_no_scratch_left(workdir)
