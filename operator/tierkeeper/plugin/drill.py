"""`tierkeeper drill ENV` (and `kubectl tierkeeper drill ENV`): a drill now. Builtin
PostgreSQL: a Job made from the Environment's drill CronJob, the way
`kubectl create job --from=cronjob/...` makes one; the Job's own status says whether it ran
at all. CloudNativePG: the request annotation on the Environment, on which the operator
starts its drill (a scratch Cluster and a check Job, reconcile/cnpg_drill.py). Both write
the result to the `ENV-drill` ConfigMap."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tierkeeper.models.names import ChildNames
from tierkeeper.plugin.cluster import Cluster, NotFound
from tierkeeper.render.cnpg_drill import REQUEST_ANNOTATION
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
    what = "result ConfigMap" if postgres.get("provider") == "cloudnative-pg" else "CronJob"
    return (
        f"Environment {name} has no drill {what} yet: the operator creates it with the "
        "database's other children (see `kubectl tierkeeper get` for its conditions)"
    )


def _ask_operator(cluster: Cluster, name: str) -> str:
    """The request, once the operator has made the drill's result ConfigMap: it makes it
    only for an Environment it drills (a store, as resolved with the operator's defaults)."""
    result = ChildNames(name).drill_result
    try:
        client.CoreV1Api(cluster.api).read_namespaced_config_map(result, cluster.namespace)
    except ApiException as error:
        if error.status != 404:
            raise
        raise NotFound(_why_no_drill(cluster, name)) from error
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    cluster.merge_patch(
        "environments", name, {"metadata": {"annotations": {REQUEST_ANNOTATION: now}}}
    )
    return (
        f"drill of Environment {name} asked for at {now} ({REQUEST_ANNOTATION}); the operator "
        f"restores the store's latest backup into the scratch Cluster "
        f"{ChildNames(name).drill_cluster}, checks it and deletes it; the result will be in "
        f"ConfigMap {result} (kubectl get configmap {result} -o yaml)"
    )


def start_drill(cluster: Cluster, name: str) -> str:
    postgres = (cluster.environment(name).get("spec") or {}).get("postgres") or {}
    if postgres.get("provider") == "cloudnative-pg":
        return _ask_operator(cluster, name)
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
