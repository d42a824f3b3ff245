"""The base backup a blue-green rollout takes before it deploys a new image
(strategy.blueGreen.backupBeforeSwitch): a Job for builtin PostgreSQL, a Backup for
CloudNativePG.

Builtin, with an object store: barman-cloud's base backup through object-store.sh, the
container the scheduled backups use. barman-cloud-backup reads the data directory, so the
Job's pod mounts the database's volume read-only and runs on the database pod's node (a
ReadWriteOnce volume is shared by the pods of one node). Without a store: the dump Job
of the backup CronJob, onto the backups volume.
"""

from __future__ import annotations

from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.archiving import archiving
from tierkeeper.render.backup import dump_job_template, postgres_client_env
from tierkeeper.render.common import Component, Manifest, labels, metadata, selector
from tierkeeper.render.objectstore import base_backup_container, store_volumes
from tierkeeper.render.postgres import CNPG_API_VERSION, DATA_MOUNT

# A finished Job (and its pod's log) stays a day for a look at what it did, then goes.
TTL_SECONDS_AFTER_FINISHED = 86400


def pre_switch_backup_wanted(env: ResolvedEnvironment) -> bool:
    postgres = env.spec.postgres
    return (
        env.blue_green
        and env.spec.strategy.blue_green.backup_before_switch
        and postgres.enabled
        and postgres.backup.enabled
    )


def render_pre_switch_backup(env: ResolvedEnvironment, name: str) -> Manifest | None:
    """The Job or Backup `name`; None where no pre-switch backup is wanted."""
    if not pre_switch_backup_wanted(env):
        return None
    if env.cloudnative_pg:
        return _cnpg_backup(env, name)
    spec = _base_backup_job_spec(env) if archiving(env) else dump_job_template(env)["spec"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(env, name, Component.BACKUP),
        "spec": {**spec, "ttlSecondsAfterFinished": TTL_SECONDS_AFTER_FINISHED},
    }


def _base_backup_job_spec(env: ResolvedEnvironment) -> Manifest:
    data_mount = {"name": "data", "mountPath": DATA_MOUNT, "readOnly": True}
    # An immediate checkpoint: the rollout waits for this backup.
    container = base_backup_container(
        env,
        "backup",
        ["base-backup", "--immediate-checkpoint"],
        postgres_env=postgres_client_env(env),
        data_mount=data_mount,
    )
    database_pod = {
        "labelSelector": {"matchLabels": selector(env, Component.POSTGRES)},
        "topologyKey": "kubernetes.io/hostname",
    }
    dump = dump_job_template(env)["spec"]
    return {
        "backoffLimit": dump["backoffLimit"],
        "activeDeadlineSeconds": dump["activeDeadlineSeconds"],
        "template": {
            "metadata": {"labels": labels(env, Component.BACKUP)},
            "spec": {
                "restartPolicy": "Never",
                "affinity": {
                    "podAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": [database_pod]
                    }
                },
                "containers": [container],
                "volumes": [
                    {
                        "name": "data",
                        "persistentVolumeClaim": {
                            "claimName": env.names.postgres_data,
                            "readOnly": True,
                        },
                    },
                    *store_volumes(env),
                ],
            },
        },
    }


def _cnpg_backup(env: ResolvedEnvironment, name: str) -> Manifest:
    """An on-demand Backup of the Cluster, by the method its ScheduledBackup uses."""
    store = env.spec.postgres.backup.object_store
    return {
        "apiVersion": CNPG_API_VERSION,
        "kind": "Backup",
        "metadata": metadata(env, name, Component.BACKUP),
        "spec": {
            "cluster": {"name": env.names.postgres},
            "method": "volumeSnapshot" if store is None else "barmanObjectStore",
        },
    }
