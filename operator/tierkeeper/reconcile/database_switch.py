"""The writes of a database migration's last step, beside the children's (see
reconcile/migration.py): the switch of DATABASE_URL to the CloudNativePG Cluster, or the
Cluster of a move given up deleted."""

from __future__ import annotations

import base64
import contextlib
from typing import Any

from tierkeeper.apply.client import ApiClient
from tierkeeper.apply.errors import NotFound
from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.child import LiveChildren
from tierkeeper.models.names import label_value
from tierkeeper.models.rollout import Color
from tierkeeper.reconcile.migration import MIGRATED_FROM, Migration, retired
from tierkeeper.render.common import MANAGED_BY
from tierkeeper.render.postgres import CNPG_API_VERSION, PASSWORD_KEY, render_credentials_secret

# On the app's pod template: the credentials Secret's revision its pods started with.
DATABASE_REVISION = "tierkeeper.dev/database-revision"


async def write_migration(
    kube: ApiClient, env: ResolvedEnvironment, live: LiveChildren, migration: Migration
) -> None:
    """The writes of the step taken, beside the children's: the switch, or the Cluster of
    a move given up deleted."""
    if migration.switching:
        await switch_database(kube, env, live)
    elif migration.cancelled:
        with contextlib.suppress(NotFound):
            await kube.delete(CNPG_API_VERSION, "Cluster", env.namespace, env.names.postgres)


async def switch_database(kube: ApiClient, env: ResolvedEnvironment, live: LiveChildren) -> None:
    """DATABASE_URL to the Cluster (one write), a rolling restart of the app, and the
    builtin instance kept aside. Each write is idempotent: a restarted operator repeats
    the switch it may have left half done."""
    names, namespace = env.names, env.namespace
    secret = await kube.get("v1", "Secret", namespace, names.postgres_credentials)
    password = base64.b64decode(secret["data"][PASSWORD_KEY]).decode()
    switched = render_credentials_secret(env, password)
    if switched is None:  # postgres turned off: a move of it is given up, never switched
        return
    written = await kube.merge_patch(
        "v1",
        "Secret",
        namespace,
        names.postgres_credentials,
        {"stringData": switched["stringData"]},
    )
    revision = written["metadata"]["resourceVersion"]
    restart = {"spec": {"template": {"metadata": {"annotations": {DATABASE_REVISION: revision}}}}}
    deployments = [names.rolling_deployment, *(names.color_deployment(c.value) for c in Color)]
    for deployment in deployments:
        if ("Deployment", deployment) in live:
            await kube.merge_patch("apps/v1", "Deployment", namespace, deployment, restart)
    for api_version, kind, name in retired(env):
        detach: dict[str, Any] = {
            "metadata": {
                "ownerReferences": None,
                "labels": {MANAGED_BY: None, MIGRATED_FROM: label_value(env.name)},
            }
        }
        if kind == "StatefulSet":
            # Its claim stays when a person deletes it.
            retention = {"whenDeleted": "Retain", "whenScaled": "Retain"}
            detach["spec"] = {"persistentVolumeClaimRetentionPolicy": retention}
        with contextlib.suppress(NotFound):
            await kube.merge_patch(api_version, kind, namespace, name, detach)
