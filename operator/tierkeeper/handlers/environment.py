"""Wiring for Environments: the changes that ask for reconciles, and the reconcile itself.

Reconciles are level-based and keyed by Environment: a change of the Environment or of
any child only asks for one, and requests that arrive while one runs merge.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf

from tierkeeper import metrics
from tierkeeper.handlers.child_watches import ChildEvent, owners_of
from tierkeeper.handlers.drills import drill_event
from tierkeeper.handlers.resource_cache import ResourceEvent
from tierkeeper.handlers.state import OperatorState, state_of
from tierkeeper.handlers.store_polls import keep_polling
from tierkeeper.models import InvalidSpec, resolve_document
from tierkeeper.models.child import ChildSummary, summarize
from tierkeeper.models.rollout import AppRollout
from tierkeeper.models.units import quantity_bytes
from tierkeeper.reconcile import CHANGE_NOT_ALLOWED
from tierkeeper.reconcile.cloudnative_pg import CNPG_CRD
from tierkeeper.reconcile.environment import (
    reconcile_environment,
)
from tierkeeper.reconcile.external_secrets import EXTERNAL_SECRET_MISSING
from tierkeeper.reconcile.finalizer import finalize, keep_finalizer
from tierkeeper.reconcile.records import EnvRecord, ObjectKey
from tierkeeper.reconcile.recovery import RECOVERY_REFUSALS
from tierkeeper.render.common import MANAGED_BY
from tierkeeper.status.conditions import raw_condition
from tierkeeper.status.environment import VOLUMES_RESIZED

# Refusals whose cause may go without an event of ours (a Secret of the team's created, a
# quota or an admission policy changed, a recovery source Environment created or given a
# store): the Environment looks again now and then.
RECHECK_SECONDS = 20.0
RECHECKED = frozenset({EXTERNAL_SECRET_MISSING, CHANGE_NOT_ALLOWED, *RECOVERY_REFUSALS})

# Watched by kopf, not by the operator's own watches: kopf picks CRDs up as they come and go. Not kept:
# the Cluster is read on demand, the ScheduledBackup only restored.
CNPG_GROUP = "postgresql.cnpg.io"
CNPG_WATCHED = (
    (CNPG_GROUP, "v1", "clusters", "Cluster"),
    (CNPG_GROUP, "v1", "scheduledbackups", "ScheduledBackup"),
)


def child_changed(state: OperatorState, event: ChildEvent) -> None:
    """A reconcile of the Environments that own the child: one that converges if it drifted
    from our write (or they were refused), else one of status only; their Releases look too."""
    if state.paused:
        return
    claim = event.summary.kind == "PersistentVolumeClaim"
    # A StatefulSet's claims, and the drill's result (another writer's ConfigMap), may name
    # no Environment as their owner: the Environment of their instance label hears of them.
    labelled = claim or (event.summary.kind == "ConfigMap" and event.summary.backup is not None)
    owners = event.owners or (state.labelled(event.namespace, event.instance) if labelled else ())
    for owner in owners:
        key = (event.namespace, owner)
        drifted = state.ledger.drifted(key, event.summary, deleted=event.deleted)
        converge = drifted or key in state.ledger.refusals or key in state.ledger.resizing
        if claim and not (
            converge or event.deleted or _resizing(state.environment(key), event.summary)
        ):
            # A claim's binding and status writes matter only to a resize under way: each
            # would otherwise cost a reconcile.
            continue
        state.environments.request(key, converge=converge)
        state.wake_releases_of(key)
    if event.deleted:
        # A name another Environment's child held is free now: those refused for it
        # (ChildNameTaken, e.g. while a previous incarnation's children were still being
        # collected) try again.
        for key in state.ledger.blocked_in(event.namespace):
            state.environments.request(key, converge=True)


def _resizing(record: EnvRecord | None, claim: ChildSummary) -> bool:
    """The claim is mid-resize, or the Environment says its volumes are not at their size."""
    capacity, requested = claim.capacity, claim.requested
    if claim.resize is not None or (
        capacity and requested and quantity_bytes(capacity) < quantity_bytes(requested)
    ):
        return True
    volumes = raw_condition(record.status, VOLUMES_RESIZED) if record is not None else None
    return volumes is not None and volumes.get("status") == "False"


async def cloudnative_pg_child_changed(
    namespace: str | None,
    body: kopf.Body,
    type: str | None,
    memo: kopf.Memo,
    param: str = "",
    **kwargs: Any,
) -> None:
    summary = summarize(param, body)
    event = ChildEvent(namespace or "", owners_of(body), summary, deleted=type == "DELETED")
    child_changed(state_of(memo), event)


for group, version, plural, kind in CNPG_WATCHED:
    kopf.on.event(
        group,
        version,
        plural,
        labels={MANAGED_BY: "tierkeeper"},
        id=f"{plural}-changed",
        param=kind,
    )(cloudnative_pg_child_changed)


@kopf.on.event(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", field="spec.group", value=CNPG_GROUP
)
async def cloudnative_pg_changed(
    type: str | None, name: str, spec: kopf.Spec, memo: kopf.Memo, **kwargs: Any
) -> None:
    """CloudNativePG installed (or removed) after its Environments: they converge again,
    e.g. from HAProviderMissing to a Cluster, and kopf is made to see the CRD's objects."""
    state = state_of(memo)
    installed = state.cnpg_installed
    present = type != "DELETED"
    if name == CNPG_CRD:
        state.cnpg_installed = present
    # The initial listing: start-up found the CRD already, unless it came in between.
    if type is None and state.cnpg_installed == installed:
        return
    for key, record in list(state.resources.environments.items()):
        if _uses_cloudnative_pg(record):
            state.environments.request(key, converge=True)
    if state.discovery is not None:
        await state.discovery.settle(CNPG_GROUP, [spec["names"]["plural"]], present=present)


