"""One reconcile of one Environment: resolve, converge the children, report status."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tierkeeper import metrics
from tierkeeper.apply.children import (
    CHILD_NAME_TAKEN,
    NamesTaken,
    Owner,
    converge,
    names_taken,
    refused_writes,
    versions,
    wanted_names,
)
from tierkeeper.apply.client import ApiClient
from tierkeeper.apply.errors import Forbidden, Invalid
from tierkeeper.backup.store_listing import StoreReading
from tierkeeper.models import EnvironmentStatus, InvalidSpec, resolve_document
from tierkeeper.models.child import ChildKey, ChildSummary, LiveChildren
from tierkeeper.models.resolved import ResolvedEnvironment
from tierkeeper.models.rollout import AppRollout
from tierkeeper.models.site import Site
from tierkeeper.models.status import parse_status
from tierkeeper.reconcile import CHANGE_NOT_ALLOWED
from tierkeeper.reconcile.app_writer import write_app
from tierkeeper.reconcile.cloudnative_pg import live_with_cluster, retire_cluster
from tierkeeper.reconcile.credentials import credential_secrets, ensure_credentials
from tierkeeper.reconcile.database_switch import write_migration
from tierkeeper.reconcile.external_secrets import EXTERNAL_SECRET_MISSING, missing_secrets
from tierkeeper.reconcile.ledger import WriteLedger
from tierkeeper.reconcile.migration import Migration, announce, migration_at
from tierkeeper.reconcile.provider_change import provider_change
from tierkeeper.reconcile.records import EnvRecord
from tierkeeper.reconcile.recovery import (
    RECOVERY_REFUSALS,
    bootstrap_change,
    with_recovery_source,
)
from tierkeeper.reconcile.report import report
from tierkeeper.reconcile.routes import (
    ROUTE_HOST_TAKEN,
    hosts_taken,
    in_flight,
    remove_unwatched,
    route_endpoints,
    route_tls,
    routed,
    sync_preview_route,
)
from tierkeeper.reconcile.volumes import (
    VolumeDecision,
    decide_volumes,
    write_volumes,
)
from tierkeeper.render import app_children, data_children, network_children, route_children
from tierkeeper.render.migration import builtin_source
from tierkeeper.render.postgres import CNPG_API_VERSION
from tierkeeper.status.backup import backup_figures
from tierkeeper.status.conditions import Observation, find, merge_conditions, observe
from tierkeeper.status.environment import (
    StatusInputs,
    environment_status,
    refused_status,
)

logger = logging.getLogger(__name__)

CHILD_REJECTED = "ChildRejected"
# Refusals under which an Environment writes no child: its Release must not write either.
WRITES_NOTHING = frozenset(
    {CHILD_NAME_TAKEN, EXTERNAL_SECRET_MISSING, CHANGE_NOT_ALLOWED, *RECOVERY_REFUSALS}
)


async def _converge(
    kube: ApiClient,
    env: ResolvedEnvironment,
    record: EnvRecord,
    live: LiveChildren,
    recorded: AppRollout,
    ledger: WriteLedger,
    previous: EnvironmentStatus,
    volumes: VolumeDecision,
    migration: Migration,
    *,
    cnpg_installed: bool,
    site: Site,
    flight: bool,
    routed: bool,
    written: dict[ChildKey, ChildSummary],
) -> Observation | None:
    """Write every child, or nothing at all if one of their names (or route hosts) is
    another owner's or, for a change of a live Environment, if the API server would refuse
    any of them. What the writes returned goes into `written`."""
    key = record.key
    owner = Owner(record.name, record.uid)
    data = data_children(env, volumes.sizes, migration.phase)
    if not (cnpg_installed and env.cloudnative_pg):
        data = [c for c in data if c.api_version != CNPG_API_VERSION]
    routes = route_children(env, site, flight)
    data += network_children(env, site) + routes
    app = app_children(env, ledger.decided.get(key, recorded))
    wanted = wanted_names([*app, *data])
    wanted += [("v1", "Secret", name) for name, _ in credential_secrets(env)]
    if taken := await names_taken(kube, env.namespace, wanted, live, owner, ledger):
        return observe("Ready", False, CHILD_NAME_TAKEN, str(NamesTaken(taken)))
    if hosts := await hosts_taken(kube, env, site, owner):
        message = "; ".join(hosts) + ": nothing was written; choose another spec.route.hosts"
        return observe("Ready", False, ROUTE_HOST_TAKEN, message)
    changing = _changing_live(record, previous, live)
    if changing and (
        moved := await provider_change(kube, env, live, owner, migration, cnpg=cnpg_installed)
    ):
        return moved
    if changing and (rebooted := await bootstrap_change(kube, env, live)):
        return rebooted
    if changing and (refused := await refused_writes(kube, env, [*app, *data], live, owner)):
        return observe(
            "Ready",
            False,
            CHANGE_NOT_ALLOWED,
            "the API server would refuse this change, so nothing of it was written and the "
            "Environment runs as before: " + "; ".join(refused),
        )
    try:
        await ensure_credentials(kube, env, owner, live)
        await write_migration(kube, env, live, migration)
        if routed:
            await remove_unwatched(kube, env, routes)

        async def write_data() -> LiveChildren:
            with ledger.expecting(key, data):
                ours = ledger.versions.get(key, {})
                wrote = await converge(kube, env, data, live, owner, check_names=False, ours=ours)
            ledger.record(key, data, versions(wrote))
            await write_volumes(kube, env, volumes, owner)
            if cnpg_installed:
                await retire_cluster(kube, env, owner)
            return wrote

        app_written = write_app(kube, ledger, env, owner, live, recorded, names_checked=True)
        for wrote in await asyncio.gather(write_data(), app_written):
            written.update(wrote)
    except NamesTaken as taken:
        # An object outside tierkeeper's labels, met by a write: it is left as it was.
        return observe("Ready", False, CHILD_NAME_TAKEN, str(taken))
    ledger.applied_generation[key] = record.generation
    return None


def _changing_live(record: EnvRecord, previous: EnvironmentStatus, live: LiveChildren) -> bool:
    """A spec change of an Environment that has children (or one refused for its change,
    whose cause may have gone): its writes are tried with a dry run first. A first creation
    has nothing to keep running, and pays no request for it."""
    if not live:
        return False
    ready = find(previous.conditions, "Ready")
    refused = ready is not None and ready.reason == CHANGE_NOT_ALLOWED
    return refused or previous.observed_generation != record.generation


async def reconcile_environment(
    kube: ApiClient,
    record: EnvRecord,
    live: LiveChildren,
    release: str | None,
    recorded: AppRollout,
    ledger: WriteLedger,
    *,
    cnpg_installed: bool,
    converge_children: bool,
    now: datetime,
    site: Site = Site(),  # noqa: B008  (frozen: one shared default is safe)
    release_status: Mapping[str, Any] | None = None,
    store: StoreReading | None = None,
    hold: bool = False,
) -> str | None:
    """Converge the children (when `converge_children`) and report status; refusals become
    conditions and Events. `recorded` is the rollout in the bound Release's status; `hold`:
    see report. Returns the reason of the refusal, if refused."""
    if not converge_children and (unseen := ledger.unseen(record.key, live)):
        # It would say "does not exist yet" of a child just written, whose event comes next.
        logger.debug("%s/%s: status waits for the watches to show %s", *record.key, unseen)
        refused = ledger.refusals.get(record.key)
        return refused.reason if refused else None
    previous = parse_status(EnvironmentStatus, record.status)
    try:
        env = resolve_document(
            record.spec,
            name=record.name,
            namespace=record.namespace,
            defaults=site.environment_defaults,
        )
    except InvalidSpec as error:
        invalid = observe("Ready", False, error.reason, error.message)
        status = refused_status(previous, invalid, now=now, generation=record.generation)
        await report(kube, record, previous, status, ledger)
        return error.reason
    cnpg = cnpg_installed and env.cloudnative_pg
    flight = in_flight(env, release_status or {}, ledger.decided.get(record.key, recorded))
    refusal = await missing_secrets(kube, env) if env.spec.external else None
    if converge_children:
        # Only a write renders the database; status needs nothing of the source.
        env, unrecoverable = await with_recovery_source(kube, env, site.environment_defaults)
        refusal = refusal or unrecoverable
    step = converge_children and refusal is None
    migration = await migration_at(kube, env, live, previous, record.uid, cnpg=cnpg, step=step)
    live = migration.without_retired(env, live)
    # What the change does to the live volumes, decided before anything is written.
    volumes = await decide_volumes(kube, builtin_source(env, migration.phase), live, record.uid)
    refusal = refusal or volumes.refusal
    rejected: Forbidden | Invalid | None = None
    # The children as this converge's writes returned them: newer than what the watches
    # have reported, so the status written next does not say "does not exist yet" of them.
    written: dict[ChildKey, ChildSummary] = {}
    if converge_children and refusal is None:
        try:
            with ledger.converging_to(record.key, record.generation):
                refusal = await _converge(
                    kube,
                    env,
                    record,
                    live,
                    recorded,
                    ledger,
                    previous,
                    volumes,
                    migration,
                    cnpg_installed=cnpg_installed,
                    site=site,
                    flight=flight,
                    routed=routed(env, site, previous.endpoints),
                    written=written,
                )
        except (Forbidden, Invalid) as error:
            if isinstance(error, Forbidden) and error.namespace_terminating:
                # Everything in it, this Environment included, is on its way out.
                logger.debug("%s/%s: namespace terminating", record.namespace, record.name)
                return None
            rejected = error
            refusal = observe("Ready", False, CHILD_REJECTED, _rejected_message(error))
    if converge_children:
        ledger.block(record.key, refusal)
        # A change of the Cluster or the builtin StatefulSet may move a migration on.
        ledger.mark_resizing(record.key, volumes.waiting or migration.builtin_serves)
        if refusal is not None:
            migration = migration.held()
        await announce(kube, env, Owner(record.name, record.uid), migration)
    elif refusal is None:
        refusal = ledger.refusals.get(record.key)
        if refusal is None and ledger.applied_generation.get(record.key) == record.generation:
            # Converged at this generation (not refused since): the rollout may move the
            # preview route.
            owner = Owner(record.name, record.uid)
            await sync_preview_route(kube, env, site, live, owner, flight)
    children = {**live, **written}
    observed = StatusInputs(
        children=await live_with_cluster(kube, env, children) if cnpg else children,
        release=release,
        rollout=ledger.decided.get(record.key, recorded),
        cnpg_installed=cnpg,
        refusal=refusal,
        volumes=volumes.condition(env, live),
        store=store,
        builtin_serves=migration.builtin_serves,
    )
    # Only a converge says it observed its generation: a status-only look at a new spec has
    # not acted on it (and a later converge must know it is a change). A status-only write
    # repeats what the last converge said, not its own copy of the status, which can lag.
    if converge_children:
        ledger.observed[record.key] = record.generation
    generation = ledger.observed.get(record.key, previous.observed_generation)
    status = environment_status(env, observed, previous, now=now, generation=generation)
    tls = await route_tls(kube, env, site)
    extra = [c for c in (tls, migration.condition(env)) if c is not None]
    status = status.model_copy(
        update={
            "endpoints": route_endpoints(status.endpoints, env, site, flight),
            "conditions": [
                *status.conditions,
                *merge_conditions(previous.conditions, extra, now=now, generation=generation),
            ],
            "database_migration": migration.status(env),
        }
    )
    _export(env, observed, status)
    await report(
        kube, record, previous, status, ledger, status_only=not converge_children, hold=hold
    )
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


def _export(env: ResolvedEnvironment, observed: StatusInputs, status: EnvironmentStatus) -> None:
    ready, degraded = find(status.conditions, "Ready"), find(status.conditions, "Degraded")
    backup = env.spec.postgres.backup
    builtin_backups = env.spec.postgres.enabled and backup.enabled and not env.cloudnative_pg
    cronjob = observed.children.get(("CronJob", env.names.backup_cronjob))
    last = cronjob.last_success if cronjob else None
    created = cronjob.created if cronjob and builtin_backups else None
    metrics.environment(
        env.namespace,
        env.name,
        ready=ready is not None and ready.status == "True",
        degraded=degraded is not None and degraded.status == "True",
        cost=status.estimated_monthly_cost_usd or 0.0,
        budget=env.spec.budget.monthly_usd if env.spec.budget else None,
        backup_interval=metrics.schedule_interval_seconds(backup.schedule)
        if builtin_backups
        else None,
        last_backup=datetime.fromisoformat(last) if last else None,
        backup_scheduled_since=datetime.fromisoformat(created) if created else None,
    )
    metrics.backups(env.namespace, env.name, backup_figures(env, status, observed.children))
