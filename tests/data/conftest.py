"""Fixtures for the data tests: real PostgreSQL and Redis servers on loopback.

Without the servers installed the tests skip, unless TIERKEEPER_REQUIRE_ALL=1
(as `make test` sets), where they fail: CI must never pass by skipping them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.data.dataservers import (
    PostgresServer,
    ServerUnavailable,
    postgres_bindir,
    postgres_server,
    redis_server_binary,
)


def _unavailable(reason: str) -> None:
    if os.environ.get("TIERKEEPER_REQUIRE_ALL") == "1":
        pytest.fail(f"{reason} (TIERKEEPER_REQUIRE_ALL=1: missing servers are an error)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    try:
        postgres_bindir()
    except ServerUnavailable as e:
        _unavailable(str(e))
    with postgres_server() as server:
        yield server


@pytest.fixture
def database(pg_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty UTF-8 database of the test's own; dropped afterwards."""
    name = f"shop_{uuid.uuid4().hex[:8]}"
    pg_server.create_database(name)
    yield name
    pg_server.drop_database(name)


@pytest.fixture
def backup_dir(tmp_path: Path) -> Path:
    path = tmp_path / "backups"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def require_redis() -> Callable[[], None]:
    def check() -> None:
        try:
            redis_server_binary()
        except ServerUnavailable as e:
            _unavailable(str(e))

    return check
