"""object-store.sh's `scheduled` loop (the postgres pod's backup sidecar) and its cron matcher."""

from __future__ import annotations

import subprocess

import pytest

from tests.data.dataservers import postgres_server
from tests.data.objectstore import S3Server, object_store_script
from tests.data.walarchive import Archive, archiving_settings, create_ticks

# (numeric cron line, time as "minute hour day-of-month month day-of-week", matches)
CASES = [
    ("0 3 * * *", "0 3 5 6 2", True),
    ("0 3 * * *", "1 3 5 6 2", False),
    ("*/15 * * * *", "45 7 1 1 0", True),
    ("*/15 * * * *", "46 7 1 1 0", False),
    ("5,10 * * * *", "10 1 1 1 1", True),
    ("0 9-17/2 * * 1-5", "0 11 9 2 3", True),
    ("0 9-17/2 * * 1-5", "0 12 9 2 3", False),
    ("0 9-17/2 * * 1-5", "0 11 9 2 6", False),
    ("0 0 */2 * *", "0 0 3 1 1", True),
    ("0 0 */2 * *", "0 0 2 1 1", False),
    ("30 2 1/10 * *", "30 2 21 4 1", True),
    ("30 2 1/10 * *", "30 2 20 4 1", False),
    # A restricted day of month and day of week: either one is enough (cron's rule).
    ("0 0 1 * 1", "0 0 1 2 4", True),
    ("0 0 1 * 1", "0 0 2 2 1", True),
    ("0 0 1 * 1", "0 0 2 2 2", False),
    ("0 0 * * 7", "0 0 9 2 0", True),
    ("0 0 1 1,7 *", "0 0 1 7 3", True),
    ("0 0 1 1,7 *", "0 0 1 6 3", False),
]


@pytest.mark.parametrize(("line", "time", "matches"), CASES)
def test_cron_line_matches_the_times_cron_would_run_it(line: str, time: str, matches: bool) -> None:
    result = subprocess.run(
        ["sh", str(object_store_script()), "cron-matches", line, time],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stderr == ""
    assert result.returncode == (0 if matches else 1)


@pytest.mark.data
@pytest.mark.timeout(300)
def test_the_scheduled_loop_takes_a_base_backup_when_its_line_matches(
    s3_primary: S3Server,
) -> None:
    archive = Archive(stores=s3_primary.store_env("PRIMARY", "scheduled"))
    with postgres_server(settings=archiving_settings(archive), server_env=archive.env()) as pg:
        create_ticks(pg)
        pg_env = {k: v for k, v in pg.env().items() if k.startswith("PG")}
        loop = subprocess.Popen(
            ["sh", str(object_store_script()), "scheduled", "* * * * *"],
            env={**archive.env(), **pg_env, "BACKUP_RETENTION": "RECOVERY WINDOW OF 7 DAYS"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert loop.stdout is not None
            line = loop.stdout.readline()
            assert line.strip() == "object-store: scheduled base backup done", line
            assert [b["status"] for b in archive.backups()] == ["DONE"]
        finally:
            loop.kill()
            loop.wait()
