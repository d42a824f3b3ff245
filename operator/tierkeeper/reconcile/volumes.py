"""The data volumes of a live Environment: what a change of its spec does to them, decided
before anything is written.

- A volume never shrinks. `postgres.storage` below the live claim refuses the whole change
  (ChangeNotAllowed) and nothing is written; Redis's volume, which follows maxmemory, keeps
  its larger size (a cache that uses less memory needs no smaller disk).
- A volume grows where its StorageClass allows expansion: the live claim is resized, since a
  StatefulSet's claim template only shapes claims still to come. Where the class does not,
  the volume is rendered at its live size, so that no write is refused and everything else
  converges, and the VolumesResized condition says why.
- A volume the spec no longer wants (a component turned off) is kept or deleted as
  deletionPolicy says, as when the Environment is deleted; wanted again, it is adopted.

The plan is pure (the spec and the watches' summaries); only a wanted growth reads its
StorageClass, so an Environment's first creation costs no request here.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import MappingProxyType

from tierkeeper.apply.children import Owner
from tierkeeper.apply.client import ApiClient
from tierkeeper.apply.errors import Forbidden, NotFound
from tierkeeper.apply.events import post_event
from tierkeeper.models import DeletionPolicy, ResolvedEnvironment
from tierkeeper.models.child import RETAINED_FROM, ChildKey, ChildSummary, LiveChildren
from tierkeeper.models.units import quantity_bytes
from tierkeeper.reconcile import CHANGE_NOT_ALLOWED
from tierkeeper.reconcile.retention import retain
from tierkeeper.render.volumes import DataVolume, Volume, VolumeSizes, all_claims
from tierkeeper.render.volumes import data_volumes as wanted_volumes
from tierkeeper.status.conditions import Observation, observe
from tierkeeper.status.environment import VOLUMES_RESIZED

EXPANSION_NOT_ALLOWED = "ExpansionNotAllowed"
CLAIM_NOT_BOUND = "ClaimNotBound"
PVC = "PersistentVolumeClaim"


@dataclass(frozen=True)
class VolumeChange:
    """A wanted volume whose live claim asks for another size."""

    volume: DataVolume
    live: str  # the size the live claim asks for

    def describe(self) -> str:
        return f"{self.volume.source} {self.live} -> {self.volume.size} ({self.volume.claim})"


@dataclass(frozen=True)
class VolumePlan:
    """What the spec asks of the live data volumes."""

    shrinks: tuple[VolumeChange, ...] = ()  # refused: the whole change with them
    growths: tuple[VolumeChange, ...] = ()  # resized where the StorageClass allows
    # Rendered at the live size instead of the wanted one.
    held: VolumeSizes = field(default_factory=dict)
    unwanted: tuple[ChildKey, ...] = ()  # live data the spec no longer wants, not kept yet
    adopted: tuple[str, ...] = ()  # claims kept from before that the spec wants again

    @property
    def refusal(self) -> Observation | None:
        """Ready=False for a shrink, which refuses the change before anything is written."""
        if not self.shrinks:
            return None
        claims: dict[str, list[str]] = {}
        for change in self.shrinks:
            what = f"{change.volume.source} {change.live} -> {change.volume.size}"
            claims.setdefault(what, []).append(change.volume.claim)
        changes = "; ".join(f"{what} ({', '.join(names)})" for what, names in claims.items())
        keep = self.shrinks[0]
        return observe(
            "Ready",
            False,
            CHANGE_NOT_ALLOWED,
            f"volumes cannot shrink: {changes}; keep {keep.volume.source} at {keep.live}, "
            "or migrate the data to a new Environment with `tierkeeper restore`; "
            "nothing was changed",
        )


def _bytes(size: str | None) -> int | None:
    return quantity_bytes(size) if size else None


def _retirable(summary: ChildSummary | None, owner_uid: str, *, any_owner: bool = False) -> bool:
    """Live data of ours that is neither kept already nor on its way out."""
    if summary is None or summary.retained or summary.deleting:
        return False
    return any_owner or summary.controller_uid in (None, owner_uid)


def plan_volumes(env: ResolvedEnvironment, live: LiveChildren, owner_uid: str) -> VolumePlan:
    """Compare each wanted volume with its live claim, and find the data that is no longer
    wanted."""
    shrinks, growths, adopted = [], [], []
    held: dict[Volume, str] = {}
    wanted = wanted_volumes(env)
    for volume in wanted:
        claim = live.get((PVC, volume.claim))
        if claim is None or claim.requested is None:
            continue
        if claim.retained:
            adopted.append(volume.claim)
        live_bytes, wanted_bytes = quantity_bytes(claim.requested), quantity_bytes(volume.size)
        change = VolumeChange(volume, claim.requested)
        if wanted_bytes > live_bytes:
            growths.append(change)
        elif wanted_bytes < live_bytes and volume.volume is Volume.REDIS:
            held[volume.volume] = claim.requested
        elif wanted_bytes < live_bytes:
            shrinks.append(change)
    unwanted: list[ChildKey] = []
    kept = {volume.claim for volume in wanted}
    for which, name in all_claims(env).items():
        claim = live.get((PVC, name))
        # A StatefulSet's claims may name it as their owner; ours by name and label.
        made_by_statefulset = which is not Volume.BACKUPS
        if name not in kept and _retirable(claim, owner_uid, any_owner=made_by_statefulset):
            unwanted.append((PVC, name))
    secret = live.get(("Secret", env.names.postgres_credentials))
    if not env.spec.postgres.enabled and _retirable(secret, owner_uid):
        unwanted.append(("Secret", env.names.postgres_credentials))
    return VolumePlan(tuple(shrinks), tuple(growths), held, tuple(unwanted), tuple(adopted))


@dataclass
class StorageClasses:
    """Whether each StorageClass allows volume expansion. Read only when a growth is wanted,
    and kept a while: a class rarely changes, but an administrator may allow expansion on
    one that did not, and the refused growth must then go ahead."""

    ttl: float = 300.0
    _seen: dict[str, tuple[float, bool]] = field(default_factory=dict)

    async def expandable(self, kube: ApiClient, name: str) -> bool:
        now = time.monotonic()
        seen = self._seen.get(name)
        if seen is not None and now - seen[0] < self.ttl:
            return seen[1]
        try:
            body = await kube.get("storage.k8s.io/v1", "StorageClass", None, name)
        except NotFound:
            body = {}
        answer = bool(body.get("allowVolumeExpansion"))
        self._seen[name] = (now, answer)
        return answer


# One per operator process: the classes are the cluster's, the same for every Environment.
STORAGE_CLASSES = StorageClasses()


@dataclass(frozen=True)
class Growth:
    change: VolumeChange
    blocked: tuple[str, str] | None = None  # (reason, message): the volume keeps its size


@dataclass(frozen=True)
class VolumeDecision:
    """The plan, with each growth decided by its StorageClass."""

    plan: VolumePlan = field(default_factory=VolumePlan)
    growths: tuple[Growth, ...] = ()

    @property
    def refusal(self) -> Observation | None:
        return self.plan.refusal

    @property
    def sizes(self) -> VolumeSizes:
        """The size each volume is rendered at: its live one where it cannot change."""
        blocked = {g.change.volume.volume: g.change.live for g in self.growths if g.blocked}
        return MappingProxyType({**self.plan.held, **blocked})

    @property
    def waiting(self) -> bool:
        """A growth waits for its claim to be bound: the claim's next change must converge."""
        return any(g.blocked and g.blocked[0] == CLAIM_NOT_BOUND for g in self.growths)

    @property
    def resizes(self) -> list[VolumeChange]:
        return [growth.change for growth in self.growths if growth.blocked is None]

    def condition(self, env: ResolvedEnvironment, live: LiveChildren) -> Observation:
        """VolumesResized: False while a growth is refused or under way, True once every
        volume has the size it asks for."""
        blocked = [g.blocked for g in self.growths if g.blocked is not None]
        if blocked:
            return observe(VOLUMES_RESIZED, False, blocked[0][0], "; ".join(m for _, m in blocked))
        pending = [f"{c.describe()}: asked" for c in self.resizes]
        reason = "Resizing" if pending else None
        for volume in wanted_volumes(env):
            claim = live.get((PVC, volume.claim))
            if claim is None or volume.claim in {c.volume.claim for c in self.resizes}:
                continue
            capacity, requested = _bytes(claim.capacity), _bytes(claim.requested)
            behind = capacity is not None and requested is not None and capacity < requested
            if claim.resize is not None or behind:
                reason = reason or claim.resize or "Resizing"
                pending.append(f"{volume.claim}: {claim.capacity} of {claim.requested}")
        if reason is not None:
            return observe(VOLUMES_RESIZED, False, reason, "; ".join(pending))
        return observe(VOLUMES_RESIZED, True, "Resized", "every volume has the size it asks for")


