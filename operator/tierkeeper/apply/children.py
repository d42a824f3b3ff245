"""Converge an Environment's children: apply what is wanted, delete what is not.

Ownership and the common labels are attached here, at the boundary, so every
write carries them whatever renderer produced the manifest.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tierkeeper import API_VERSION
from tierkeeper.apply.errors import Invalid, NotFound
from tierkeeper.apply.kube import Kube, Object
from tierkeeper.models import ResolvedEnvironment
from tierkeeper.observe import ChildSummary
from tierkeeper.render import Child
from tierkeeper.render.common import Manifest
from tierkeeper.render.postgres import CNPG_API_VERSION, render_credentials_secret

RETAINED_FROM = "tierkeeper.dev/retained-from"
RETAINED_KINDS = (
    ("v1", "PersistentVolumeClaim"),
    ("v1", "Secret"),
    (CNPG_API_VERSION, "Cluster"),
)


@dataclass(frozen=True)
class Owner:
    """The Environment every child points back to."""

    name: str
    uid: str

    def reference(self) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": "Environment",
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def owned(manifest: Manifest, owner: Owner) -> Manifest:
    """A copy of `manifest` with the owner reference set."""
    result = copy.deepcopy(manifest)
    result["metadata"]["ownerReferences"] = [owner.reference()]
    return result


def yield_replicas(manifest: Manifest, live: ChildSummary | None) -> Manifest:
    """Leave `spec.replicas` to another manager (an HPA, `kubectl scale`) that owns it."""
    if live is None or not live.replicas_owned_elsewhere or "replicas" not in manifest["spec"]:
        return manifest
    result = copy.deepcopy(manifest)
    del result["spec"]["replicas"]
    return result


def version_of(body: Object) -> str:
    """What a watch event must differ in for the child to have drifted from our write."""
    meta = body.get("metadata", {})
    generation = meta.get("generation")
    return str(generation) if generation is not None else str(meta.get("resourceVersion", ""))


Live = Mapping[tuple[str, str], ChildSummary]


async def apply_child(kube: Kube, manifest: Manifest) -> Object:
    """Server-side apply; a StatefulSet whose immutable fields changed is replaced, orphaning
    its pods and volumes so that the new one adopts them without a restart of the data."""
    try:
        return await kube.apply(manifest)
    except Invalid:
        if manifest["kind"] != "StatefulSet":
            raise
        meta = manifest["metadata"]
        await kube.delete(
            manifest["apiVersion"], "StatefulSet", meta["namespace"], meta["name"], "Orphan"
        )
        return await kube.apply(manifest)


async def converge(
    kube: Kube,
    env: ResolvedEnvironment,
    children: list[Child],
    live: Live,
    owner: Owner,
) -> dict[tuple[str, str], str]:
    """Apply every wanted child and delete every unwanted one that exists.

    Returns the version of each child as written, so that watch events caused by our
    own writes are not mistaken for drift.
    """
    written: dict[tuple[str, str], str] = {}

    async def one(child: Child) -> None:
        key = (child.kind, child.name)
        if child.manifest is None:
            if key in live:
                with contextlib.suppress(NotFound):
                    await kube.delete(child.api_version, child.kind, env.namespace, child.name)
            return
        manifest = yield_replicas(owned(child.manifest, owner), live.get(key))
        written[key] = version_of(await apply_child(kube, manifest))

    await asyncio.gather(*(one(child) for child in children))
    return written


async def ensure_credentials(
    kube: Kube, env: ResolvedEnvironment, owner: Owner, live: Live
) -> None:
    """Create the credentials Secret once, with a fresh password; never rewrite it.

    A Secret retained from an earlier Environment of the same name is adopted with its
    password, so the retained database volume still opens.
    """
    name = env.names.postgres_credentials
    if not env.spec.postgres.enabled or ("Secret", name) in live:
        return
    try:
        existing = await kube.get("v1", "Secret", env.namespace, name)
    except NotFound:
        secret = render_credentials_secret(env, secrets.token_urlsafe(24))
        if secret is not None:
            await kube.create(owned(secret, owner))
        return
    labels = existing["metadata"].get("labels") or {}
    if RETAINED_FROM in labels:
        await kube.merge_patch(
            "v1",
            "Secret",
            env.namespace,
            name,
            {"metadata": {"ownerReferences": [owner.reference()], "labels": {RETAINED_FROM: None}}},
        )


async def release_data(kube: Kube, env_name: str, namespace: str, selector: str) -> list[str]:
    """Detach data volumes, the credentials Secret (our only Secret) and a CloudNativePG
    Cluster (which owns its own volumes) from a departing Environment.

    They lose their owner reference (so garbage collection spares them) and gain a
    label naming the Environment they came from. Returns what was kept.
    """
    kept: list[str] = []
    patch = {"metadata": {"ownerReferences": None, "labels": {RETAINED_FROM: env_name}}}
    for api_version, kind in RETAINED_KINDS:
        try:
            items = await kube.list(api_version, kind, namespace, selector)
        except NotFound:  # CloudNativePG is not installed
            continue
        for item in items:
            name = item["metadata"]["name"]
            await kube.merge_patch(api_version, kind, namespace, name, patch)
            kept.append(f"{kind}/{name}")
    return kept
