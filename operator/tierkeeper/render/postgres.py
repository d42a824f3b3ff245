"""PostgreSQL: builtin StatefulSet + Service, or a CloudNativePG Cluster; the credentials Secret."""

from __future__ import annotations

from typing import Any

from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.archiving import archiving
from tierkeeper.models.endpoints import POSTGRES_PORT
from tierkeeper.models.status import MigrationPhase
from tierkeeper.models.units import CRON_MACROS, duration_seconds
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
    value_env,
)
from tierkeeper.render.migration import cloned_from_builtin
from tierkeeper.render.objectstore import (
    base_backup_sidecar,
    cnpg_barman_object_store,
    database_image,
    postgres_args,
    recovery_window_days,
    store_env,
    store_mounts,
    store_volumes,
)
from tierkeeper.render.objectstore import image as object_store_image
from tierkeeper.render.recovery import (
    BOOTSTRAP_ANNOTATION,
    bootstrap_annotation,
    cnpg_recovery,
    recovery_init_container,
    recovery_volumes,
)
from tierkeeper.render.volumes import AS_WANTED, Volume, VolumeSizes, volume_size

DATABASE = "app"
USERNAME = "app"
CNPG_API_VERSION = "postgresql.cnpg.io/v1"
URI_KEY = "uri"
PASSWORD_KEY = "password"
DATA_MOUNT = "/var/lib/postgresql/data"

OFFICIAL_IMAGE = "postgres:{version}"
CLOUDNATIVE_PG_IMAGE = "ghcr.io/cloudnative-pg/postgresql:{version}"


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
    credentials = env.names.postgres_credentials
    data_mount = {"name": "data", "mountPath": DATA_MOUNT}
    server_env = [
        secret_env("POSTGRES_USER", credentials, "username"),
        secret_env("POSTGRES_PASSWORD", credentials, PASSWORD_KEY),
        secret_env("POSTGRES_DB", credentials, "database"),
        {"name": "PGDATA", "value": f"{DATA_MOUNT}/pgdata"},
    ]
    container: Manifest = {
        "name": "postgres",
        "image": database_image(env, OFFICIAL_IMAGE),
        "ports": [{"name": "postgres", "containerPort": POSTGRES_PORT}],
        "env": list(server_env),
        "readinessProbe": {
            "exec": {"command": ["pg_isready", "-U", USERNAME, "-d", DATABASE]},
            "periodSeconds": 10,
        },
        "volumeMounts": [data_mount],
    }
    pod: Manifest = {"securityContext": {"fsGroup": 999}, "containers": [container]}
    if archiving(env):
        # The image with barman-cloud; the official entry point passes `-c` args on.
        container["image"] = object_store_image(env)
        container["args"] = ["postgres", *postgres_args(env)]
        container["env"] += store_env(env)
        container["volumeMounts"] += store_mounts(env)
        pod["volumes"] = store_volumes(env)
        client_env = [
            value_env("PGHOST", "127.0.0.1"),
            value_env("PGPORT", POSTGRES_PORT),
            secret_env("PGUSER", credentials, "username"),
            secret_env("PGPASSWORD", credentials, PASSWORD_KEY),
            secret_env("PGDATABASE", credentials, "database"),
        ]
        pod["containers"].append(
            base_backup_sidecar(env, postgres_env=client_env, data_mount=data_mount)
        )
    recover = recovery_init_container(env, server_env=server_env, data_mount=data_mount)
    if recover is not None:
        pod["initContainers"] = [recover]
        pod["volumes"] = [*pod.get("volumes", []), *recovery_volumes(env)]
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _database_metadata(env),
        "spec": {
            "serviceName": env.names.postgres,
            "replicas": 1,
            "selector": {"matchLabels": selector(env, Component.POSTGRES)},
            "template": {"metadata": {"labels": labels(env, Component.POSTGRES)}, "spec": pod},
            "volumeClaimTemplates": [
                claim_template(env, Component.POSTGRES, volume_size(env, Volume.POSTGRES, sizes))
            ],
            "persistentVolumeClaimRetentionPolicy": claim_retention(env),
        },
    }


def render_cnpg_cluster(
    env: ResolvedEnvironment, migration: MigrationPhase | None = None
) -> Manifest | None:
    """A CloudNativePG Cluster; CNPG itself runs the instances, failover and backups.
    `migration`: the Cluster takes over the builtin instance's data (render/migration.py)."""
    postgres = env.spec.postgres
    if not (postgres.enabled and env.cloudnative_pg):
        return None
    spec: Manifest = {
        "instances": postgres.instances,
        "imageName": database_image(env, CLOUDNATIVE_PG_IMAGE),
        "storage": {"size": postgres.storage},
        **cnpg_recovery(
            env,
            {
                "database": DATABASE,
                "owner": USERNAME,
                "secret": {"name": env.names.postgres_credentials},
            },
        ),
    }
    if postgres.backup.enabled:
        spec["backup"] = {
            "retentionPolicy": f"{postgres.backup.retention_days}d",
            "volumeSnapshot": {"online": True},
        }
        barman = cnpg_barman_object_store(env)
        if barman is not None:
            # Snapshots stay as an extra; the store is what survives the cluster.
            spec["backup"]["barmanObjectStore"] = barman
            spec["backup"]["retentionPolicy"] = f"{recovery_window_days(env)}d"
            if postgres.backup.pitr.enabled:
                seconds = duration_seconds(postgres.backup.pitr.archive_timeout)
                spec["postgresql"] = {"parameters": {"archive_timeout": f"{seconds}s"}}
    cloned_from_builtin(spec, env, migration)
    return {
        "apiVersion": CNPG_API_VERSION,
        "kind": "Cluster",
        "metadata": _database_metadata(env),
        "spec": spec,
    }


def _database_metadata(env: ResolvedEnvironment) -> dict[str, Any]:
    """The StatefulSet's or Cluster's metadata: it records the bootstrap it was made with."""
    meta = metadata(env, env.names.postgres, Component.POSTGRES)
    if (bootstrap := bootstrap_annotation(env)) is not None:
        meta["annotations"] = {BOOTSTRAP_ANNOTATION: bootstrap}
    return meta


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
            "method": (
                "volumeSnapshot" if postgres.backup.object_store is None else "barmanObjectStore"
            ),
            "backupOwnerReference": "self",
            "immediate": True,
        },
    }


def cnpg_schedule(schedule: str) -> str:
    """CloudNativePG's six-field schedule (seconds first) for a five-field cron line."""
    return "0 " + CRON_MACROS.get(schedule, schedule)
