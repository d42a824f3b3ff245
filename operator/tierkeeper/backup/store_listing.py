"""What the primary object store holds of a database, read from barman-cloud's layout:
`<path>/<server>/base/<backup id>/backup.info` for each base backup and
`<path>/<server>/wals/<timeline and log>/<segment>[.compression]` for the WAL.

botocore is imported only by `read_store`, which only Environments with a store reach:
its service models cost memory that an operator without stores must not pay. The calls
block; callers run them off the event loop. Errors name their kind, never the
credentials they were sent with.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tierkeeper.models.backup import ObjectStore

# A WAL segment's name: timeline, log and segment, 8 hex digits each. Backup labels
# (<segment>.<offset>.backup), timeline histories and partial segments are not segments.
SEGMENT = re.compile(r"^([0-9A-F]{24})(\.(gz|bz2|xz|snappy|zst|lz4))?$")
# Seconds the operator waits for the store: a store that answers slower counts as
# unreachable for this look, and the next look tries again.
TIMEOUT_SECONDS = 10


class StoreUnreachable(Exception):
    """The store could not be listed; the message says why, without credentials."""


@dataclass(frozen=True, slots=True)
class BaseBackupInfo:
    id: str
    end_time: datetime


@dataclass(frozen=True, slots=True)
class StoreListing:
    """The figures of one look at the primary store."""

    first_backup: BaseBackupInfo | None = None
    last_backup: BaseBackupInfo | None = None
    last_wal: str | None = None
    last_wal_time: datetime | None = None


# A look at the store: its figures, or why it could not be read.
StoreReading = StoreListing | StoreUnreachable


@dataclass(frozen=True, slots=True)
class StoreCredentials:
    access_key_id: str
    secret_access_key: str
    ca_bundle: str | None = None  # PEM

    def __repr__(self) -> str:
        return "StoreCredentials(<redacted>)"


def parse_backup_info(backup_id: str, text: str) -> BaseBackupInfo | None:
    """A finished backup's end time from its backup.info (which names the backup by its
    folder, not by a key of its own); None unless DONE."""
    fields = dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")
    )
    if fields.get("status") != "DONE" or not fields.get("end_time"):
        return None
    end = datetime.fromisoformat(fields["end_time"].strip())
    return BaseBackupInfo(backup_id, end if end.tzinfo else end.replace(tzinfo=UTC))


def newest_segment(keys: Iterable[str]) -> str | None:
    """The key of the newest WAL segment among object keys (names sort by timeline, then
    position)."""
    segments = [k for k in keys if SEGMENT.match(k.rsplit("/", 1)[-1])]
    return max(segments, key=lambda k: k.rsplit("/", 1)[-1][:24], default=None)


def server_prefix(store: ObjectStore, server_name: str) -> str:
    """The database's folder in the bucket, as object-store.sh's barman-cloud writes it."""
    return "/".join(p for p in (store.path.strip("/"), server_name) if p) + "/"


def read_store(
    store: ObjectStore,
    server_name: str,
    credentials: StoreCredentials,
    previous: StoreListing | None = None,
) -> StoreListing:
    """The store's figures now: blocking, a few requests (a backup.info only for a base
    backup not seen before). Raises StoreUnreachable."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return _read(_client(store, credentials), store, server_name, previous or StoreListing())
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "unknown")
        raise StoreUnreachable(f"the store refused the listing ({code})") from None
    except BotoCoreError as error:
        raise StoreUnreachable(f"the store did not answer ({type(error).__name__})") from None


def _read(client: Any, store: ObjectStore, server: str, previous: StoreListing) -> StoreListing:
    prefix = server_prefix(store, server)
    backup_ids = sorted(_folders(client, store.bucket, prefix + "base/"))
    first = _first_done(client, store.bucket, prefix, backup_ids, previous.first_backup)
    last = _first_done(client, store.bucket, prefix, reversed(backup_ids), previous.last_backup)
    folders = sorted(_folders(client, store.bucket, prefix + "wals/"))
    last_wal, last_wal_time = None, None
    for folder in reversed(folders):
        objects = {
            o["Key"]: o["LastModified"] for o in _objects(client, store.bucket, f"{folder}/")
        }
        if (key := newest_segment(objects)) is not None:
            last_wal, last_wal_time = key.rsplit("/", 1)[-1][:24], objects[key].astimezone(UTC)
            break
    return StoreListing(first, last, last_wal, last_wal_time)


def _first_done(
    client: Any, bucket: str, prefix: str, ids: Iterable[str], known: BaseBackupInfo | None
) -> BaseBackupInfo | None:
    """The first backup of `ids` that finished; `known` is not read again."""
    for folder in ids:
        backup_id = folder.rstrip("/").rsplit("/", 1)[-1]
        if known is not None and known.id == backup_id:
            return known
        body = client.get_object(Bucket=bucket, Key=f"{folder}/backup.info")["Body"]
        info = parse_backup_info(backup_id, body.read().decode("utf-8", "replace"))
        if info is not None:
            return info
    return None


def _folders(client: Any, bucket: str, prefix: str) -> Iterator[str]:
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, Delimiter="/"
    )
    for page in pages:
        for common in page.get("CommonPrefixes") or []:
            yield common["Prefix"].rstrip("/")


def _objects(client: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents") or []


@functools.cache
def _session() -> Any:
    """One botocore session for the process: each loads the service models anew."""
    import botocore.session

    # botocore's debug records print each request's headers, the Authorization header
    # (and the access key ID in it) among them: credentials never reach the logs, whatever
    # level the operator logs at.
    logging.getLogger("botocore").setLevel(logging.WARNING)
    return botocore.session.get_session()


def _client(store: ObjectStore, credentials: StoreCredentials) -> Any:
    from botocore.config import Config

    config = Config(
        connect_timeout=TIMEOUT_SECONDS,
        read_timeout=TIMEOUT_SECONDS,
        retries={"max_attempts": 1},
        signature_version="s3v4",
    )
    return _session().create_client(
        "s3",
        endpoint_url=store.endpoint,
        region_name=store.region or "us-east-1",
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        verify=_ca_file(credentials.ca_bundle) if credentials.ca_bundle else True,
        config=config,
    )


def _ca_file(pem: str) -> str:
    """botocore takes a CA bundle as a file: one per distinct bundle, kept for the process."""
    path = (
        Path(tempfile.gettempdir())
        / f"tierkeeper-ca-{hashlib.sha256(pem.encode()).hexdigest()[:16]}.pem"
    )
    if not path.exists():
        path.write_text(pem)
    return str(path)
