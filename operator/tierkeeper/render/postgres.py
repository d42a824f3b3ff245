"""PostgreSQL: builtin StatefulSet + Service, or a CloudNativePG Cluster; the credentials Secret."""

from __future__ import annotations

from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.endpoints import POSTGRES_PORT
from tierkeeper.render.common import (
    Component,
    Manifest,
    claim_retention,
    claim_template,
    data_service,
    labels,
    metadata,
    secret_env,
    selector,
)
from tierkeeper.render.volumes import AS_WANTED, Volume, VolumeSizes, volume_size

DATABASE = "app"
USERNAME = "app"
CNPG_API_VERSION = "postgresql.cnpg.io/v1"
URI_KEY = "uri"
PASSWORD_KEY = "password"
DATA_MOUNT = "/var/lib/postgresql/data"


def render_credentials_secret(env: ResolvedEnvironment, password: str) -> Manifest | None:
    """The credentials Secret; the caller supplies the password (generated once, kept forever).

    Type basic-auth so that CloudNativePG's initdb can take it as the owner's secret.
    """
    if not env.spec.postgres.enabled:
        return None
    host = env.postgres_host
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(env, env.names.postgres_credentials, Component.POSTGRES),
        "type": "kubernetes.io/basic-auth",
        "stringData": {
            "username": USERNAME,
            PASSWORD_KEY: password,
            "database": DATABASE,
            "host": host,
            "port": str(POSTGRES_PORT),
            URI_KEY: f"postgresql://{USERNAME}:{password}@{host}:{POSTGRES_PORT}/{DATABASE}",
        },
    }


def _builtin(env: ResolvedEnvironment) -> bool:
    return env.spec.postgres.enabled and not env.cloudnative_pg


def render_postgres_service(env: ResolvedEnvironment) -> Manifest | None:
    if not _builtin(env):
        return None
    return data_service(env, Component.POSTGRES, env.names.postgres, POSTGRES_PORT)


def render_postgres_statefulset(
    env: ResolvedEnvironment, sizes: VolumeSizes = AS_WANTED
) -> Manifest | None:
    if not _builtin(env):
        return None
    postgres = env.spec.postgres
    credentials = env.names.postgres_credentials
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(env, env.names.postgres, Component.POSTGRES),
        "spec": {
            "serviceName": env.names.postgres,
            "replicas": 1,
            "selector": {"matchLabels": selector(env, Component.POSTGRES)},
            "template": {
                "metadata": {"labels": labels(env, Component.POSTGRES)},
                "spec": {
                    "securityContext": {"fsGroup": 999},
                    "containers": [
                        {
                            "name": "postgres",
                            "image": f"postgres:{postgres.version}",
                            "ports": [{"name": "postgres", "containerPort": POSTGRES_PORT}],
                            "env": [
                                secret_env("POSTGRES_USER", credentials, "username"),
                                secret_env("POSTGRES_PASSWORD", credentials, PASSWORD_KEY),
                                secret_env("POSTGRES_DB", credentials, "database"),
                                {"name": "PGDATA", "value": f"{DATA_MOUNT}/pgdata"},
                            ],
                            "readinessProbe": {
                                "exec": {"command": ["pg_isready", "-U", USERNAME, "-d", DATABASE]},
                                "periodSeconds": 10,
                            },
                            "volumeMounts": [{"name": "data", "mountPath": DATA_MOUNT}],
                        }
                    ],
                },
            },
            "volumeClaimTemplates": [
                claim_template(env, Component.POSTGRES, volume_size(env, Volume.POSTGRES, sizes))
            ],
            "persistentVolumeClaimRetentionPolicy": claim_retention(env),
        },
    }


def render_cnpg_cluster(env: ResolvedEnvironment) -> Manifest | None:
    """A CloudNativePG Cluster; CNPG itself runs the instances, failover and backups."""
    postgres = env.spec.postgres
    if not (postgres.enabled and env.cloudnative_pg):
        return None
    spec: Manifest = {
        "instances": postgres.instances,
        "imageName": f"ghcr.io/cloudnative-pg/postgresql:{postgres.version}",
        "storage": {"size": postgres.storage},
        "bootstrap": {
            "initdb": {
                "database": DATABASE,
                "owner": USERNAME,
                "secret": {"name": env.names.postgres_credentials},
            }
        },
    }
    if postgres.backup.enabled:
        spec["backup"] = {
            "retentionPolicy": f"{postgres.backup.retention_days}d",
            "volumeSnapshot": {"online": True},
        }
    return {
        "apiVersion": CNPG_API_VERSION,
        "kind": "Cluster",
        "metadata": metadata(env, env.names.postgres, Component.POSTGRES),
        "spec": spec,
    }


def render_cnpg_scheduled_backup(env: ResolvedEnvironment) -> Manifest | None:
    postgres = env.spec.postgres
    if not (postgres.enabled and env.cloudnative_pg and postgres.backup.enabled):
        return None
    return {
        "apiVersion": CNPG_API_VERSION,
        "kind": "ScheduledBackup",
        "metadata": metadata(env, env.names.scheduled_backup, Component.BACKUP),
        "spec": {
            "schedule": cnpg_schedule(postgres.backup.schedule),
            "cluster": {"name": env.names.postgres},
            "method": "volumeSnapshot",
            "backupOwnerReference": "self",
            "immediate": True,
        },
    }


_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def cnpg_schedule(schedule: str) -> str:
    """CloudNativePG's six-field schedule (seconds first) for a five-field cron line."""
    return "0 " + _MACROS.get(schedule, schedule)
