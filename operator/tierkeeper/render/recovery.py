"""postgres.bootstrap.recovery: a new database that starts from another Environment's
backups (its base backup and WAL in its object stores) at a target time.

Builtin: an init container runs the packaged recover.sh (beside object-store.sh in the
ConfigMap) with the source's stores in its environment; it restores, recovers, promotes
and stops, and only then does PostgreSQL start on the data, with the Environment's own
settings. CloudNativePG: the Cluster's `bootstrap.recovery` from an `externalClusters`
entry whose `barmanObjectStore` is the source's store.

The source (`env.recovery_source`) is read by the reconcile; every store setting comes
from its spec, and its credentials travel as secretKeyRefs only. The new database's own
archive goes to its own folder (its own name as the barman server name), never to the
source's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.archiving import archiving
from tierkeeper.models.backup import Recovery
from tierkeeper.render.objectstore import (
    CA_MOUNT,
    RECOVER_SCRIPT_NAME,
    SCRIPT_MOUNT,
    ca_volume,
    cnpg_barman_object_store,
    image,
    script_volume,
    store_env,
)

# On the database object: the bootstrap it was created with, so that a later change of
# postgres.bootstrap (which would not apply to a live database) is seen and refused.
BOOTSTRAP_ANNOTATION = "tierkeeper.dev/bootstrap"
SOURCE_CA_VOLUME = "recovery-source-ca"


def recovery(env: ResolvedEnvironment) -> Recovery | None:
    bootstrap = env.spec.postgres.bootstrap
    return bootstrap.recovery if bootstrap is not None and env.spec.postgres.enabled else None


def bootstrap_annotation(env: ResolvedEnvironment) -> str | None:
    """`recovery from SOURCE at T` (or `... at latest`), None without a bootstrap."""
    wanted = recovery(env)
    if wanted is None:
        return None
    at = wanted.target_time.isoformat() if wanted.target_time else "latest"
    return f"recovery from {wanted.source} at {at}"


def _source(env: ResolvedEnvironment) -> ResolvedEnvironment:
    source = env.recovery_source
    if source is None or source.spec.postgres.backup.object_store is None:
        wanted = recovery(env)
        raise ValueError(
            f"{env.name}: postgres.bootstrap.recovery needs its source Environment "
            f"{wanted.source if wanted else ''}, with postgres.backup.objectStore, to know "
            "where the backups are"
        )
    return source


def recovery_init_container(
    env: ResolvedEnvironment, *, server_env: list[dict[str, Any]], data_mount: dict[str, Any]
) -> dict[str, Any] | None:
    """The init container that makes PGDATA from the source's backups when it is empty.

    `server_env` is the server's own (PGDATA, POSTGRES_USER, POSTGRES_PASSWORD): the
    recovered role gets this Environment's password, not the source's.
    """
    wanted = recovery(env)
    if wanted is None or env.cloudnative_pg:
        return None
    source = _source(env)
    container_env = [*server_env, *store_env(source)]
    if wanted.target_time is not None:
        container_env.append(
            {"name": "RECOVERY_TARGET_TIME", "value": wanted.target_time.isoformat()}
        )
    mounts = [data_mount, {"name": "object-store-script", "mountPath": SCRIPT_MOUNT}]
    if ca_volume(source, SOURCE_CA_VOLUME) is not None:
        # The source's CA bundles where store_env(source) says they are.
        mounts.append({"name": SOURCE_CA_VOLUME, "mountPath": CA_MOUNT, "readOnly": True})
    return {
        "name": "recover",
        "image": image(env),
        "command": ["sh", f"{SCRIPT_MOUNT}/{RECOVER_SCRIPT_NAME}"],
        "env": container_env,
        "securityContext": {"runAsUser": 999, "runAsGroup": 999},
        "volumeMounts": mounts,
    }


def recovery_volumes(env: ResolvedEnvironment) -> list[dict[str, Any]]:
    """The pod volumes the init container needs beyond those archiving brings."""
    if recovery(env) is None or env.cloudnative_pg:
        return []
    volumes = [] if archiving(env) else [script_volume(env)]
    ca = ca_volume(_source(env), SOURCE_CA_VOLUME)
    return [*volumes, *([ca] if ca else [])]


def cnpg_recovery(env: ResolvedEnvironment, initdb: dict[str, Any]) -> dict[str, Any]:
    """The Cluster's `bootstrap` (and `externalClusters`) for a recovery, else `initdb`.

    The owner, database and secret of `initdb` carry over: the recovered database's owner
    gets this Environment's password.
    """
    wanted = recovery(env)
    if wanted is None:
        return {"bootstrap": {"initdb": initdb}}
    return cnpg_recovery_from(_source(env), wanted.target_time, initdb)


def cnpg_recovery_from(
    source: ResolvedEnvironment, target_time: datetime | None, initdb: dict[str, Any]
) -> dict[str, Any]:
    """A Cluster's `bootstrap.recovery` from `source`'s primary store (to `target_time`,
    else to the end of its WAL) and the `externalClusters` entry it names."""
    store = cnpg_barman_object_store(source)
    if store is None:
        raise ValueError(f"{source.name}: a recovery needs postgres.backup.objectStore")
    store.pop("wal", None)
    target: dict[str, Any] = {"source": source.name, **initdb}
    if target_time is not None:
        target["recoveryTarget"] = {"targetTime": target_time.isoformat()}
    return {
        "bootstrap": {"recovery": target},
        "externalClusters": [{"name": source.name, "barmanObjectStore": store}],
    }
