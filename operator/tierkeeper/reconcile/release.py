"""The Release controller: one step of a rollout at a time, every step's state in status.

A step reads the Release status, does the one thing that status calls for, and
writes the new status *before* touching the app's Deployments and Services, so an
operator killed at any instant resumes from status and never switches traffic to a
colour that has not passed its gate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tierkeeper import API_VERSION, metrics
from tierkeeper.apply.children import Owner, converge
from tierkeeper.apply.errors import NotFound
from tierkeeper.apply.events import EventType, Involved, post_event
from tierkeeper.apply.kube import Kube
from tierkeeper.config import OperatorConfig
from tierkeeper.models import (
    InvalidSpec,
    Phase,
    Promotion,
    ReleaseSpec,
    ReleaseStatus,
    ResolvedEnvironment,
    resolve_document,
)
from tierkeeper.models.child import ChildSummary, summarize
from tierkeeper.models.release import ROLLBACK_ANNOTATION
from tierkeeper.models.rollout import AppRollout, Color, ColorRollout
from tierkeeper.models.status import parse_status
from tierkeeper.models.units import duration_seconds
from tierkeeper.reconcile.environment import WRITES_NOTHING, EnvRecord, Memory
from tierkeeper.reconcile.health_gate import GATE_SUCCESSES, Verdict, health_url, watch_health
from tierkeeper.render import app_children
from tierkeeper.render.common import COMPONENT, INSTANCE, Component
from tierkeeper.status.conditions import Observation, observe, raw_condition
from tierkeeper.status.release import release_conditions, with_history

POLL_SECONDS = 5.0
Live = Mapping[tuple[str, str], ChildSummary]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReleaseRecord:
    """What the operator keeps of a Release between events."""

    namespace: str
    name: str
    uid: str
    generation: int
    created: str
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    # Its rollback annotation: the one annotation read (the others can be large, e.g.
    # kubectl's last-applied-configuration, a copy of the whole object).
    rollback_requested: bool

    @property
    def involved(self) -> Involved:
        return Involved("Release", self.namespace, self.name, self.uid)

    @property
    def rollout(self) -> AppRollout | None:
        raw = self.status.get("rollout")
        return AppRollout.model_validate(raw) if raw else None


def refusal_for(
    record: ReleaseRecord,
    spec: ReleaseSpec,
    env_record: EnvRecord | None,
    bound: str | None,
) -> Observation | None:
    """Why this Release may not touch its Environment, if it may not."""
    if env_record is None:
        return observe(
            "Ready",
            False,
            "EnvironmentNotFound",
            f"Environment {spec.environment} does not exist in namespace {record.namespace}: "
            "create it, or fix spec.environment",
        )
    if bound != record.name:
        return observe(
            "Ready",
            False,
            "EnvironmentAlreadyBound",
            f"Release {bound} already deploys Environment {spec.environment}; "
            "one Release per Environment: change that Release's image instead",
        )
    branch = env_record.spec.get("branch")
    source = spec.source.branch if spec.source else None
    if branch and source and branch != source:
        return observe(
            "Ready",
            False,
            "BranchMismatch",
            f"Environment {spec.environment} deploys branch {branch}, "
            f"this Release comes from {source}",
        )
    ready = raw_condition(env_record.status, "Ready")
    if ready is not None and ready.get("reason") in WRITES_NOTHING:
        return observe(
            "Ready",
            False,
            "EnvironmentRefused",
            f"Environment {spec.environment} is refused ({ready['reason']}: "
            f"{ready.get('message', '')}); the rollout starts once it is fixed",
        )
    return None


def available(child: ChildSummary | None, image: str, replicas: int | None) -> bool:
    """The Deployment runs `image` on all of its (or exactly `replicas`) pods, all Ready."""
    if child is None or child.image != image or not child.observed_current:
        return False
    if replicas is not None and child.desired != replicas:
        return False
    return min(child.updated, child.ready, child.available) >= child.desired


@dataclass
class ReleaseStep:
    """One step of one Release; `status` is updated as the step saves."""

    kube: Kube
    config: OperatorConfig
    record: ReleaseRecord
    spec: ReleaseSpec
    env: ResolvedEnvironment
    env_record: EnvRecord
    live: Live
    memory: Memory
    rollouts: dict[tuple[str, str], AppRollout]
    now: datetime
    status: ReleaseStatus = field(init=False)

    def __post_init__(self) -> None:
        self.status = parse_status(ReleaseStatus, self.record.status)

    # -- writing -------------------------------------------------------------

    async def save(
        self,
        *,
        event: tuple[EventType, str, str] | None = None,
        healthy: Observation | None = None,
        **changes: Any,
    ) -> None:
        """Status first, then the app's children it calls for, then the Event."""
        before = self.status
        status = before.model_copy(update=changes)
        status = status.model_copy(
            update={
                "observed_generation": self.record.generation,
                "conditions": release_conditions(
                    before.conditions,
                    status,
                    self.spec.image,
                    refusal=None,
                    healthy=healthy,
                    now=self.now,
                    generation=self.record.generation,
                ),
            }
        )
        if status != before:
            await self.kube.write_status("Release", self.record.namespace, self.record.name, status)
        self.status = status
        metrics.release_phase(self.record.namespace, self.record.name, status.phase)
        if len(status.history) != len(before.history) or status.history[-1:] != before.history[-1:]:
            metrics.ROLLOUTS.labels(status.history[-1].outcome).inc()
        if status.rollout is not None and status.rollout != before.rollout:
            await self.apply(status.rollout)
        if event is not None:
            await post_event(self.kube, self.record.involved, *event)

    async def apply(self, rollout: AppRollout) -> None:
        env_key = (self.env.namespace, self.env.name)
        owner = Owner(self.env_record.name, self.env_record.uid)
        async with self.memory.writing(env_key):
            self.rollouts[env_key] = rollout
            children = app_children(self.env, rollout)
            with self.memory.expecting(env_key, children):
                written = await converge(self.kube, self.env, children, self.live, owner)
            self.memory.written.setdefault(env_key, {}).update(written)
            self.memory.applied_rollout[env_key] = rollout

    async def catch_up(self) -> None:
        """Apply the recorded rollout if this process last applied another: the status is
        written first, so an apply that failed after it (the API server went away) must not
        leave the children behind the status. A process that has applied nothing yet leaves
        it to the Environment's first full reconcile, which renders the recorded rollout."""
        rollout = self.status.rollout
        applied = self.memory.applied_rollout.get((self.env.namespace, self.env.name))
        if rollout is not None and applied is not None and applied != rollout:
            await self.apply(rollout)

    # -- shared pieces -------------------------------------------------------

    def deployment(self, color: Color | None) -> ChildSummary | None:
        names = self.env.names
        name = names.rolling_deployment if color is None else names.color_deployment(color.value)
        return self.live.get(("Deployment", name))

    def history(self, outcome: str, color: Color | None) -> dict[str, Any]:
        return {
            "history": with_history(
                self.status.history,
                image=self.status.target_image or self.spec.image,
                color=color.value if color else None,
                outcome=outcome,
                started=self.status.step_started_at,
                finished=self.now,
            )
        }

    def deadline_passed(self) -> bool:
        started = self.status.step_started_at or self.now
        limit = self.env.spec.strategy.blue_green.progress_deadline_seconds
        return self.now - started > timedelta(seconds=limit)

    async def drop_rollback_annotation(self) -> None:
        await self.kube.merge_patch(
            API_VERSION,
            "Release",
            self.record.namespace,
            self.record.name,
            {"metadata": {"annotations": {ROLLBACK_ANNOTATION: None}}},
        )

    # -- blue-green ----------------------------------------------------------

    async def blue_green(self) -> float | None:
        status, image = self.status, self.spec.image
        if self.record.rollback_requested:
            return await self.emergency_rollback()
        if status.rollout is None:
            await self.save(
                rollout=AppRollout.first(self.env, image),
                phase=Phase.DEPLOYING,
                target_image=image,
                preview_color=Color.BLUE.value,
                step_started_at=self.now,
                switched_at=None,
                event=("Normal", "Deploying", f"deploying {image} to blue"),
            )
            return POLL_SECONDS
        if image not in (status.target_image, status.refused_image):
            return await self.start(status.rollout, image)
        phase = status.phase
        if phase is Phase.DEPLOYING:
            return await self.await_available(status.rollout)
        if phase is Phase.VERIFYING and status.switched_at is None:
            return await self.gate(status.rollout)
        if phase is Phase.AWAITING_PROMOTION:
            return await self.switch(status.rollout) if self.spec.promote else None
        if phase is Phase.VERIFYING:
            return await self.post_promotion(status.rollout)
        if phase in (Phase.PROMOTED, Phase.ROLLED_BACK):
            return await self.settle_standby(status.rollout)
        return None

    def standby_ready(self, rollout: AppRollout, image: str | None = None) -> bool:
        standby = rollout.colors.get(rollout.active.other)
        until = self.status.standby_until
        return (
            standby is not None
            and standby.replicas > 0
            and (image is None or standby.image == image)
            and until is not None
            and self.now < until
            and available(self.deployment(rollout.active.other), standby.image, standby.replicas)
        )

    def window(self) -> timedelta:
        return timedelta(
            seconds=duration_seconds(self.env.spec.strategy.blue_green.rollback_window)
        )

    async def start(self, rollout: AppRollout, image: str) -> float | None:
        active_image = rollout.active_image(self.env)
        if image == active_image:
            await self.save(phase=Phase.PROMOTED, target_image=image, refused_image=None)
            return await self.settle_standby(rollout)
        if self.standby_ready(rollout, image):
            return await self.switch_to_standby(rollout, Phase.PROMOTED, "Promoted")
        preview = rollout.active.other
        colors = {
            **rollout.colors,
            preview: ColorRollout(image=image, replicas=self.env.spec.app.replicas),
        }
        await self.save(
            rollout=rollout.model_copy(update={"colors": colors}),
            phase=Phase.DEPLOYING,
            target_image=image,
            preview_color=preview.value,
            step_started_at=self.now,
            switched_at=None,
            refused_image=None,
            event=("Normal", "Deploying", f"deploying {image} to {preview.value}"),
        )
        return POLL_SECONDS

    async def switch_to_standby(
        self, rollout: AppRollout, phase: Phase, outcome: str
    ) -> float | None:
        """Traffic back to the standby colour at once: its pods are already Ready."""
        leaving, target = rollout.active, rollout.active.other
        if not await self.ready_now(target, rollout.colors[target]):
            return POLL_SECONDS
        reason = "Annotation" if phase is Phase.ROLLED_BACK else "Revert"
        decided = time.monotonic()
        image = rollout.colors[target].image
        refused = self.spec.image if phase is Phase.ROLLED_BACK else None
        await self.save(
            rollout=rollout.model_copy(update={"active": target}),
            phase=phase,
            target_image=image if phase is Phase.PROMOTED else self.status.target_image,
            refused_image=refused,
            active_color=target.value,
            preview_color=leaving.value,
            active_image=image,
            previous_image=rollout.colors[leaving].image,
            standby_until=self.now + self.window(),
            switched_at=self.now,
            step_started_at=self.now,
            **self.history(outcome, target),
            event=(
                "Normal",
                "SwitchedToStandby",
                f"traffic switched back to {target.value} ({image})",
            ),
        )
        metrics.switched(reason, decided)
        metrics.ROLLBACKS.labels(reason).inc()
        return self.window().total_seconds()

    async def await_available(self, rollout: AppRollout) -> float | None:
        color = Color(self.status.preview_color or rollout.active.value)
        wanted = rollout.colors[color]
        if available(self.deployment(color), wanted.image, wanted.replicas):
            if color is rollout.active:
                await self.save(
                    phase=Phase.PROMOTED,
                    active_color=color.value,
                    active_image=wanted.image,
                    preview_color=color.other.value,
                    **self.history("Promoted", color),
                    event=("Normal", "Promoted", f"{wanted.image} is live on {color.value}"),
                )
                return None
            await self.save(
                phase=Phase.VERIFYING,
                step_started_at=self.now,
                event=("Normal", "Available", f"{color.value} is available; health gate starts"),
            )
            return 0.0
        if self.deadline_passed():
            return await self.fail(
                rollout,
                color,
                "ProgressDeadlineExceeded",
                f"{color.value} not available within the progress deadline",
            )
        return POLL_SECONDS

    async def fail(
        self, rollout: AppRollout, color: Color, reason: str, message: str
    ) -> float | None:
        """Traffic stays where it is; the new colour goes back to zero pods (first deploys
        keep theirs: there is nothing else to serve)."""
        colors = dict(rollout.colors)
        if color is not rollout.active:
            colors[color] = colors[color].model_copy(update={"replicas": 0})
        await self.save(
            rollout=rollout.model_copy(update={"colors": colors}),
            phase=Phase.FAILED,
            **self.history("Failed", color),
            healthy=observe("Healthy", False, reason, message) if "Health" in reason else None,
            event=("Warning", reason, message),
        )
        return None

    async def health(self, service: str, *, duration: float, until_healthy: bool) -> Verdict:
        check = self.env.spec.app.health_check
        if check is None:
            return Verdict(True, "no health check configured")
        url = health_url(self.config, self.env, service)
        return await watch_health(url, check, duration=duration, until_healthy=until_healthy)

    async def gate(self, rollout: AppRollout) -> float | None:
        color = Color(self.status.preview_color or rollout.active.other.value)
        started = self.status.step_started_at or self.now
        limit = self.env.spec.strategy.blue_green.progress_deadline_seconds
        remaining = max(limit - (self.now - started).total_seconds(), float(GATE_SUCCESSES))
        started_gate = time.monotonic()
        verdict = await self.health(
            self.env.names.preview_service, duration=remaining, until_healthy=True
        )
        metrics.GATE_SECONDS.labels("passed" if verdict.healthy else "failed").observe(
            time.monotonic() - started_gate
        )
        # The gate took seconds (minutes, at production's 30 s interval): what follows is
        # timed from its end, or the post-promotion watch would be cut short by as much.
        self.now = datetime.now(UTC).replace(microsecond=0)
        if not verdict.healthy:
            return await self.fail(rollout, color, "HealthGateFailed", verdict.message)
        passed = observe("Healthy", True, "HealthGatePassed", verdict.message)
        if self.spec.promotion is Promotion.MANUAL and not self.spec.promote:
            await self.save(
                phase=Phase.AWAITING_PROMOTION,
                healthy=passed,
                event=(
                    "Normal",
                    "AwaitingPromotion",
                    f"{color.value} passed its gate; set spec.promote: true to switch",
                ),
            )
            return None
        return await self.switch(rollout, healthy=passed)

    async def ready_now(self, color: Color, wanted: ColorRollout) -> bool:
        """The colour's Deployment as the API server has it now. Traffic never moves on the
        index's word alone: it can lag (after a restart, in a burst of events)."""
        name = self.env.names.color_deployment(color.value)
        try:
            body = await self.kube.get("apps/v1", "Deployment", self.env.namespace, name)
        except NotFound:
            body = None
        now = summarize("Deployment", body) if body is not None else None
        if available(now, wanted.image, wanted.replicas):
            return True
        logger.info(
            "%s/%s: not switching yet, Deployment %s is not available for %s x%s: %s",
            self.record.namespace,
            self.record.name,
            name,
            wanted.image,
            wanted.replicas,
            now,
        )
        return False

    async def switch(self, rollout: AppRollout, healthy: Observation | None = None) -> float | None:
        """Traffic to the preview colour; `healthy` is the gate's verdict when it has just
        passed, saved in the same status write (one write less before the Service's)."""
        old, new = rollout.active, Color(self.status.preview_color or rollout.active.other.value)
        if not await self.ready_now(new, rollout.colors[new]):
            return POLL_SECONDS
        decided = time.monotonic()
        settle = self.env.spec.strategy.blue_green.post_promotion_seconds == 0
        settled = self.history("Promoted", new) if settle else {}
        await self.save(
            rollout=rollout.model_copy(update={"active": new}),
            phase=Phase.PROMOTED if settle else Phase.VERIFYING,
            switched_at=self.now,
            active_color=new.value,
            preview_color=old.value,
            previous_image=rollout.colors[old].image,
            active_image=rollout.colors[new].image,
            standby_until=self.now + self.window(),
            **settled,
            healthy=healthy,
            event=("Normal", "Switched", f"traffic switched from {old.value} to {new.value}"),
        )
        metrics.switched("Promotion", decided)
        return 0.0

    async def post_promotion(self, rollout: AppRollout) -> float | None:
        seconds = self.env.spec.strategy.blue_green.post_promotion_seconds
        switched = self.status.switched_at or self.now
        remaining = seconds - (self.now - switched).total_seconds()
        verdict = (
            await self.health(self.env.names.app_service, duration=remaining, until_healthy=False)
            if remaining > 0
            else Verdict(True, f"healthy for {seconds}s after the switch")
        )
        if verdict.healthy:
            await self.save(
                phase=Phase.PROMOTED,
                healthy=observe("Healthy", True, "PostPromotionPassed", verdict.message),
                **self.history("Promoted", rollout.active),
                event=("Normal", "Promoted", verdict.message),
            )
            return await self.settle_standby(rollout)
        failed, back = rollout.active, rollout.active.other
        decided = time.monotonic()
        colors = {
            **rollout.colors,
            failed: rollout.colors[failed].model_copy(update={"replicas": 0}),
        }
        await self.save(
            rollout=rollout.model_copy(update={"active": back, "colors": colors}),
            phase=Phase.ROLLED_BACK,
            refused_image=self.status.target_image,
            active_color=back.value,
            preview_color=failed.value,
            active_image=rollout.colors[back].image,
            standby_until=None,
            healthy=observe("Healthy", False, "PostPromotionFailed", verdict.message),
            **self.history("RolledBack", failed),
            event=(
                "Warning",
                "PostPromotionFailed",
                f"{verdict.message}; traffic switched back to {back.value}",
            ),
        )
        metrics.switched("PostPromotionFailed", decided)
        metrics.ROLLBACKS.labels("PostPromotionFailed").inc()
        return None

    async def settle_standby(self, rollout: AppRollout) -> float | None:
        """Past the rollback window, the standby colour goes to zero pods."""
        standby = rollout.active.other
        kept = rollout.colors.get(standby)
        until = self.status.standby_until
        if kept is None or kept.replicas == 0 or until is None:
            return None
        if self.now < until:
            return (until - self.now).total_seconds()
        colors = {**rollout.colors, standby: kept.model_copy(update={"replicas": 0})}
        await self.save(
            rollout=rollout.model_copy(update={"colors": colors}),
            event=(
                "Normal",
                "StandbyScaledDown",
                f"rollback window over: {standby.value} scaled to 0",
            ),
        )
        return None

    async def emergency_rollback(self) -> float | None:
        rollout = self.status.rollout
        await self.drop_rollback_annotation()
        if rollout is None:
            return None
        if self.env.blue_green:
            if self.standby_ready(rollout):
                return await self.switch_to_standby(rollout, Phase.ROLLED_BACK, "RolledBack")
            await post_event(
                self.kube,
                self.record.involved,
                "Warning",
                "RollbackUnavailable",
                "no standby colour is ready to take traffic back",
            )
            return None
        previous = self.status.previous_image
        if previous is None:
            await post_event(
                self.kube,
                self.record.involved,
                "Warning",
                "RollbackUnavailable",
                "no previous image to roll back to",
            )
            return None
        await self.save(
            rollout=rollout.model_copy(update={"image": previous}),
            phase=Phase.ROLLED_BACK,
            refused_image=self.spec.image,
            active_image=previous,
            **self.history("RolledBack", None),
            event=("Warning", "RolledBack", f"rolled back to {previous} by annotation"),
        )
        return None

    # -- rolling -------------------------------------------------------------

    async def rolling(self) -> float | None:
        status, image = self.status, self.spec.image
        if self.record.rollback_requested:
            return await self.emergency_rollback()
        rollout = status.rollout
        if rollout is None or image not in (status.target_image, status.refused_image):
            current = rollout.image if rollout else None
            await self.save(
                rollout=AppRollout(image=image),
                phase=Phase.DEPLOYING,
                target_image=image,
                previous_image=current if current != image else status.previous_image,
                step_started_at=self.now,
                refused_image=None,
                event=("Normal", "Deploying", f"rolling update to {image}"),
            )
            return POLL_SECONDS
        if status.phase is not Phase.DEPLOYING:
            return None
        if available(self.deployment(None), image, None):
            await self.save(
                phase=Phase.PROMOTED,
                active_image=image,
                **self.history("Promoted", None),
                event=("Normal", "Promoted", f"{image} is rolled out"),
            )
            return None
        restarts = await self.restarts(image)
        budget = self.env.spec.app.restart_policy.max_retries
        if restarts > budget:
            return await self.fail_rolling(
                rollout,
                "RestartBudgetExceeded",
                f"{restarts} container restarts, more than restartPolicy.maxRetries {budget}",
            )
        if self.deadline_passed():
            return await self.fail_rolling(
                rollout,
                "ProgressDeadlineExceeded",
                f"{image} not available within the progress deadline",
            )
        return POLL_SECONDS

    async def restarts(self, image: str) -> int:
        selector = f"{INSTANCE}={self.env.names.instance_label},{COMPONENT}={Component.APP.value}"
        pods = await self.kube.list("v1", "Pod", self.env.namespace, selector)
        return sum(
            container.get("restartCount", 0)
            for pod in pods
            for container in (pod.get("status") or {}).get("containerStatuses") or []
            if container.get("image") == image
        )

    async def fail_rolling(self, rollout: AppRollout, reason: str, message: str) -> float | None:
        previous = self.status.previous_image
        restored = f"; {previous} re-applied" if previous else ""
        await self.save(
            rollout=rollout.model_copy(update={"image": previous or rollout.image}),
            phase=Phase.FAILED,
            active_image=previous,
            **self.history("Failed", None),
            event=("Warning", reason, message + restored),
        )
        return None


