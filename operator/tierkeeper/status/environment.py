"""The status of an Environment, computed from summaries of its children."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from tierkeeper.backup.store_listing import StoreReading
from tierkeeper.models import Condition, EnvironmentStatus, ResolvedEnvironment
from tierkeeper.models.child import ChildSummary, LiveChildren
from tierkeeper.models.rollout import AppRollout
from tierkeeper.status.backup import (
    BACKUP_CONDITIONS,
    BACKUPS_ON_THE_WAY,
    BackupInputs,
    backup_view,
)
from tierkeeper.status.conditions import Observation, find, merge_conditions, observe
from tierkeeper.status.cost import estimated_monthly_cost

HA_PROVIDER_MISSING = (
    "postgres.provider cloudnative-pg needs the CloudNativePG operator, whose CRDs "
    "(clusters.postgresql.cnpg.io) are not installed: install CloudNativePG, or set "
    "postgres.provider: builtin and postgres.instances: 1"
)

# Why an Environment is not Ready yet on its way there, after a create or a change: worth a
# Normal Event. Any other reason is a refusal or a fault, worth a Warning.
ON_THE_WAY = frozenset({"Creating", "Progressing"})
VOLUMES_RESIZED = "VolumesResized"
# The same for VolumesResized: a resize under way (any other reason is a refusal or an error).
VOLUMES_ON_THE_WAY = frozenset({"Resizing", "FileSystemResizePending"})


@dataclass(frozen=True)
class StatusInputs:
    """Everything beyond the spec that the status depends on."""

    children: LiveChildren
    release: str | None
    rollout: AppRollout
    cnpg_installed: bool
    refusal: Observation | None = None
    # VolumesResized, of a live Environment (reconcile/volumes.py): whether its volumes
    # have the sizes the spec asks for. Never part of Ready: the app serves meanwhile.
    volumes: Observation | None = None
    # The last look at the primary store (builtin PostgreSQL with an object store).
    store: StoreReading | None = None
    # A move to CloudNativePG under way: the builtin instance still serves the app.
    builtin_serves: bool = False


def _replicas(kind: str, child: ChildSummary | None, what: str) -> Observation:
    type_ = {"app": "AppReady", "database": "DatabaseReady", "cache": "CacheReady"}[kind]
    if child is None:
        return observe(type_, False, "Creating", f"{what} does not exist yet")
    enough = (
        child.observed_current and child.updated >= child.desired and child.ready >= child.desired
    )
    if kind == "app":
        enough = enough and child.available >= child.desired
    message = f"{what}: {child.ready}/{child.desired} ready"
    return observe(type_, enough, "Available" if enough else "Progressing", message)


def _app(env: ResolvedEnvironment, inputs: StatusInputs) -> Observation:
    if inputs.release is None:
        return observe("AppReady", False, "NoRelease", "no Release targets this Environment yet")
    # What serves, which is the old strategy's Deployment while the strategy changes.
    names = env.names
    if inputs.rollout.serves_colors(env):
        name = names.color_deployment(inputs.rollout.active.value)
    else:
        name = names.rolling_deployment
    return _replicas("app", inputs.children.get(("Deployment", name)), f"Deployment {name}")


def _database(env: ResolvedEnvironment, inputs: StatusInputs) -> Observation:
    if not env.spec.postgres.enabled:
        return observe("DatabaseReady", True, "Disabled", "postgres.enabled is false")
    name = env.names.postgres
    if env.cloudnative_pg and inputs.builtin_serves:
        # The database is what the app uses: while the Cluster copies the builtin instance
        # (DatabaseMigration tells how far), its Ready is not the app's, and a planned move
        # must not read as a lost database.
        statefulset = inputs.children.get(("StatefulSet", name))
        return _replicas("database", statefulset, f"StatefulSet {name} (serving until the move)")
    if env.cloudnative_pg:
        if not inputs.cnpg_installed:
            return observe("DatabaseReady", False, "HAProviderMissing", HA_PROVIDER_MISSING)
        cluster = inputs.children.get(("Cluster", name))
        return _replicas("database", cluster, f"CloudNativePG Cluster {name}")
    statefulset = inputs.children.get(("StatefulSet", name))
    return _replicas("database", statefulset, f"StatefulSet {name}")


def _cache(env: ResolvedEnvironment, inputs: StatusInputs) -> Observation:
    if not env.spec.redis.enabled:
        return observe("CacheReady", True, "Disabled", "redis.enabled is false")
    name = env.names.redis
    return _replicas("cache", inputs.children.get(("StatefulSet", name)), f"StatefulSet {name}")


def _backups(env: ResolvedEnvironment, inputs: StatusInputs) -> Observation:
    postgres = env.spec.postgres
    if not (postgres.enabled and postgres.backup.enabled):
        return observe("BackupsScheduled", False, "BackupsDisabled", "backups are turned off")
    if env.cloudnative_pg:
        scheduled = ("Cluster", env.names.postgres) in inputs.children
        message = (
            f"ScheduledBackup {env.names.scheduled_backup}, schedule {postgres.backup.schedule}"
        )
        if postgres.backup.offsite_object_store is not None:
            # The off-site copy is part of the backups: scheduled once its CronJob is.
            mirror = env.names.offsite_mirror
            scheduled = scheduled and ("CronJob", mirror) in inputs.children
            message += f"; off-site copy by CronJob {mirror}"
        return observe(
            "BackupsScheduled",
            scheduled,
            "ScheduledByCloudNativePG" if scheduled else "Creating",
            message,
        )
    cronjob = inputs.children.get(("CronJob", env.names.backup_cronjob))
    if cronjob is None:
        return observe("BackupsScheduled", False, "Creating", "backup CronJob does not exist yet")
    last = f", last success {cronjob.last_success}" if cronjob.last_success else ", none yet"
    return observe(
        "BackupsScheduled", True, "Scheduled", f"schedule {postgres.backup.schedule} UTC{last}"
    )


def _ready(components: list[Observation], refusal: Observation | None) -> Observation:
    if refusal is not None:
        return observe("Ready", False, refusal.reason, refusal.message)
    blocking = [
        c for c in components if not c.true and c.reason not in ("NoRelease", "BackupsDisabled")
    ]
    if blocking:
        first = blocking[0]
        return observe("Ready", False, first.reason, f"{first.type}: {first.message}")
    return observe("Ready", True, "Ready", "all components are ready")


def _volumes(inputs: StatusInputs, previous: EnvironmentStatus) -> list[Observation]:
    """Shown from the first resize on: an Environment whose volumes never changed size has
    nothing to say about it."""
    seen = inputs.volumes
    if seen is None or (seen.true and find(previous.conditions, seen.type) is None):
        return []
    return [seen]


# Degraded's reason until an Environment is Ready for the first time.
NOT_YET_READY = "NotYetReady"


def _degraded(ready: Observation, previous: EnvironmentStatus) -> Observation:
    was_ready = find(previous.conditions, "Ready")
    was_degraded = find(previous.conditions, "Degraded")
    lost = (was_ready is not None and was_ready.status == "True") or (
        was_degraded is not None and was_degraded.status == "True"
    )
    if not ready.true and lost:
        return observe("Degraded", True, ready.reason, ready.message)
    return observe("Degraded", False, "AsExpected" if ready.true else NOT_YET_READY)


def environment_status(
    env: ResolvedEnvironment,
    inputs: StatusInputs,
    previous: EnvironmentStatus,
    *,
    now: datetime,
    generation: int | None,
) -> EnvironmentStatus:
    components = [
        _app(env, inputs),
        _database(env, inputs),
        _cache(env, inputs),
        _backups(env, inputs),
    ]
    ready = _ready(components, inputs.refusal)
    database_up = components[1].true and components[1].reason != "Disabled"
    backup = backup_view(
        env,
        inputs.children,
        BackupInputs(inputs.store, database_up),
        previous,
        now=now,
    )
    conditions = merge_conditions(
        previous.conditions,
        [
            ready,
            *components,
            _degraded(ready, previous),
            *_volumes(inputs, previous),
            *backup.conditions,
        ],
        now=now,
        generation=generation,
    )
    cost = estimated_monthly_cost(env)
    budget = env.spec.budget
    rollout = inputs.rollout
    return EnvironmentStatus(
        observed_generation=generation,
        conditions=conditions,
        active_color=rollout.active.value
        if rollout.serves_colors(env) and inputs.release
        else None,
        active_release=inputs.release,
        active_image=rollout.active_image(env) if inputs.release else None,
        endpoints=env.endpoints,
        estimated_monthly_cost_usd=cost,
        over_budget=budget is not None and cost > budget.monthly_usd,
        backup=backup.status,
    )


def refused_status(
    previous: EnvironmentStatus, refusal: Observation, *, now: datetime, generation: int
) -> EnvironmentStatus:
    """The previous status with Ready=False for a spec the operator cannot act on."""
    others = [c for c in previous.conditions if c.type != "Ready"]
    ready = merge_conditions(previous.conditions, [refusal], now=now, generation=generation)
    return previous.model_copy(
        update={"observed_generation": generation, "conditions": [*ready, *others]}
    )


Event = tuple[Literal["Normal", "Warning"], str, str]

# One condition per component. A change of them alone, of Ready's message (which names the
# first component not ready), and of Ready's reason from one on the way to another (Creating
# to Progressing: a child now exists) is a step inside a transition of Ready, not one of its
# own.
COMPONENTS = frozenset({"AppReady", "DatabaseReady", "CacheReady", "BackupsScheduled"})


def components_only(previous: EnvironmentStatus, status: EnvironmentStatus) -> bool:
    """Whether `status` differs from `previous` in the components' conditions alone."""

    def outline(s: EnvironmentStatus) -> tuple[EnvironmentStatus, list[object]]:
        others: list[object] = [
            (c.type, c.status, c.reason in ON_THE_WAY or c.reason) if c.type == "Ready" else c
            for c in s.conditions
            if c.type not in COMPONENTS
        ]
        return s.model_copy(update={"conditions": []}), others

    return outline(previous) == outline(status)


