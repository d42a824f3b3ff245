"""One reconcile of one Environment: resolve, converge the children, report status."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tierkeeper import metrics
from tierkeeper.apply.children import (
    CHILD_NAME_TAKEN,
    Live,
    NamesTaken,
    Owner,
    converge,
    ensure_credentials,
    names_taken,
    wanted_names,
)
from tierkeeper.apply.errors import Forbidden, Invalid, NotFound
from tierkeeper.apply.events import Involved, post_event
from tierkeeper.apply.kube import Kube
from tierkeeper.models import EnvironmentStatus, InvalidSpec, resolve_document
from tierkeeper.models.child import ChildSummary, summarize
from tierkeeper.models.resolved import ResolvedEnvironment
from tierkeeper.models.rollout import AppRollout
from tierkeeper.models.status import parse_status
from tierkeeper.render import Child, render_children
from tierkeeper.render.postgres import CNPG_API_VERSION
from tierkeeper.status.conditions import Observation, find, observe
from tierkeeper.status.environment import (
    Observed,
    environment_status,
    ready_event,
    refused_status,
)

logger = logging.getLogger(__name__)

CNPG_CRD = "clusters.postgresql.cnpg.io"
CHILD_REJECTED = "ChildRejected"
EXTERNAL_SECRET_MISSING = "ExternalSecretMissing"
# Refusals under which an Environment writes no child: its Release must not write either.
WRITES_NOTHING = frozenset({CHILD_NAME_TAKEN, EXTERNAL_SECRET_MISSING})


@dataclass(frozen=True)
class EnvRecord:
    """What the operator keeps of an Environment between events."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    deleting: bool

    @property
    def involved(self) -> Involved:
        return Involved("Environment", self.namespace, self.name, self.uid)


@dataclass
class Memory:
    """Versions of what we last wrote, per Environment: told apart from drift on watch events."""

    applied_generation: dict[tuple[str, str], int] = field(default_factory=dict)
    written: dict[tuple[str, str], dict[tuple[str, str], str]] = field(default_factory=dict)
    # The rollout whose app children were last applied in full, per Environment (by a
    # Release step, or by the Environment's own full reconcile, which renders them too).
    applied_rollout: dict[tuple[str, str], AppRollout] = field(default_factory=dict)
    # Environments whose last full reconcile was refused or rejected: a change of any child
    # (a name freed, a child put right by hand) may unblock them.
    blocked: set[tuple[str, str]] = field(default_factory=set)
    # One writer of an Environment's children at a time: its full reconcile and its
    # Release's steps both write the app's, each from the rollout it read; interleaved,
    # the older rollout could land last and be taken for ours.
    writers: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)
    # The children a write in progress wants, per Environment: one deleted before the write
    # is recorded (its version comes back with the write) has drifted all the same.
    in_flight: dict[tuple[str, str], frozenset[tuple[str, str]]] = field(default_factory=dict)

    def writing(self, key: tuple[str, str]) -> asyncio.Lock:
        return self.writers.setdefault(key, asyncio.Lock())

    @contextlib.contextmanager
    def expecting(self, key: tuple[str, str], children: list[Child]) -> Iterator[None]:
        """While `children` are being written for `key`."""
        self.in_flight[key] = frozenset(
            (c.kind, c.name) for c in children if c.manifest is not None
        )
        try:
            yield
        finally:
            self.in_flight.pop(key, None)

    def forget(self, key: tuple[str, str]) -> None:
        self.applied_generation.pop(key, None)
        self.written.pop(key, None)
        self.applied_rollout.pop(key, None)
        self.blocked.discard(key)
        self.writers.pop(key, None)

    def block(self, key: tuple[str, str], blocked: bool) -> None:
        if blocked:
            self.blocked.add(key)
        else:
            self.blocked.discard(key)

    def blocked_in(self, namespace: str) -> list[tuple[str, str]]:
        return [key for key in self.blocked if key[0] == namespace]

    def drifted(self, key: tuple[str, str], child: ChildSummary, deleted: bool) -> bool:
        ours = self.written.get(key, {}).get((child.kind, child.name))
        if deleted:
            return ours is not None or (child.kind, child.name) in self.in_flight.get(key, ())
        return ours is not None and ours != child.version


async def cloudnative_pg_installed(kube: Kube) -> bool:
    """Read once at start-up; the CRD's watch keeps the answer current from then on."""
    try:
        await kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, CNPG_CRD)
    except NotFound:
        return False
    return True


async def _missing_secrets(kube: Kube, env: ResolvedEnvironment) -> Observation | None:
    missing = []
    for key, service in sorted(env.spec.external.items()):
        ref = service.secret_ref
        try:
            secret = await kube.get("v1", "Secret", env.namespace, ref.name)
        except NotFound:
            missing.append(f"{key}: Secret {ref.name} does not exist")
            continue
        if ref.key not in (secret.get("data") or {}):
            missing.append(f"{key}: Secret {ref.name} has no key {ref.key}")
    if not missing:
        return None
    return observe(
        "Ready",
        False,
        EXTERNAL_SECRET_MISSING,
        "; ".join(missing) + ": create it in this namespace or fix spec.external",
    )