def decide_growth(change: VolumeChange, claim: ChildSummary, expandable: bool | None) -> Growth:
    """Whether the live claim may grow: bound, on a class that allows expansion
    (`expandable` None: the class could not be read)."""
    volume = change.volume
    stays = f"the volume stays {change.live}"
    if claim.phase != "Bound":
        message = f"{change.describe()}: the claim is not bound yet; {stays} until it is"
        return Growth(change, (CLAIM_NOT_BOUND, message))
    if expandable:
        return Growth(change)
    where = (
        f"StorageClass {claim.storage_class} does not allow volume expansion"
        if claim.storage_class and expandable is False
        else f"the operator may not read StorageClass {claim.storage_class}"
        if claim.storage_class
        else "the claim has no StorageClass"
    )
    message = (
        f"{change.describe()}: {where}; {stays}. Allow expansion on the class "
        f"(allowVolumeExpansion: true), or keep {volume.source} at {change.live}"
    )
    return Growth(change, (EXPANSION_NOT_ALLOWED, message))


async def decide_volumes(
    kube: ApiClient, env: ResolvedEnvironment, live: LiveChildren, owner_uid: str
) -> VolumeDecision:
    """The plan, and for each wanted growth whether its StorageClass lets the claim grow."""
    plan = plan_volumes(env, live, owner_uid)
    if plan.shrinks:
        return VolumeDecision(plan)
    growths = []
    for change in plan.growths:
        claim = live[(PVC, change.volume.claim)]
        expandable: bool | None = None
        if claim.storage_class and claim.phase == "Bound":
            try:
                expandable = await STORAGE_CLASSES.expandable(kube, claim.storage_class)
            except Forbidden:
                expandable = None
        growths.append(decide_growth(change, claim, expandable))
    return VolumeDecision(plan, tuple(growths))


