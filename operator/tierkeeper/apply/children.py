"""Converge an Environment's children: apply what is wanted, delete what is not.

Ownership and the common labels are attached here, at the boundary, so every
write carries them whatever renderer produced the manifest.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from tierkeeper import API_VERSION, metrics
from tierkeeper.apply.client import ApiClient, Object
from tierkeeper.apply.errors import ApiError, Conflict, Invalid, NotFound
from tierkeeper.apply.events import Involved, post_event
from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.child import (
    ChildKey,
    ChildSummary,
    LiveChildren,
    applied_version,
    summarize,
)
from tierkeeper.render import Child
from tierkeeper.render.common import Manifest

CHILD_NAME_TAKEN = "ChildNameTaken"
# Answers that say nothing of the object: the write itself is tried, and retried.
TRANSIENT = frozenset({429, 503, 504})
# How long a replaced StatefulSet may take to go, and how often that is looked at: the
# garbage collector orphans its pods within moments on a well control plane.
REPLACE_SECONDS = 30.0
REPLACE_POLL_SECONDS = 0.2

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


def versions(written: Mapping[ChildKey, ChildSummary]) -> dict[ChildKey, str]:
    """What a watch event of each child must differ in to have drifted from our write."""
    return {key: summary.version for key, summary in written.items()}


def holds(live: ChildSummary | None, ours: str | None, manifest: Manifest) -> bool:
    """Whether the live child already holds what an apply of `manifest` would set, so that
    the apply would change nothing: a restarted operator over converged Environments
    writes none of their children. `ours`: the version this process last wrote (None: it
    has written none, e.g. since its start). A summary that is not that version is older
    than our write (the watches lag) or someone else's change (drift), and is written
    over; a child being deleted is written anew."""
    if live is None or live.deleting or ours not in (None, live.version):
        return False
    return live.version == applied_version(manifest)


class NamesTaken(Exception):
    """Children the Environment would write already exist and belong to another owner.
    `met_by_write`: found by a write, not before any (the other children may be written)."""

    def __init__(self, taken: list[str], *, met_by_write: bool = False) -> None:
        self.taken = taken
        written = "it was left as it was" if met_by_write else "nothing was written"
        super().__init__(
            "; ".join(taken) + f": {written}; rename this Environment "
            "(its children's names are derived from its own)"
        )


def _controller(body: Object) -> dict[str, Any] | None:
    refs = body.get("metadata", {}).get("ownerReferences") or []
    return next((ref for ref in refs if ref.get("controller")), None)


@dataclass(frozen=True, slots=True)
class Holder:
    """A managed child as the watches see it by name: the uid of its controller (None: it
    has none) and the Environments its owner references name."""

    controller_uid: str | None
    owners: tuple[str, ...]


class NameHolders(Protocol):
    """Whose a child's name is, as far as the operator knows without asking the API server:
    another Environment's write in progress, or a managed child its watches see."""

    def follows(self, kind: str) -> bool:
        """Whether every managed child of `kind` is seen (by the watches)."""
        ...

    def held_by(self, namespace: str, kind: str, name: str, owner: Owner) -> str | None:
        """Who other than `owner` holds the name ("Environment shop"), if anyone known."""
        ...


async def foreign_holder(
    kube: ApiClient, api_version: str, kind: str, namespace: str, name: str, owner: Owner
) -> str | None:
    """The controller of the live object of that name, if it is not `owner` (one GET)."""
    try:
        body = await kube.get(api_version, kind, namespace, name)
    except NotFound:
        return None
    return held_elsewhere(body, owner)


def held_elsewhere(body: Object, owner: Owner) -> str | None:
    """ "<kind> <name> already belongs to <its controller>", unless `owner` controls the
    object or nothing does."""
    controller = _controller(body)
    if controller is None or controller.get("uid") == owner.uid:
        return None  # ours, or free to adopt (e.g. retained from an earlier Environment)
    holder = f"{controller.get('kind')} {controller.get('name')}"
    return f"{body.get('kind')} {body['metadata'].get('name')} already belongs to {holder}"


async def names_taken(
    kube: ApiClient,
    namespace: str,
    wanted: list[tuple[str, str, str]],
    live: LiveChildren,
    owner: Owner,
    holders: NameHolders | None = None,
) -> list[str]:
    """Which of the wanted children (api version, kind, name) exist under another controller.

    With `holders`, a child of a kind the watches follow costs no request: another
    Environment's child is known to them (or to the write in progress), and an object
    outside tierkeeper's labels, which they cannot see, is never written over all the same
    (apply_child looks it up when our write is refused or conflicts). Otherwise a child
    indexed under this Environment's instance label and controlled by it (or by nothing)
    is not looked up again, and any other is.
    """

    async def taken(api_version: str, kind: str, name: str) -> str | None:
        if holders is not None:
            if (held := holders.held_by(namespace, kind, name, owner)) is not None:
                return f"{kind} {name} already belongs to {held}"
            if holders.follows(kind):
                return None
        indexed = live.get((kind, name))
        if indexed is not None and indexed.controller_uid in (None, owner.uid):
            return None
        return await foreign_holder(kube, api_version, kind, namespace, name, owner)

    found = await asyncio.gather(*(taken(*child) for child in wanted))
    return [description for description in found if description is not None]


