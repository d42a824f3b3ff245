"""A change of database provider is never made in place: it would give the app an empty
database. builtin -> cloudnative-pg is a migration (reconcile/migration.py) where
CloudNativePG is installed; without it, and cloudnative-pg -> builtin always, the change
is refused with the way to do it by hand.
"""

from __future__ import annotations

from tierkeeper.apply.children import Owner
from tierkeeper.apply.client import ApiClient
from tierkeeper.apply.errors import NotFound
from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.child import LiveChildren
from tierkeeper.reconcile import CHANGE_NOT_ALLOWED
from tierkeeper.reconcile.migration import Migration
from tierkeeper.render.postgres import CNPG_API_VERSION
from tierkeeper.status.conditions import Observation, observe

_BY_HAND = (
    "the data would stay behind in the old one. To move it: create a new Environment "
    "with the provider you want, restore the latest backup into it (`tierkeeper restore`), "
    "and point your Release at it; or set postgres.provider back to {current}"
)


async def provider_change(
    kube: ApiClient,
    env: ResolvedEnvironment,
    live: LiveChildren,
    owner: Owner,
    migration: Migration,
    *,
    cnpg: bool,
) -> Observation | None:
    """The refusal of a provider change of a live database that cannot be migrated, if the
    spec asks for one. Reads the CloudNativePG Cluster (one request) only when the spec asks
    for builtin. A move to CloudNativePG given up before its switch is no change."""
    if not env.spec.postgres.enabled or migration.cancelled:
        return None
    name = env.names.postgres
    if env.cloudnative_pg:
        if cnpg or ("StatefulSet", name) not in live:
            return None
        return _refusal("builtin", "cloudnative-pg", f"StatefulSet {name}")
    if not cnpg:
        return None
    try:
        cluster = await kube.get(CNPG_API_VERSION, "Cluster", env.namespace, name)
    except NotFound:
        return None
    refs = cluster.get("metadata", {}).get("ownerReferences") or []
    if not any(ref.get("uid") == owner.uid for ref in refs):
        return None
    return _refusal("cloudnative-pg", "builtin", f"CloudNativePG Cluster {name}")


def _refusal(current: str, wanted: str, holder: str) -> Observation:
    return observe(
        "Ready",
        False,
        CHANGE_NOT_ALLOWED,
        f"postgres.provider {current} -> {wanted} is not changed in place: the database "
        f"lives in {holder}, the new one would start empty, and "
        + _BY_HAND.format(current=current),
    )