async def refuse(
    kube: Kube, record: ReleaseRecord, spec: ReleaseSpec, refusal: Observation, now: datetime
) -> None:
    """Ready=False with the reason, and a Warning Event the first time; nothing else touched."""
    previous = parse_status(ReleaseStatus, record.status)
    conditions = release_conditions(
        previous.conditions,
        previous,
        spec.image,
        refusal=refusal,
        healthy=None,
        now=now,
        generation=record.generation,
    )
    status = previous.model_copy(
        update={
            "conditions": conditions,
            "observed_generation": record.generation,
            "phase": previous.phase or Phase.PENDING,
        }
    )
    if status == previous:
        return
    await kube.write_status("Release", record.namespace, record.name, status)
    await post_event(kube, record.involved, "Warning", refusal.reason, refusal.message)


async def step_release(
    kube: Kube,
    config: OperatorConfig,
    record: ReleaseRecord,
    env_record: EnvRecord | None,
    bound: str | None,
    live: Live,
    memory: Memory,
    rollouts: dict[tuple[str, str], AppRollout],
    now: datetime,
) -> float | None:
    """One step; returns seconds until the next one is due (None: when something changes)."""
    spec = ReleaseSpec.model_validate(record.spec)
    refusal = refusal_for(record, spec, env_record, bound)
    if refusal is not None or env_record is None:
        # refusal_for always refuses a missing Environment; the second test is for mypy.
        if refusal is not None:
            await refuse(kube, record, spec, refusal, now)
        return None
    try:
        env = resolve_document(
            env_record.spec, name=env_record.name, namespace=env_record.namespace
        )
    except InvalidSpec as error:
        message = f"Environment {env_record.name} is invalid: {error.message}"
        await refuse(
            kube, record, spec, observe("Ready", False, "EnvironmentInvalid", message), now
        )
        return None
    step = ReleaseStep(kube, config, record, spec, env, env_record, live, memory, rollouts, now)
    await step.catch_up()
    wait = await (step.blue_green() if env.blue_green else step.rolling())
    if step.status.observed_generation != record.generation:
        # A spec change that starts nothing (new provenance, the refused image again) is
        # still observed: GitOps tools wait for observedGeneration.
        await step.save()
    return wait
