"""`tierkeeper restore --environment`: what it refuses before touching any store, and the
recovery settings it leaves for PostgreSQL (the restores themselves: tests/data)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tierkeeper.backup.object_store import StoreRestoreError, prepare_restore, recovery_settings
from tierkeeper.cli import main


def test_a_restore_never_writes_into_a_directory_that_holds_anything(tmp_path: Path) -> None:
    (tmp_path / "PG_VERSION").write_text("15\n")
    with pytest.raises(StoreRestoreError, match="not empty"):
        prepare_restore(tmp_path, None, env={})
    assert [p.name for p in tmp_path.iterdir()] == ["PG_VERSION"]


def test_a_target_time_without_a_zone_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreRestoreError, match="time zone"):
        prepare_restore(tmp_path / "new", datetime(2026, 12, 3, 10), env={})


def test_recovery_stops_at_the_target_promotes_and_never_archives_into_the_source_stores() -> None:
    target = datetime(2026, 12, 3, 10, 0, 0, 123456, tzinfo=UTC)
    settings = recovery_settings(target)
    assert settings["recovery_target_time"] == "2026-12-03T10:00:00.123456+00:00"
    assert settings["recovery_target_action"] == "promote"
    assert settings["archive_mode"] == "off"
    assert settings["restore_command"].endswith("object-store.sh restore-wal %f %p")
    assert "recovery_target_time" not in recovery_settings(None)


@pytest.mark.parametrize(
    "args",
    [
        ["--environment", "shop", "--latest"],
        ["--environment", "shop", "--data-dir", "x"],
        ["--environment", "shop", "--data-dir", "x", "--latest", "--to-time", "2026-12-03T10:00Z"],
    ],
)
def test_the_cli_wants_a_data_dir_and_exactly_one_target(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["restore", *args]) == 2
    assert "--data-dir" in capsys.readouterr().err
