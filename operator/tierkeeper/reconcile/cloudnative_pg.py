"""What the operator reads of CloudNativePG: whether its CRD is installed, and an
Environment's Cluster, read on demand (its CRD may come and go; a watch cannot follow);
and the Cluster of a database turned off, kept or deleted by deletionPolicy."""

from __future__ import annotations

from tierkeeper.apply.children import Owner
from tierkeeper.apply.client import ApiClient
from tierkeeper.apply.errors import NotFound
from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.child import LiveChildren, summarize
from tierkeeper.reconcile.volumes import retire
from tierkeeper.render.postgres import CNPG_API_VERSION

CNPG_CRD = "clusters.postgresql.cnpg.io"


async def cloudnative_pg_installed(kube: ApiClient) -> bool:
    """Read once at start-up; the CRD's watch keeps the answer current from then on."""
    try:
        await kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, CNPG_CRD)
    except NotFound:
        return False
    return True


async def live_with_cluster(
    kube: ApiClient, env: ResolvedEnvironment, live: LiveChildren
) -> LiveChildren:
    """The CNPG Cluster is read on demand: its CRD may come and go, an index cannot follow."""
    if not (env.cloudnative_pg and env.spec.postgres.enabled):
        return live
    try:
        body = await kube.get(CNPG_API_VERSION, "Cluster", env.namespace, env.names.postgres)
    except NotFound:
        return live
    return {**live, ("Cluster", env.names.postgres): summarize("Cluster", body)}


async def retire_cluster(kube: ApiClient, env: ResolvedEnvironment, owner: Owner) -> None:
    """With postgres turned off, its Cluster (which owns the database's volumes) is kept or
    deleted as deletionPolicy says, as when the Environment is deleted. Read only for an
    Environment on CloudNativePG without a database."""
    if env.spec.postgres.enabled or not env.cloudnative_pg:
        return
    try:
        body = await kube.get(CNPG_API_VERSION, "Cluster", env.namespace, env.names.postgres)
    except NotFound:
        return
    summary = summarize("Cluster", body)
    if summary.controller_uid == owner.uid and not summary.deleting:
        await retire(kube, env, [(CNPG_API_VERSION, "Cluster", env.names.postgres)], owner)