def _changed(
    previous: EnvironmentStatus, status: EnvironmentStatus, type_: str
) -> Condition | None:
    """The condition `type_` of `status` if its status or reason differs from before."""
    now, was = find(status.conditions, type_), find(previous.conditions, type_)
    if now is None or (was is not None and (was.status, was.reason) == (now.status, now.reason)):
        return None
    return now


def ready_event(previous: EnvironmentStatus, status: EnvironmentStatus) -> Event | None:
    """The Event for a change of Ready (status or reason), if it changed, but for the way
    from nothing to a first Ready (Creating, Progressing, Ready): a new Environment tells it
    in its status, which `kubectl get` shows, and an Event comes only if it is refused.
    Leaving Ready, a refusal, the way back from one, and Ready again after a change are
    told: those are what a person looking at `kubectl describe` needs to see."""
    ready = _changed(previous, status, "Ready")
    if ready is None:
        return None
    was = find(previous.conditions, "Ready")
    first_ready = ready.status == "True" and never_ready(previous)
    if (was is None or was.reason in ON_THE_WAY) and (ready.reason in ON_THE_WAY or first_ready):
        return None
    normal = ready.status == "True" or ready.reason in ON_THE_WAY
    return ("Normal" if normal else "Warning", ready.reason, ready.message)


def never_ready(previous: EnvironmentStatus) -> bool:
    """Whether an Environment has not been Ready since it was created (no status yet, or
    Degraded says so)."""
    degraded = find(previous.conditions, "Degraded")
    return degraded is None or degraded.reason == NOT_YET_READY


def volumes_event(previous: EnvironmentStatus, status: EnvironmentStatus) -> Event | None:
    """The Event for a change of VolumesResized: a Warning when a growth is refused."""
    volumes = _changed(previous, status, VOLUMES_RESIZED)
    if volumes is None:
        return None
    normal = volumes.status == "True" or volumes.reason in VOLUMES_ON_THE_WAY
    return ("Normal" if normal else "Warning", volumes.reason, volumes.message)


def backup_events(previous: EnvironmentStatus, status: EnvironmentStatus) -> list[Event]:
    """The Events for changes of WALArchiving and BaseBackup: a Warning for a fault."""
    events: list[Event] = []
    for type_ in BACKUP_CONDITIONS:
        changed = _changed(previous, status, type_)
        if changed is not None:
            normal = changed.status == "True" or changed.reason in BACKUPS_ON_THE_WAY
            events.append(("Normal" if normal else "Warning", changed.reason, changed.message))
    return events
