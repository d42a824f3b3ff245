"""Database backups: the schedule, point-in-time recovery and the object stores."""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from tierkeeper.models.base import Model, SecretKeyRef
from tierkeeper.models.units import Duration, Schedule


class Pitr(Model):
    """Point-in-time recovery: continuous WAL archiving into the backup object store."""

    enabled: bool = Field(
        False,
        description="Archive WAL continuously for point-in-time recovery; needs "
        "backup.objectStore. The tier's default applies only where a store is configured.",
    )
    window_days: int = Field(7, ge=1, le=365, description="Days that can be recovered to.")
    archive_timeout: Duration = Field(
        "5m",
        description="A WAL segment is archived at least this often while the database "
        "writes: the most data a lost volume can take with it (the RPO).",
    )


class S3Credentials(Model):
    """Keys of Secrets in the Environment's namespace holding the store's credentials."""

    access_key_id: SecretKeyRef = Field(description="The access key ID.")
    secret_access_key: SecretKeyRef = Field(description="The secret access key.")


class ObjectStore(Model):
    """An S3-compatible bucket that WAL and base backups are written to."""

    bucket: str = Field(
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", max_length=63, description="Bucket name."
    )
    path: str = Field(
        "",
        pattern=r"^([A-Za-z0-9._-]+/)*[A-Za-z0-9._-]*$",
        max_length=512,
        description="Path prefix inside the bucket; the database's folder goes below it.",
    )
    endpoint: str | None = Field(
        None,
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        max_length=1024,
        description="S3 endpoint URL; absent means AWS S3.",
    )
    region: str | None = Field(
        None, pattern=r"^[a-z0-9-]+$", max_length=64, description="Region of the bucket."
    )
    credentials: S3Credentials = Field(description="Where the credentials are kept.")
    ca_bundle: SecretKeyRef | None = Field(
        None, description="A PEM CA bundle that signs the endpoint's certificate."
    )

    @property
    def destination(self) -> str:
        """The store's URL as barman-cloud takes it: s3://bucket/path."""
        return f"s3://{self.bucket}/{self.path}".rstrip("/")


class Drill(Model):
    """The disaster-recovery drill: the latest backup in the object store restored into a
    scratch instance and checked, on a schedule and on demand (`tierkeeper drill ENV`)."""

    scheduled: bool = Field(
        True,
        description="Drill on the schedule; false keeps the drill for `tierkeeper drill` only.",
    )
    schedule: Schedule = Field(
        "0 5 1 1 *",
        description="Cron schedule, in UTC. The default is yearly, the least a recovery "
        "plan that is never tested should be trusted with.",
    )


class Backup(Model):
    """Scheduled database backups."""

    enabled: bool = Field(True, description="Take scheduled backups.")
    schedule: Schedule = Field("0 3 * * *", description="Cron schedule, in UTC.")
    retention_days: int = Field(7, ge=1, le=3650, description="Days a backup is kept.")
    pitr: Pitr = Field(default_factory=Pitr, description="Point-in-time recovery.")
    object_store: ObjectStore | None = Field(
        None,
        description="Where base backups and WAL go (S3). Without it, backups are dumps "
        "on a volume in the Environment's namespace and there is no PITR.",
    )
    offsite_object_store: ObjectStore | None = Field(
        None,
        description="A second store (another region) that every base backup and WAL "
        "segment also reaches (on CloudNativePG, by a copy of objectStore every "
        "pitr.archiveTimeout); a restore works from either one alone.",
    )
    drill: Drill = Field(
        default_factory=Drill,
        description="Restore drills of the object store's latest backup (needs objectStore; "
        "without one, `tierkeeper restore --verify` drills the dumps).",
    )


class Recovery(Model):
    """Start from another Environment's backups: its base backup and WAL in its stores."""

    source: str = Field(
        alias="from",
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        max_length=253,
        description="The Environment (in this namespace) whose backups the database starts "
        "from; it must have postgres.backup.objectStore and the same postgres.version. "
        "Needed while this is set; once the database is up, the bootstrap may be removed.",
    )
    target_time: AwareDatetime | None = Field(
        None,
        description="Recover what was committed at or before this time (RFC 3339, with a "
        "zone); absent means the latest archived WAL.",
    )


class Bootstrap(Model):
    """How a new database starts; applies only at creation, never to a live one."""

    recovery: Recovery = Field(description="Restore from another Environment's backups.")
