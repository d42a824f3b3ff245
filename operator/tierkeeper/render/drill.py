"""The disaster-recovery drill of a builtin database that archives to an object store: a
CronJob (postgres.backup.drill) whose pod restores the store's latest base backup and its
WAL into a scratch instance, checks it and writes the result to the `E-drill` ConfigMap;
`tierkeeper drill ENV` starts a Job from it at once (`job_from_cronjob`).

The pod runs drill.sh in the database image, as the server's user. Its identity (a
ServiceAccount, Role and RoleBinding of its own) may write that one ConfigMap and nothing
else; the store's credentials reach it as secretKeyRef environment variables only. It
carries the drill component's labels, which no NetworkPolicy admits to the database: the
drill reads the store, never the live database. Without an object store the backups are
dumps, and their drill is `tierkeeper restore --verify` (backup/restore.py).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.archiving import archiving, cnpg_archiving
from tierkeeper.render.common import (
    Component,
    Manifest,
    cronjob,
    labels,
    metadata,
    secret_env,
    value_env,
)
from tierkeeper.render.objectstore import (
    OBJECT_STORE_SCRIPT_NAME,
    POSTGRES_UID,
    SCRIPT_MOUNT,
    image,
    store_env,
    store_mounts,
    store_volumes,
)

DRILL_SCRIPT_NAME = "drill.sh"
RESULT_SCRIPT_NAME = "drill_result.py"
CHECKS_SCRIPT_NAME = "drill_checks.sh"
# The CloudNativePG drill's check (render/cnpg_drill.py), which shares the checks.
CNPG_CHECK_SCRIPT_NAME = "drill_check.sh"
DRILL_MOUNT = "/opt/tierkeeper/drill"
WORKDIR = "/var/lib/tierkeeper-drill"
# Seconds the restore and recovery may take (drill.sh fails the drill past them); the
# tier's RTO target is an hour. The Job's deadline leaves room for the checks after it.
RESTORE_TIMEOUT_SECONDS = 3600
ACTIVE_DEADLINE_SECONDS = 3 * RESTORE_TIMEOUT_SECONDS
STARTING_DEADLINE_SECONDS = 600
# A finished drill's Job and pod (its log) stay a week, then go: the result lives on in
# the ConfigMap.
FINISHED_JOB_TTL_SECONDS = 7 * 86400
RBAC_API_VERSION = "rbac.authorization.k8s.io/v1"
MANUAL_ANNOTATION = "cronjob.kubernetes.io/instantiate"


def drill_scripts() -> dict[str, str]:
    """drill.sh, the CloudNativePG check, the checks both run and the result writer both
    call, as shipped in the package."""
    scripts = resources.files("tierkeeper") / "scripts"
    return {
        name: (scripts / name).read_text("utf-8")
        for name in (
            DRILL_SCRIPT_NAME,
            CNPG_CHECK_SCRIPT_NAME,
            CHECKS_SCRIPT_NAME,
            RESULT_SCRIPT_NAME,
        )
    }


def drilled(env: ResolvedEnvironment) -> bool:
    """Drills restore from the store the database archives to: builtin PostgreSQL's (the
    CronJob's pod) or a CloudNativePG Cluster's (a scratch Cluster and a check Job that the
    operator starts, render/cnpg_drill.py); both share the scripts, identity and result."""
    return archiving(env) or cnpg_drilled(env)


def cnpg_drilled(env: ResolvedEnvironment) -> bool:
    """A CloudNativePG Cluster archives to the store: the operator drills it."""
    return cnpg_archiving(env)


def render_drill_script(env: ResolvedEnvironment) -> Manifest | None:
    if not drilled(env):
        return None
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(env, env.names.drill_script, Component.DRILL),
        "data": drill_scripts(),
    }


def render_drill_result(env: ResolvedEnvironment) -> Manifest | None:
    """The result ConfigMap, made here without data: the drill pod only patches its data
    (finishedAt, result, rtoSeconds, message), so its Role needs no create, and the
    ConfigMap is a child like the others, owned by the Environment (gone with it, or when
    drills are), its changes heard as the Environment's."""
    if not drilled(env):
        return None
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(env, env.names.drill_result, Component.DRILL),
    }


def render_drill_service_account(env: ResolvedEnvironment) -> Manifest | None:
    if not drilled(env):
        return None
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(env, env.names.drill_identity, Component.DRILL),
    }


