"""`tierkeeper drill ENV` (and `kubectl tierkeeper drill ENV`): a drill now, as a Job made
from the Environment's drill CronJob, the way `kubectl create job --from=cronjob/...` makes
one. The drill pod writes its result to the `ENV-drill` ConfigMap; the Job's own status
says whether it ran at all."""

from __future__ import annotations

import secrets
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tierkeeper.models.names import ChildNames
from tierkeeper.plugin.cluster import Cluster, NotFound
from tierkeeper.render.drill import job_from_cronjob


def _why_no_drill(cluster: Cluster, name: str) -> str:
    env = cluster.environment(name)
    postgres = (env.get("spec") or {}).get("postgres") or {}
    backup = postgres.get("backup") or {}
    if not backup.get("objectStore"):
        return (
            f"Environment {name} has no postgres.backup.objectStore: its backups are dumps, "
            "whose drill is `tierkeeper restore --verify --source DSN --backup-dir DIR`"
        )
    if postgres.get("provider") == "cloudnative-pg":
        return f"Environment {name}: the drill restores the builtin database only"
    return (
        f"Environment {name} has no drill CronJob yet: the operator creates it with the "
        "database's other children (see `kubectl tierkeeper get` for its conditions)"
    )


def start_drill(cluster: Cluster, name: str) -> str:
    names = ChildNames(name)
    batch = client.BatchV1Api(cluster.api)
    try:
        cronjob = cluster.api.sanitize_for_serialization(
            batch.read_namespaced_cron_job(names.drill_cronjob, cluster.namespace)
        )
    except ApiException as error:
        if error.status != 404:
            raise
        raise NotFound(_why_no_drill(cluster, name)) from error
    job = job_from_cronjob(cronjob, f"{names.drill_cronjob}-{secrets.token_hex(4)}")
    body: Any = job  # the client sends a dict as it is; its stubs name only V1Job
    batch.create_namespaced_job(cluster.namespace, body)
    return (
        f"Job {job['metadata']['name']} started from CronJob {names.drill_cronjob}; "
        f"its result will be in ConfigMap {names.drill_result} "
        f"(kubectl get configmap {names.drill_result} -o yaml)"
    )
