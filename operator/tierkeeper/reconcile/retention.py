"""What an Environment leaves behind when it is deleted with `deletionPolicy: Retain` (and,
the same way, what a component turned off leaves: see reconcile/volumes.py).

Data volumes, the password Secrets (PostgreSQL's and Redis's, our only Secrets: a retained
volume opens only with its password) and a CloudNativePG Cluster (which
owns its own volumes) lose their owner reference before garbage collection takes the
rest, and gain a label naming the Environment they came from; a new Environment of the
same name adopts them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tierkeeper.apply.client import ApiClient
from tierkeeper.apply.errors import NotFound
from tierkeeper.apply.events import post_event
from tierkeeper.models import DeletionPolicy
from tierkeeper.models.child import RETAINED_FROM
from tierkeeper.models.environment import Tier
from tierkeeper.models.names import ChildNames, label_value
from tierkeeper.models.tiers import TIER_DEFAULTS
from tierkeeper.reconcile.records import EnvRecord
from tierkeeper.render.common import INSTANCE, MANAGED_BY
from tierkeeper.render.postgres import CNPG_API_VERSION

__all__ = ["RETAINED_FROM", "keeps_data", "retain", "retain_data", "retain_on_deletion"]

RETAINED_KINDS = (
    ("v1", "PersistentVolumeClaim"),
    ("v1", "Secret"),
    (CNPG_API_VERSION, "Cluster"),
)


async def retain(
    kube: ApiClient, api_version: str, kind: str, namespace: str, name: str, env_name: str
) -> None:
    """Detach one object from its owners and label it with the Environment it came from."""
    # A label value (63 characters at most): a long Environment name is shortened as names are.
    patch = {
        "metadata": {"ownerReferences": None, "labels": {RETAINED_FROM: label_value(env_name)}}
    }
    await kube.merge_patch(api_version, kind, namespace, name, patch)


async def retain_data(kube: ApiClient, env_name: str, namespace: str, selector: str) -> list[str]:
    """Detach the data of a departing Environment from it; returns what was kept."""
    kept: list[str] = []
    for api_version, kind in RETAINED_KINDS:
        try:
            items = await kube.list(api_version, kind, namespace, selector)
        except NotFound:  # CloudNativePG is not installed
            continue
        for item in items:
            name = item["metadata"]["name"]
            await retain(kube, api_version, kind, namespace, name, env_name)
            kept.append(f"{kind}/{name}")
    return kept


def keeps_data(spec: Mapping[str, Any]) -> bool:
    """Whether deleting the Environment must first detach its data: `deletionPolicy: Retain`,
    explicit or its tier's. Read off the spec, not resolved: every reconcile asks
    (reconcile/finalizer.py), and the operator's defaults never set the policy (models/site.py),
    so the spec and its tier decide it alone, as the install's admission policy reads it
    (manifests/guard/deletion-guard.yaml). A tier we do not know keeps: the safe choice."""
    try:
        tier = Tier(str(spec.get("tier")))
    except ValueError:
        return True
    policy = spec.get("deletionPolicy", TIER_DEFAULTS[tier]["deletionPolicy"])
    return bool(policy != DeletionPolicy.DELETE.value)


async def retain_on_deletion(kube: ApiClient, record: EnvRecord) -> None:
    """With `deletionPolicy: Retain`, detach the data before garbage collection takes the
    rest, and say so in an Event."""
    if not keeps_data(record.spec):
        return
    labels = f"{MANAGED_BY}=tierkeeper,{INSTANCE}={ChildNames(record.name).instance_label}"
    kept = await retain_data(kube, record.name, record.namespace, labels)
    if kept:
        await post_event(kube, record.involved, "Normal", "DataRetained", "kept " + ", ".join(kept))