async def _refuse_foreign(kube: ApiClient, manifest: Manifest, owner: Owner | None) -> None:
    """Raise NamesTaken if the object `manifest` names is another controller's: a write
    refused or in conflict may be one over an object the watches do not see."""
    if owner is None:
        return
    meta = manifest["metadata"]
    api_version, kind = manifest["apiVersion"], manifest["kind"]
    held = await foreign_holder(kube, api_version, kind, meta["namespace"], meta["name"], owner)
    if held is not None:
        raise NamesTaken([held], met_by_write=True)


def wanted_names(children: list[Child]) -> list[tuple[str, str, str]]:
    return [(c.api_version, c.kind, c.name) for c in children if c.manifest is not None]


async def apply_child(kube: ApiClient, manifest: Manifest, owner: Owner | None = None) -> Object:
    """Server-side apply; a StatefulSet whose immutable fields changed is replaced, orphaning
    its pods and volumes so that the new one adopts them without a restart of the data.

    Fields another manager changed are taken back, but never silently: the first apply is
    not forced, and a conflict is logged and reported as a Warning Event before the forced one.
    Neither is done to another controller's object (`NamesTaken`): our owner reference, a
    second controller, makes the API server refuse the apply, and a conflict or a refusal
    is looked up before anything more is written.
    """
    try:
        try:
            return await kube.apply(manifest, force=False)
        except Conflict as conflict:
            if conflict.fields == {".spec.replicas"}:
                # An HPA or `kubectl scale` owns the replica count, and our index has not
                # seen it yet: give way, as yield_replicas does once it has.
                return await kube.apply(yield_replicas(manifest, None, owned_elsewhere=True))
            await _refuse_foreign(kube, manifest, owner)
            await _report_conflict(kube, manifest, owner, conflict)
            return await kube.apply(manifest)
    except Invalid:
        await _refuse_foreign(kube, manifest, owner)
        if manifest["kind"] != "StatefulSet":
            raise
        return await _replace(kube, manifest)


async def _replace(kube: ApiClient, manifest: Manifest) -> Object:
    """Delete the StatefulSet, orphaning its pods and claims, and create it anew once it is
    gone. The garbage collector first releases the pods, behind a finalizer: an apply
    before then patches the StatefulSet being deleted, which the API server refuses for the
    same immutable field, and a plain volume growth was reported as ChildRejected."""
    meta = manifest["metadata"]
    api_version, namespace, name = manifest["apiVersion"], meta["namespace"], meta["name"]
    await kube.delete(api_version, "StatefulSet", namespace, name, "Orphan")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + REPLACE_SECONDS
    while True:
        try:
            await kube.get(api_version, "StatefulSet", namespace, name)
        except NotFound:
            return await kube.apply(manifest)
        if loop.time() > deadline:
            # The reconcile fails and is retried with backoff (coalesce.Coalescer).
            raise TimeoutError(f"StatefulSet {name} is still being deleted: its pods are orphaned")
        await asyncio.sleep(REPLACE_POLL_SECONDS)


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
    holders: NameHolders | None = None,
    ours: Mapping[ChildKey, str] | None = None,
) -> dict[ChildKey, ChildSummary]:
    """Apply every wanted child the live one does not already hold (`holds`, given `ours`:
    the version of each child this process last wrote), then delete every unwanted one
    that exists, but a volume (deletionPolicy decides its fate: reconcile/volumes.py).
    Without `ours`, every wanted child is applied.

    Nothing is written if a wanted name belongs to another owner known to `holders` or
    found by names_taken (`NamesTaken`), unless the caller has just checked that
    (`check_names=False`); another controller's object outside tierkeeper's labels is
    never written either (apply_child), but what was written before it was met stays.
    Returns the summary of each child as written (or as it held already): its version, so
    that watch events caused by our own writes are not mistaken for drift, and what status
    can say of it before the watches report it.
    """
    if check_names and (
        taken := await names_taken(
            kube, env.namespace, wanted_names(children), live, owner, holders
        )
    ):
        raise NamesTaken(taken)
    written: dict[ChildKey, ChildSummary] = {}

    async def put(child: Child, manifest: Manifest) -> None:
        key = (child.kind, child.name)
        applied = yield_replicas(owned(manifest, owner), live.get(key))
        if ours is not None and holds(live.get(key), ours.get(key), applied):
            metrics.CHILD_APPLIES.labels("held").inc()
            written[key] = live[key]
            return
        metrics.CHILD_APPLIES.labels("applied").inc()
        written[key] = summarize(child.kind, await apply_child(kube, applied, owner))

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