def _uses_cloudnative_pg(record: EnvRecord) -> bool:
    try:
        env = resolve_document(record.spec, name=record.name, namespace=record.namespace)
    except InvalidSpec:
        return False
    return env.cloudnative_pg


def environment_changed(state: OperatorState, event: ResourceEvent) -> None:
    """A reconcile, converging if the spec is one not yet taken; the Environment's Releases
    step too. What the first listing files waits for `OperatorState.act`."""
    key = event.key
    if event.deleted:
        state.ledger.forget(key)
        state.recheck(key, None)
        state.store_polls.forget(key)
        state.forget_settle(key)
        state.drills.forget(key)
        metrics.forget_environment(*key)
        return
    meta = event.body.get("metadata", {})
    drill_event(state, key, meta)
    if event.news:
        converge = state.ledger.spec_changed(key, meta.get("generation"))
        state.environments.request(key, converge=converge)
        state.wake_releases_of(key)


async def reconcile(state: OperatorState, key: ObjectKey, converge: bool) -> None:
    await state.watches.synced.wait()
    record = state.environment(key)
    # Paused: another replica acts. Requests are dropped; when this one acts again, every
    # Environment is asked for (`OperatorState.act`).
    if record is None or state.paused:
        return
    if record.deleting:
        await finalize(state.kube, record)
        return
    await keep_finalizer(state.kube, record)
    release = state.bound_release(key)
    # A status-only look holds back a change of the components alone, unless it is the
    # look that writes what was held.
    hold = not converge and key not in state.settled
    state.settled.discard(key)
    with metrics.reconciling("Environment"):
        refused_for = await reconcile_environment(
            state.kube,
            record,
            state.live(key),
            release.name if release else None,
            (release and release.rollout) or AppRollout(),
            state.ledger,
            cnpg_installed=state.cnpg_installed,
            converge_children=converge,
            now=datetime.now(UTC).replace(microsecond=0),
            site=state.config.site,
            release_status=release.status if release else None,
            store=state.store_polls.reading(key),
            hold=hold,
        )
    keep_polling(state, record)
    if key in state.ledger.held:
        state.settle(key, first_ready=state.ledger.held[key])
    # The Secrets that spec.external names are the team's, and quotas and admission
    # policies are the cluster's: watching them would mean watching every one of the
    # cluster. An Environment refused for one looks again now and then, and converges once
    # it is gone (reads and dry runs, no write, if not). Our timer, not kopf's: kopf keeps
    # the whole body of every object that has one, for as long as the object lives.
    state.recheck(key, RECHECK_SECONDS if refused_for in RECHECKED else None)
