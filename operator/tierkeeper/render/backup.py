"""Builtin backups: a CronJob running the packaged backup script onto the `E-backups` volume.

The script travels in the Job's own command, not in a ConfigMap: the dump Job template is
its only reader, and an object fewer per Environment is a write fewer on every create.
"""

from __future__ import annotations

from tierkeeper.backup.dumps import BACKUP_SCRIPT_NAME, backup_script
from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.endpoints import POSTGRES_PORT
from tierkeeper.render.common import Component, Manifest, labels, metadata, secret_env, value_env
from tierkeeper.render.objectstore import database_image
from tierkeeper.render.postgres import OFFICIAL_IMAGE, PASSWORD_KEY
from tierkeeper.render.volumes import AS_WANTED, Volume, VolumeSizes, builtin_backups, volume_size

BACKUP_MOUNT = "/backups"
STARTING_DEADLINE_SECONDS = 300
BACKOFF_LIMIT = 2
ACTIVE_DEADLINE_SECONDS = 3600


def render_backups_pvc(env: ResolvedEnvironment, sizes: VolumeSizes = AS_WANTED) -> Manifest | None:
    if not builtin_backups(env):
        return None
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata(env, env.names.backups_pvc, Component.BACKUP),
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": volume_size(env, Volume.BACKUPS, sizes)}},
        },
    }


def postgres_client_env(env: ResolvedEnvironment) -> list[Manifest]:
    """libpq's settings for a client of the database through its Service."""
    credentials = env.names.postgres_credentials
    return [
        secret_env("PGHOST", credentials, "host"),
        value_env("PGPORT", POSTGRES_PORT),
        secret_env("PGUSER", credentials, "username"),
        secret_env("PGPASSWORD", credentials, PASSWORD_KEY),
        secret_env("PGDATABASE", credentials, "database"),
    ]


def dump_job_template(env: ResolvedEnvironment) -> Manifest:
    """A Job that dumps the database onto the backups volume and prunes old dumps: the
    CronJob's, and a pre-switch backup's where no object store is configured."""
    postgres = env.spec.postgres
    names = env.names
    return {
        "metadata": {"labels": labels(env, Component.BACKUP)},
        "spec": {
            "backoffLimit": BACKOFF_LIMIT,
            "activeDeadlineSeconds": ACTIVE_DEADLINE_SECONDS,
            "template": {
                "metadata": {"labels": labels(env, Component.BACKUP)},
                "spec": {
                    "restartPolicy": "Never",
                    "securityContext": {"runAsUser": 999, "fsGroup": 999},
                    "containers": [
                        {
                            "name": "backup",
                            "image": database_image(env, OFFICIAL_IMAGE),
                            # `sh -c SCRIPT NAME`: the script as it ships, run under its
                            # file name ($0), as `sh FILE` would run it.
                            "command": ["sh", "-c", backup_script(), BACKUP_SCRIPT_NAME],
                            "env": [
                                *postgres_client_env(env),
                                value_env("BACKUP_DIR", BACKUP_MOUNT),
                                value_env("RETENTION_DAYS", postgres.backup.retention_days),
                            ],
                            "volumeMounts": [{"name": "backups", "mountPath": BACKUP_MOUNT}],
                        }
                    ],
                    "volumes": [
                        {
                            "name": "backups",
                            "persistentVolumeClaim": {"claimName": names.backups_pvc},
                        },
                    ],
                },
            },
        },
    }


def render_backup_cronjob(env: ResolvedEnvironment) -> Manifest | None:
    if not builtin_backups(env):
        return None
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata(env, env.names.backup_cronjob, Component.BACKUP),
        "spec": {
            "schedule": env.spec.postgres.backup.schedule,
            "timeZone": "UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": STARTING_DEADLINE_SECONDS,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": dump_job_template(env),
        },
    }
