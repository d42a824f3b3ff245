"""Converge an Environment's children: apply what is wanted, delete what is not.

Ownership and the common labels are attached here, at the boundary, so every
write carries them whatever renderer produced the manifest.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from dataclasses import dataclass
from typing import Any

from tierkeeper import API_VERSION
from tierkeeper.apply.client import ApiClient, Object
from tierkeeper.apply.errors import ApiError, Conflict, Invalid, NotFound
from tierkeeper.apply.events import Involved, post_event
from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.child import ChildSummary, LiveChildren, child_version
from tierkeeper.render import Child
from tierkeeper.render.common import Manifest

CHILD_NAME_TAKEN = "ChildNameTaken"
# Answers that say nothing of the object: the write itself is tried, and retried.
TRANSIENT = frozenset({429, 503, 504})

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Owner:
    """The Environment every child points back to."""

    name: str
    uid: str

    def involved(self, namespace: str) -> Involved:
        return Involved("Environment", namespace, self.name, self.uid)

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


def yield_replicas(
    manifest: Manifest, live: ChildSummary | None, *, owned_elsewhere: bool = False
) -> Manifest:
    """Leave `spec.replicas` to another manager (an HPA, `kubectl scale`) that owns it."""
    elsewhere = owned_elsewhere or (live is not None and live.replicas_owned_elsewhere)
    if not elsewhere or "replicas" not in manifest["spec"]:
        return manifest
    result = copy.deepcopy(manifest)
    del result["spec"]["replicas"]
    return result


def version_of(body: Object) -> str:
    """What a watch event must differ in for the child to have drifted from our write."""
    return child_version(body.get("metadata", {}))


class NamesTaken(Exception):
    """Children the Environment would write already exist and belong to another owner."""

    def __init__(self, taken: list[str]) -> None:
        self.taken = taken
        super().__init__(
            "; ".join(taken) + ": nothing was written; rename this Environment "
            "(its children's names are derived from its own)"
        )


def _controller(body: Object) -> dict[str, Any] | None:
    refs = body.get("metadata", {}).get("ownerReferences") or []
    return next((ref for ref in refs if ref.get("controller")), None)


async def names_taken(
    kube: ApiClient,
    namespace: str,
    wanted: list[tuple[str, str, str]],
    live: LiveChildren,
    owner: Owner,
) -> list[str]:
    """Which of the wanted children (api version, kind, name) exist under another controller.

    Children indexed under this Environment's instance label and controlled by it (or by
    nothing) are not looked up again, so a settled Environment costs no request here.
    """

    async def taken(api_version: str, kind: str, name: str) -> str | None:
        indexed = live.get((kind, name))
        if indexed is not None and indexed.controller_uid in (None, owner.uid):
            return None
        try:
            body = await kube.get(api_version, kind, namespace, name)
        except NotFound:
            return None
        controller = _controller(body)
        if controller is None or controller.get("uid") == owner.uid:
            return None  # ours, or free to adopt (e.g. retained from an earlier Environment)
        return f"{kind} {name} already belongs to {controller.get('kind')} {controller.get('name')}"

    found = await asyncio.gather(*(taken(*child) for child in wanted))
    return [description for description in found if description is not None]


def wanted_names(children: list[Child]) -> list[tuple[str, str, str]]:
    return [(c.api_version, c.kind, c.name) for c in children if c.manifest is not None]


async def apply_child(kube: ApiClient, manifest: Manifest, owner: Owner | None = None) -> Object:
    """Server-side apply; a StatefulSet whose immutable fields changed is replaced, orphaning
    its pods and volumes so that the new one adopts them without a restart of the data.

    Fields another manager changed are taken back, but never silently: the first apply is
    not forced, and a conflict is logged and reported as a Warning Event before the forced one.
    """
    try:
        try:
            return await kube.apply(manifest, force=False)
        except Conflict as conflict:
            if conflict.fields == {".spec.replicas"}:
                # An HPA or `kubectl scale` owns the replica count, and our index has not
                # seen it yet: give way, as yield_replicas does once it has.
                return await kube.apply(yield_replicas(manifest, None, owned_elsewhere=True))
            await _report_conflict(kube, manifest, owner, conflict)
            return await kube.apply(manifest)
    except Invalid:
        if manifest["kind"] != "StatefulSet":
            raise
        meta = manifest["metadata"]
        await kube.delete(
            manifest["apiVersion"], "StatefulSet", meta["namespace"], meta["name"], "Orphan"
        )
        return await kube.apply(manifest)


async def _report_conflict(
    kube: ApiClient, manifest: Manifest, owner: Owner | None, conflict: Conflict
) -> None:
    meta = manifest["metadata"]
    message = f"{manifest['kind']} {meta['name']}: taking back fields: {conflict.message}"
    logger.warning("%s/%s: %s", meta.get("namespace"), owner.name if owner else "-", message)
    if owner is not None:
        involved = owner.involved(meta["namespace"])
        await post_event(kube, involved, "Warning", "FieldsTakenBack", message)


async def refused_writes(
    kube: ApiClient,
    env: ResolvedEnvironment,
    children: list[Child],
    live: LiveChildren,
    owner: Owner,
) -> list[str]:
    """What the API server would refuse of the wanted children, asked with a dry run of each:
    "<kind> <name>: <why>". A StatefulSet whose immutable fields change is not counted: the
    write replaces it (apply_child)."""

    async def refusal(child: Child, manifest: Manifest) -> str | None:
        applied = yield_replicas(owned(manifest, owner), live.get((child.kind, child.name)))
        try:
            await kube.apply(applied, dry_run=True)
        except (NotFound, Conflict):
            raise
        except ApiError as error:
            if error.status in TRANSIENT or (
                child.kind == "StatefulSet" and isinstance(error, Invalid)
            ):
                return None
            return f"{child.kind} {child.name}: {error.message}"
        return None

    found = await asyncio.gather(
        *(refusal(c, c.manifest) for c in children if c.manifest is not None)
    )
    return [problem for problem in found if problem is not None]


async def converge(
    kube: ApiClient,
    env: ResolvedEnvironment,
    children: list[Child],
    live: LiveChildren,
    owner: Owner,
    *,
    check_names: bool = True,
) -> dict[tuple[str, str], str]:
    """Apply every wanted child, then delete every unwanted one that exists, but a volume
    (deletionPolicy decides its fate: reconcile/volumes.py).

    Nothing is written if a wanted name belongs to another owner (`NamesTaken`), unless the
    caller has just checked that (`check_names=False`).
    Returns the version of each child as written, so that watch events caused by our
    own writes are not mistaken for drift.
    """
    if check_names and (
        taken := await names_taken(kube, env.namespace, wanted_names(children), live, owner)
    ):
        raise NamesTaken(taken)
    written: dict[tuple[str, str], str] = {}

    async def put(child: Child, manifest: Manifest) -> None:
        key = (child.kind, child.name)
        applied = yield_replicas(owned(manifest, owner), live.get(key))
        written[key] = version_of(await apply_child(kube, applied, owner))

    async def remove(child: Child) -> None:
        key = (child.kind, child.name)
        if child.kind == "PersistentVolumeClaim":
            return
        if key in live and live[key].controller_uid in (None, owner.uid):
            with contextlib.suppress(NotFound):
                await kube.delete(child.api_version, child.kind, env.namespace, child.name)

    # Every wanted child before any unwanted one goes: a Service moves to its new pods
    # before the old pods' Deployment is deleted.
    await asyncio.gather(*(put(c, c.manifest) for c in children if c.manifest is not None))
    await asyncio.gather(*(remove(c) for c in children if c.manifest is None))
    return written