def render_drill_role(env: ResolvedEnvironment) -> Manifest | None:
    """The result ConfigMap by name, and nothing else: drill_result.py patches it (get is
    for whoever debugs as the drill). The operator holds both verbs on configmaps, as RBAC
    requires of whoever writes a Role."""
    if not drilled(env):
        return None
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "Role",
        "metadata": metadata(env, env.names.drill_identity, Component.DRILL),
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": [env.names.drill_result],
                "verbs": ["get", "patch"],
            }
        ],
    }


def render_drill_role_binding(env: ResolvedEnvironment) -> Manifest | None:
    if not drilled(env):
        return None
    identity = env.names.drill_identity
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "RoleBinding",
        "metadata": metadata(env, identity, Component.DRILL),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": identity},
        "subjects": [{"kind": "ServiceAccount", "name": identity, "namespace": env.namespace}],
    }


def _drill_container(env: ResolvedEnvironment) -> dict[str, Any]:
    names = env.names
    return {
        "name": "drill",
        "image": image(env),
        "command": ["sh", f"{DRILL_MOUNT}/{DRILL_SCRIPT_NAME}"],
        "env": [
            *store_env(env),
            # The database's superuser (the image's POSTGRES_USER): the scratch instance
            # trusts its own socket, so no password goes with it.
            secret_env("PGUSER", names.postgres_credentials, "username"),
            value_env("DRILL_WORKDIR", WORKDIR),
            value_env("DRILL_TIMEOUT", RESTORE_TIMEOUT_SECONDS),
            value_env("DRILL_OBJECT_STORE_SCRIPT", f"{SCRIPT_MOUNT}/{OBJECT_STORE_SCRIPT_NAME}"),
            value_env("DRILL_RESULT_CONFIGMAP", names.drill_result),
        ],
        "volumeMounts": [
            {"name": "drill-script", "mountPath": DRILL_MOUNT, "readOnly": True},
            {"name": "scratch", "mountPath": WORKDIR},
            *store_mounts(env),
        ],
    }


def render_drill_cronjob(env: ResolvedEnvironment) -> Manifest | None:
    """Scheduled drills; with `scheduled: false` the CronJob stays, suspended, so that
    `tierkeeper drill` can start one from it. Builtin only: CloudNativePG's drill needs a
    Cluster, which the operator creates (a pod allowed to would be worse)."""
    if not archiving(env):
        return None
    drill = env.spec.postgres.backup.drill
    return cronjob(
        env,
        env.names.drill_cronjob,
        Component.DRILL,
        schedule=drill.schedule,
        suspend=not drill.scheduled,
        starting_deadline_seconds=STARTING_DEADLINE_SECONDS,
        job_template={
            "metadata": {"labels": labels(env, Component.DRILL)},
            "spec": drill_job_spec(
                env,
                ACTIVE_DEADLINE_SECONDS,
                POSTGRES_UID,
                _drill_container(env),
                [
                    # The restored copy needs room for the whole database.
                    {"name": "scratch", "emptyDir": {"sizeLimit": env.spec.postgres.storage}},
                    *store_volumes(env),
                ],
            ),
        },
    )


def drill_job_spec(
    env: ResolvedEnvironment,
    deadline: int,
    uid: int,
    container: dict[str, Any],
    volumes: list[dict[str, Any]],
) -> dict[str, Any]:
    """The spec of a drill's Job: one pod as the drill's identity and as the database
    image's user `uid`, the drill scripts mounted, run once."""
    names = env.names
    pod_labels = labels(env, Component.DRILL)
    return {
        # A failed drill is a result to read, not a run to repeat.
        "backoffLimit": 0,
        "activeDeadlineSeconds": deadline,
        "ttlSecondsAfterFinished": FINISHED_JOB_TTL_SECONDS,
        "template": {
            "metadata": {"labels": pod_labels},
            "spec": {
                "restartPolicy": "Never",
                "serviceAccountName": names.drill_identity,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": uid,
                    "runAsGroup": uid,
                    "fsGroup": uid,
                },
                "containers": [container],
                "volumes": [
                    {"name": "drill-script", "configMap": {"name": names.drill_script}},
                    *volumes,
                ],
            },
        },
    }


def job_from_cronjob(cronjob: Manifest, name: str) -> Manifest:
    """The Job `kubectl create job NAME --from=cronjob/...` makes: the CronJob's job
    template, owned by the CronJob and marked as started by hand."""
    meta = cronjob["metadata"]
    template = cronjob["spec"]["jobTemplate"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": dict((template.get("metadata") or {}).get("labels") or {}),
            "annotations": {MANUAL_ANNOTATION: "manual"},
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": template["spec"],
    }
