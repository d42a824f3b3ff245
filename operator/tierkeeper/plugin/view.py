"""What `kubectl tierkeeper get` shows, as plain data.

Built from the objects as the API server serves them (dicts, camelCase), read leniently:
a plugin older or newer than the operator still shows what it recognises. Pure: the
clock is an argument, so a view is the same whenever it is rendered from the same objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tierkeeper.models.names import ChildNames

Obj = Mapping[str, Any]
COLOR_LABEL = "tierkeeper.dev/color"
# Phases in which a colour that is not active is being rolled out (the preview).
IN_PROGRESS = ("Pending", "Deploying", "Verifying", "AwaitingPromotion")
LAST_SUCCESS = "last success "


@dataclass(frozen=True)
class ConditionLine:
    type: str
    status: str
    reason: str
    message: str


@dataclass(frozen=True)
class DeploymentLine:
    """One of the app's Deployments: a colour (blue-green) or the rolling one (`app`)."""

    name: str
    role: str  # active, preview, standby, idle, or rolling
    image: str | None
    ready: int
    wanted: int
    selected: bool  # the active Service sends traffic to its pods


@dataclass(frozen=True)
class RolloutLine:
    """The Release: its phase, the step it is at, and the health gate's verdict."""

    release: str
    phase: str | None
    target_image: str | None
    active_image: str | None
    previous_image: str | None
    step: str | None  # what the rollout waits for now, if it is in progress
    step_age: timedelta | None  # how long the current step has been running
    gate: ConditionLine | None
    ready: ConditionLine | None
    history: tuple[tuple[str, str], ...]  # (outcome, image), oldest first


@dataclass(frozen=True)
class Standby:
    color: str
    until: datetime
    left: timedelta


@dataclass(frozen=True)
class Cost:
    monthly_usd: float | None
    budget_usd: float | None
    over_budget: bool


@dataclass(frozen=True)
class EnvironmentView:
    name: str
    namespace: str
    tier: str | None
    suspended: bool
    stale: bool  # the status is older than the spec
    ready: ConditionLine | None
    conditions: tuple[ConditionLine, ...]
    endpoints: tuple[tuple[str, str], ...]
    deployments: tuple[DeploymentLine, ...]
    rollout: RolloutLine | None
    standby: Standby | None
    cost: Cost
    backups: ConditionLine | None
    last_backup_age: timedelta | None  # since the backup CronJob's last success (builtin)


@dataclass(frozen=True)
class Snapshot:
    """The objects one view is built from, as read at one moment."""

    namespace: str
    environment: Obj
    release: Obj | None
    deployments: Mapping[str, Obj]  # by name
    service: Obj | None  # the active Service


def build(snapshot: Snapshot, now: datetime) -> EnvironmentView:
    env = snapshot.environment
    spec, status = env.get("spec") or {}, env.get("status") or {}
    conditions = _conditions(env)
    budget = (spec.get("budget") or {}).get("monthlyUSD")
    return EnvironmentView(
        name=env["metadata"]["name"],
        namespace=snapshot.namespace,
        tier=spec.get("tier"),
        suspended=bool(spec.get("suspend")),
        stale=_stale(env),
        ready=_find(conditions, "Ready"),
        conditions=conditions,
        endpoints=tuple((k, str(v)) for k, v in (status.get("endpoints") or {}).items() if v),
        deployments=_deployments(snapshot),
        rollout=_rollout(snapshot.release, now),
        standby=_standby(snapshot.release, now),
        cost=Cost(
            monthly_usd=status.get("estimatedMonthlyCostUSD"),
            budget_usd=budget,
            over_budget=bool(status.get("overBudget")),
        ),
        backups=_find(conditions, "BackupsScheduled"),
        last_backup_age=_age(_last_backup(_find(conditions, "BackupsScheduled")), now),
    )


def release_bound_to(environment: str, env: Obj | None, releases: list[Obj]) -> Obj | None:
    """The Release of an Environment: the one its status names, else the only one naming
    it (a second Release for one Environment is refused by the operator)."""
    bound = ((env or {}).get("status") or {}).get("activeRelease")
    naming = [r for r in releases if (r.get("spec") or {}).get("environment") == environment]
    for candidate in naming:
        if candidate["metadata"]["name"] == bound:
            return candidate
    return naming[0] if len(naming) == 1 else None


def app_deployment_names(environment: str) -> tuple[str, ...]:
    names = ChildNames(environment)
    return (names.color_deployment("blue"), names.color_deployment("green"))


def rolling_deployment_name(environment: str) -> str:
    return ChildNames(environment).rolling_deployment


def active_service_name(environment: str) -> str:
    return ChildNames(environment).app_service


def _conditions(obj: Obj | None) -> tuple[ConditionLine, ...]:
    return tuple(
        ConditionLine(
            type=c.get("type", ""),
            status=c.get("status", "Unknown"),
            reason=c.get("reason", ""),
            message=c.get("message", ""),
        )
        for c in ((obj or {}).get("status") or {}).get("conditions") or []
    )