async def _live_with_cnpg(kube: Kube, env: ResolvedEnvironment, live: Live) -> Live:
    """The CNPG Cluster is read on demand: its CRD may come and go, an index cannot follow."""
    if not (env.cloudnative_pg and env.spec.postgres.enabled):
        return live
    try:
        body = await kube.get(CNPG_API_VERSION, "Cluster", env.namespace, env.names.postgres)
    except NotFound:
        return live
    return {**live, ("Cluster", env.names.postgres): summarize("Cluster", body)}


async def _converge(
    kube: Kube,
    env: ResolvedEnvironment,
    record: EnvRecord,
    live: Live,
    rollout: AppRollout,
    memory: Memory,
    *,
    cnpg: bool,
) -> Observation | None:
    """Write every child, or nothing at all if one of their names is another owner's."""
    key = (record.namespace, record.name)
    owner = Owner(record.name, record.uid)
    children = render_children(env, rollout)
    if not cnpg:
        children = [c for c in children if c.api_version != CNPG_API_VERSION]
    wanted = wanted_names(children)
    if env.spec.postgres.enabled:
        wanted.append(("v1", "Secret", env.names.postgres_credentials))
    if taken := await names_taken(kube, env.namespace, wanted, live, owner):
        return observe("Ready", False, CHILD_NAME_TAKEN, str(NamesTaken(taken)))
    await ensure_credentials(kube, env, owner, live)
    with memory.expecting(key, children):
        memory.written[key] = await converge(kube, env, children, live, owner, check_names=False)
    memory.applied_generation[key] = record.generation
    memory.applied_rollout[key] = rollout
    return None


async def reconcile_environment(
    kube: Kube,
    record: EnvRecord,
    live: Live,
    release: str | None,
    rollout: AppRollout,
    memory: Memory,
    *,
    cnpg_installed: bool,
    full: bool,
) -> str | None:
    """Converge (when `full`) and report status; refusals become conditions and Events.
    Returns the reason of the refusal, if refused."""
    previous = parse_status(EnvironmentStatus, record.status)
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        env = resolve_document(record.spec, name=record.name, namespace=record.namespace)
    except InvalidSpec as error:
        invalid = observe("Ready", False, error.reason, error.message)
        status = refused_status(previous, invalid, now=now, generation=record.generation)
        await _report(kube, record, previous, status)
        return error.reason
    cnpg = cnpg_installed and env.cloudnative_pg
    refusal = await _missing_secrets(kube, env) if env.spec.external else None
    rejected: Forbidden | Invalid | None = None
    if full and refusal is None:
        try:
            refusal = await _converge(kube, env, record, live, rollout, memory, cnpg=cnpg)
        except (Forbidden, Invalid) as error:
            if isinstance(error, Forbidden) and error.namespace_terminating:
                # Everything in it, this Environment included, is on its way out.
                logger.debug("%s/%s: namespace terminating", record.namespace, record.name)
                return None
            rejected = error
            refusal = observe("Ready", False, CHILD_REJECTED, _rejected_message(error))
    if full:
        memory.block((record.namespace, record.name), refusal is not None)
    observed = Observed(
        children=await _live_with_cnpg(kube, env, live) if cnpg else live,
        release=release,
        rollout=rollout,
        cnpg_installed=cnpg,
        refusal=refusal,
    )
    status = environment_status(env, observed, previous, now=now, generation=record.generation)
    _export(env, observed, status)
    await _report(kube, record, previous, status)
    if isinstance(rejected, Forbidden):
        # A quota or a role can change without an event of ours: retried with backoff.
        # A rejected object (Invalid) waits for a change of the spec or of a child.
        raise rejected
    return refusal.reason if refusal else None


def _rejected_message(error: Forbidden | Invalid) -> str:
    return (
        f"the API server refused a child ({error}); the others are applied. Fix the spec, "
        "or the policy that refuses it (quota, admission, the operator's RBAC)"
    )


def _export(env: ResolvedEnvironment, observed: Observed, status: EnvironmentStatus) -> None:
    ready, degraded = find(status.conditions, "Ready"), find(status.conditions, "Degraded")
    backup = env.spec.postgres.backup
    builtin_backups = env.spec.postgres.enabled and backup.enabled and not env.cloudnative_pg
    cronjob = observed.children.get(("CronJob", env.names.backup_cronjob))
    last = cronjob.last_success if cronjob else None
    metrics.environment(
        env.namespace,
        env.name,
        ready=ready is not None and ready.status == "True",
        degraded=degraded is not None and degraded.status == "True",
        cost=status.estimated_monthly_cost_usd or 0.0,
        backup_interval=metrics.schedule_interval_seconds(backup.schedule)
        if builtin_backups
        else None,
        last_backup=datetime.fromisoformat(last) if last else None,
    )


async def _report(
    kube: Kube, record: EnvRecord, previous: EnvironmentStatus, status: EnvironmentStatus
) -> None:
    """Write status only when it changed; an Event for every change of Ready."""
    if status == previous:
        return
    await kube.write_status("Environment", record.namespace, record.name, status)
    if (event := ready_event(previous, status)) is not None:
        await post_event(kube, record.involved, *event)
