"""Fixtures for the data tests: real PostgreSQL and Redis servers on loopback.

Without the servers installed the tests skip, unless TIERKEEPER_REQUIRE_ALL=1
(as `make test` sets), where they fail: CI must never pass by skipping them.
"""

from __future__ import annotations

import os
import shutil
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
from tests.data.objectstore import S3Server, s3_server, versitygw_binary
from tests.data.walarchive import barman_bin_dir


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


@pytest.fixture(scope="session")
def require_object_store() -> None:
    """versitygw and barman-cloud are installed (`make data-deps`)."""
    try:
        postgres_bindir()
        versitygw_binary()
        barman_bin_dir()
    except ServerUnavailable as e:
        _unavailable(str(e))


@pytest.fixture(scope="session")
def require_rclone(require_object_store: None) -> None:
    """rclone, which copies a primary store into the off-site one (`make data-deps`)."""
    if shutil.which("rclone") is None:
        _unavailable("rclone not installed; run `make data-deps`")


@pytest.fixture
def s3_primary(require_object_store: None) -> Iterator[S3Server]:
    """The primary backup store: a real S3 server (versitygw) standing for one region."""
    with s3_server("region-a") as server:
        yield server


@pytest.fixture
def s3_offsite(require_object_store: None) -> Iterator[S3Server]:
    """The off-site store: a second S3 server, in its own directory, for another region."""
    with s3_server("region-b") as server:
        yield server


@pytest.fixture
def s3_offsite_tls(require_object_store: None) -> Iterator[S3Server]:
    """An off-site store that serves TLS with a certificate of its own CA (caBundle)."""
    with s3_server("region-b", tls=True) as server:
        yield server