def _find(conditions: tuple[ConditionLine, ...], type_: str) -> ConditionLine | None:
    return next((c for c in conditions if c.type == type_), None)


def _stale(obj: Obj) -> bool:
    observed = (obj.get("status") or {}).get("observedGeneration")
    generation = obj["metadata"].get("generation")
    return observed is not None and generation is not None and observed < generation


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _deployments(snapshot: Snapshot) -> tuple[DeploymentLine, ...]:
    env_name = snapshot.environment["metadata"]["name"]
    release_status = (snapshot.release or {}).get("status") or {}
    selector = ((snapshot.service or {}).get("spec") or {}).get("selector") or {}
    selected_color = selector.get(COLOR_LABEL)
    active = release_status.get("activeColor")
    preview = release_status.get("previewColor")
    in_progress = release_status.get("phase") in IN_PROGRESS
    lines = []
    for color, name in zip(("blue", "green"), app_deployment_names(env_name), strict=True):
        deployment = snapshot.deployments.get(name)
        if deployment is None:
            continue
        wanted = _wanted(deployment)
        if color == active and not (in_progress and color == preview):
            role = "active"
        elif color == preview and in_progress:
            role = "preview"
        elif wanted > 0:
            role = "standby"
        else:
            role = "idle"
        selected = snapshot.service is not None and selected_color == color
        lines.append(_line(color, role, deployment, selected))
    rolling = snapshot.deployments.get(rolling_deployment_name(env_name))
    if rolling is not None:
        selected = snapshot.service is not None and selected_color is None
        lines.append(_line("app", "rolling", rolling, selected))
    return tuple(lines)


def _wanted(deployment: Obj) -> int:
    replicas = (deployment.get("spec") or {}).get("replicas")
    return 1 if replicas is None else int(replicas)


def _line(name: str, role: str, deployment: Obj, selected: bool) -> DeploymentLine:
    pod = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = pod.get("containers") or [{}]
    return DeploymentLine(
        name=name,
        role=role,
        image=containers[0].get("image"),
        ready=int((deployment.get("status") or {}).get("readyReplicas") or 0),
        wanted=_wanted(deployment),
        selected=selected,
    )


def _rollout(release: Obj | None, now: datetime) -> RolloutLine | None:
    if release is None:
        return None
    status = release.get("status") or {}
    conditions = _conditions(release)
    started = _timestamp(status.get("stepStartedAt"))
    return RolloutLine(
        release=release["metadata"]["name"],
        phase=status.get("phase"),
        target_image=status.get("targetImage") or (release.get("spec") or {}).get("image"),
        active_image=status.get("activeImage"),
        previous_image=status.get("previousImage"),
        step=_step(status),
        step_age=_age(started, now),
        gate=_find(conditions, "Healthy"),
        ready=_find(conditions, "Ready"),
        history=tuple(
            (h.get("outcome", ""), h.get("image", "")) for h in status.get("history") or []
        ),
    )


def _step(status: Obj) -> str | None:
    """What the phase waits for, in the words of the machines' tables (reconcile/release)."""
    phase, preview = status.get("phase"), status.get("previewColor")
    rolling = (status.get("rollout") or {}).get("image") is not None
    if phase == "Deploying":
        if rolling:
            return "rolling update: waiting for the new pods to be available"
        return f"waiting for {preview} to have all its pods available"
    if phase == "Verifying" and status.get("switchedAt") is None:
        return f"health gate on the preview Service ({preview})"
    if phase == "Verifying":
        return f"switched to {status.get('activeColor')}; watching the active Service"
    if phase == "AwaitingPromotion":
        return f"{preview} passed its gate; waiting for promote"
    if phase == "BackingUp":
        backup = status.get("preSwitchBackup") or {}
        return f"backing up the database first ({backup.get('kind')} {backup.get('name')})"
    return None


def _last_backup(backups: ConditionLine | None) -> datetime | None:
    """The time in BackupsScheduled's `..., last success <time>` (status/environment.py)."""
    if backups is None or LAST_SUCCESS not in backups.message:
        return None
    return _timestamp(backups.message.rsplit(LAST_SUCCESS, 1)[1].strip())


def _age(since: datetime | None, now: datetime) -> timedelta | None:
    return None if since is None else max(now - since, timedelta(0))


def _standby(release: Obj | None, now: datetime) -> Standby | None:
    """The colour kept for an instant rollback, while its window is open."""
    status = (release or {}).get("status") or {}
    until = _timestamp(status.get("standbyUntil"))
    color = status.get("previewColor")
    if until is None or color is None or until <= now or status.get("phase") in IN_PROGRESS:
        return None
    colors = (status.get("rollout") or {}).get("colors") or {}
    if not (colors.get(color) or {}).get("replicas"):
        return None
    return Standby(color=color, until=until, left=until - now)