async def write_volumes(
    kube: ApiClient, env: ResolvedEnvironment, decision: VolumeDecision, owner: Owner
) -> None:
    """Resize the claims that may grow, adopt kept ones wanted again, and keep or delete
    (by deletionPolicy) the data no longer wanted."""
    namespace = env.namespace
    for change in decision.resizes:
        if change.volume.volume is not Volume.BACKUPS:  # the backups claim is applied
            resize = {"spec": {"resources": {"requests": {"storage": change.volume.size}}}}
            await kube.merge_patch("v1", PVC, namespace, change.volume.claim, resize)
    for claim in decision.plan.adopted:
        adopt = {"metadata": {"labels": {RETAINED_FROM: None}}}
        await kube.merge_patch("v1", PVC, namespace, claim, adopt)
    await retire(kube, env, [("v1", kind, name) for kind, name in decision.plan.unwanted], owner)


async def retire(
    kube: ApiClient,
    env: ResolvedEnvironment,
    unwanted: Iterable[tuple[str, str, str]],
    owner: Owner,
) -> None:
    """Keep or delete, as deletionPolicy says, data the spec no longer wants
    (api version, kind, name)."""
    done = []
    retaining = env.spec.deletion_policy is DeletionPolicy.RETAIN
    for api_version, kind, name in unwanted:
        if retaining:
            await retain(kube, api_version, kind, env.namespace, name, env.name)
        else:
            try:
                await kube.delete(api_version, kind, env.namespace, name)
            except NotFound:
                continue
        done.append(f"{kind}/{name}")
    if done:
        reason, verb = ("DataRetained", "kept") if retaining else ("DataDeleted", "deleted")
        message = f"{verb} (deletionPolicy {env.spec.deletion_policy.value}): " + ", ".join(done)
        await post_event(kube, owner.involved(env.namespace), "Normal", reason, message)
