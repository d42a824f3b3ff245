"""Backups to object stores (postgres.backup.objectStore): WAL archiving and restore for the
builtin StatefulSet through the packaged object-store.sh (barman-cloud), and the
CloudNativePG Cluster's own `barmanObjectStore` (copied off-site by object-store.sh's
mirror, render/offsite.py).

Credentials only ever travel as secretKeyRef environment variables: never as a value
in a manifest, never in a command line.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.archiving import archiving, mirrored
from tierkeeper.models.backup import ObjectStore
from tierkeeper.models.units import duration_seconds, numeric_schedule
from tierkeeper.render.common import Component, Manifest, metadata, secret_env, value_env

OBJECT_STORE_SCRIPT_NAME = "object-store.sh"
RECOVER_SCRIPT_NAME = "recover.sh"
SCRIPT_MOUNT = "/opt/tierkeeper/object-store"
CA_MOUNT = "/etc/tierkeeper/object-store-ca"
# PostgreSQL with barman-cloud and rclone (images/postgres/Dockerfile), one tag per major
# version.
IMAGE_REPOSITORY = "ghcr.io/tierkeeper/postgres"
# That image's `postgres` user.
POSTGRES_UID = 999


def object_store_script(name: str = OBJECT_STORE_SCRIPT_NAME) -> str:
    """The text of a script of the object-store ConfigMap, as shipped in the package."""
    script = resources.files("tierkeeper") / "scripts" / name
    return script.read_text("utf-8")


def stores(env: ResolvedEnvironment) -> list[tuple[str, ObjectStore]]:
    """(slot, store) in the order object-store.sh reads them: PRIMARY, then OFFSITE."""
    backup = env.spec.postgres.backup
    slots = [("PRIMARY", backup.object_store), ("OFFSITE", backup.offsite_object_store)]
    return [(slot, store) for slot, store in slots if store is not None]


def image(env: ResolvedEnvironment) -> str:
    """The database image where backups go to a store: barman-cloud must be in it."""
    return database_image(env, f"{IMAGE_REPOSITORY}:{{version}}")


def database_image(env: ResolvedEnvironment, default: str) -> str:
    """postgres.image if set, else `default`; `{version}` is the major version in both."""
    postgres = env.spec.postgres
    return (postgres.image or default).replace("{version}", postgres.version)


def recovery_window_days(env: ResolvedEnvironment) -> int:
    """Base backups are kept retentionDays and WAL back to the oldest kept one, so
    the window is at least the PITR window."""
    backup = env.spec.postgres.backup
    return max(backup.retention_days, backup.pitr.window_days if backup.pitr.enabled else 0)


def retention_env(env: ResolvedEnvironment) -> dict[str, Any]:
    """object-store.sh's retention policy (prune, mirror): barman-cloud's recovery window."""
    return value_env("BACKUP_RETENTION", f"RECOVERY WINDOW OF {recovery_window_days(env)} DAYS")


def store_env(env: ResolvedEnvironment) -> list[dict[str, Any]]:
    """object-store.sh's environment: each store's location, and its credentials by reference."""
    result = [value_env("BACKUP_SERVER_NAME", env.name)]
    for slot, store in stores(env):
        credentials = store.credentials
        result += [
            value_env(f"BACKUP_{slot}_URL", store.destination),
            secret_env(
                f"BACKUP_{slot}_ACCESS_KEY_ID",
                credentials.access_key_id.name,
                credentials.access_key_id.key,
            ),
            secret_env(
                f"BACKUP_{slot}_SECRET_ACCESS_KEY",
                credentials.secret_access_key.name,
                credentials.secret_access_key.key,
            ),
        ]
        if store.endpoint:
            result.append(value_env(f"BACKUP_{slot}_ENDPOINT", store.endpoint))
        if store.region:
            result.append(value_env(f"BACKUP_{slot}_REGION", store.region))
        if store.ca_bundle:
            result.append(value_env(f"BACKUP_{slot}_CA_BUNDLE", f"{CA_MOUNT}/{slot.lower()}.pem"))
    return result


def script_volume(env: ResolvedEnvironment) -> dict[str, Any]:
    return {"name": "object-store-script", "configMap": {"name": env.names.object_store_script}}


def ca_volume(env: ResolvedEnvironment, name: str) -> dict[str, Any] | None:
    """A projected volume of the stores' CA bundles (`<slot>.pem`), if any has one."""
    sources = [
        {
            "secret": {
                "name": s.ca_bundle.name,
                "items": [{"key": s.ca_bundle.key, "path": f"{slot.lower()}.pem"}],
            }
        }
        for slot, s in stores(env)
        if s.ca_bundle is not None
    ]
    return {"name": name, "projected": {"sources": sources}} if sources else None


def store_volumes(env: ResolvedEnvironment) -> list[dict[str, Any]]:
    """The script's ConfigMap, and a projected volume of the stores' CA bundles if any."""
    ca = ca_volume(env, "object-store-ca")
    return [script_volume(env), *([ca] if ca else [])]


def store_mounts(env: ResolvedEnvironment) -> list[dict[str, Any]]:
    mounts = [{"name": "object-store-script", "mountPath": SCRIPT_MOUNT, "readOnly": True}]
    if any(store.ca_bundle is not None for _, store in stores(env)):
        mounts.append({"name": "object-store-ca", "mountPath": CA_MOUNT, "readOnly": True})
    return mounts


def postgres_args(env: ResolvedEnvironment) -> list[str]:
    """Server settings (`postgres -c ...`) for archiving into, and restoring from, the stores.

    Without PITR, archive_timeout stays off: WAL leaves as segments fill (what base
    backups need), and no RPO is promised.
    """
    script = f"{SCRIPT_MOUNT}/{OBJECT_STORE_SCRIPT_NAME}"
    settings = {
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_command": f"sh {script} archive-wal %p",
        "restore_command": f"sh {script} restore-wal %f %p",
    }
    pitr = env.spec.postgres.backup.pitr
    if pitr.enabled:
        settings["archive_timeout"] = str(duration_seconds(pitr.archive_timeout))
    return [arg for name, value in settings.items() for arg in ("-c", f"{name}={value}")]


def base_backup_sidecar(
    env: ResolvedEnvironment, *, postgres_env: list[dict[str, Any]], data_mount: dict[str, Any]
) -> dict[str, Any]:
    """The container that takes the scheduled base backups, then prunes by retention.

    barman-cloud-backup reads the data directory itself, so it runs beside the
    server in its pod (sharing the data volume, as the server's user), not in a
    CronJob's pod, which could not mount a ReadWriteOnce volume in use.
    """
    schedule = numeric_schedule(env.spec.postgres.backup.schedule)
    return base_backup_container(
        env,
        "base-backup",
        ["scheduled", schedule],
        postgres_env=postgres_env,
        data_mount=data_mount,
    )


def base_backup_container(
    env: ResolvedEnvironment,
    name: str,
    args: list[str],
    *,
    postgres_env: list[dict[str, Any]],
    data_mount: dict[str, Any],
) -> dict[str, Any]:
    """A container running object-store.sh `args` with the data directory at `data_mount`,
    as the server's user."""
    return {
        "name": name,
        "image": image(env),
        "command": ["sh", f"{SCRIPT_MOUNT}/{OBJECT_STORE_SCRIPT_NAME}", *args],
        "env": [*postgres_env, *store_env(env), retention_env(env)],
        "securityContext": {"runAsUser": 999, "runAsGroup": 999},
        "volumeMounts": [data_mount, *store_mounts(env)],
    }


def render_object_store_script(env: ResolvedEnvironment) -> Manifest | None:
    """object-store.sh (for the builtin database, or a CloudNativePG database's off-site
    mirror), and beside it recover.sh for a builtin database that starts from another
    Environment's backups (postgres.bootstrap.recovery)."""
    postgres = env.spec.postgres
    recovering = postgres.enabled and postgres.bootstrap is not None and not env.cloudnative_pg
    if not (archiving(env) or recovering or mirrored(env)):
        return None
    data = {OBJECT_STORE_SCRIPT_NAME: object_store_script()}
    if recovering:
        data[RECOVER_SCRIPT_NAME] = object_store_script(RECOVER_SCRIPT_NAME)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(env, env.names.object_store_script, Component.BACKUP),
        "data": data,
    }


def cnpg_barman_object_store(env: ResolvedEnvironment) -> dict[str, Any] | None:
    """The Cluster's `spec.backup.barmanObjectStore` (CloudNativePG's in-tree barman-cloud)."""
    store = env.spec.postgres.backup.object_store
    if store is None:
        return None
    credentials = store.credentials
    barman: dict[str, Any] = {
        "destinationPath": store.destination,
        "serverName": env.name,
        "s3Credentials": {
            "accessKeyId": credentials.access_key_id.wire(),
            "secretAccessKey": credentials.secret_access_key.wire(),
        },
        "wal": {"compression": "gzip"},
    }
    if store.endpoint:
        barman["endpointURL"] = store.endpoint
    if store.ca_bundle:
        barman["endpointCA"] = store.ca_bundle.wire()
    return barman
