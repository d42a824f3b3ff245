"""One step of a Release: its inputs, its status writes and the app children they call for.

A step reads the Release status, does the one thing that status calls for, and saves the
new status *before* writing the app's Deployments and Services, so an operator killed at
any instant resumes from status and never switches traffic to a colour that has not
passed its gate. The strategies' machines are `blue_green.py` and `rolling.py`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tierkeeper import API_VERSION, metrics
from tierkeeper.apply.children import Owner
from tierkeeper.apply.client import ApiClient
from tierkeeper.apply.errors import NotFound
from tierkeeper.apply.events import EventType, post_event
from tierkeeper.config import OperatorConfig
from tierkeeper.models import ReleaseSpec, ReleaseStatus, ResolvedEnvironment
from tierkeeper.models.child import ChildSummary, LiveChildren, summarize
from tierkeeper.models.rollout import AppRollout, Color, ColorRollout
from tierkeeper.models.status import parse_status
from tierkeeper.reconcile.app_writer import write_app
from tierkeeper.reconcile.ledger import WriteLedger
from tierkeeper.reconcile.records import EnvRecord, ReleaseRecord
from tierkeeper.reconcile.release.health_gate import HealthChecks
from tierkeeper.status.conditions import Observation
from tierkeeper.status.release import release_conditions, with_history

# Seconds until the next look while a step waits on pods.
POLL_SECONDS = 5.0

logger = logging.getLogger(__name__)


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

    kube: ApiClient
    config: OperatorConfig
    record: ReleaseRecord
    spec: ReleaseSpec
    env: ResolvedEnvironment
    env_record: EnvRecord
    live: LiveChildren
    ledger: WriteLedger
    health_checks: HealthChecks
    clock: Callable[[], datetime]
    now: datetime = field(init=False)
    status: ReleaseStatus = field(init=False)

    def __post_init__(self) -> None:
        self.now = self.clock()
        self.status = parse_status(ReleaseStatus, self.record.status)

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
                    serving=self.serving(status.rollout),
                    reshaping=status.rollout is not None and status.rollout.reshaping(self.env),
                ),
            }
        )
        if status != before:
            await self.kube.write_status(
                "Release", self.record.namespace, self.record.name, status, before
            )
            logger.debug(
                "%s/%s: release status written: %s %s, active %s, preview %s",
                self.record.namespace,
                self.record.name,
                status.phase,
                status.target_image,
                status.active_color,
                status.preview_color,
            )
        self.status = status
        metrics.release_phase(self.record.namespace, self.record.name, status.phase)
        if len(status.history) != len(before.history) or status.history[-1:] != before.history[-1:]:
            metrics.ROLLOUTS.labels(status.history[-1].outcome).inc()
        if status.rollout is not None and status.rollout != before.rollout:
            await self.write(status.rollout)
        if event is not None:
            await post_event(self.kube, self.record.involved, *event)

    async def write(self, rollout: AppRollout) -> None:
        """The app's children as `rollout` has them; the Environment's reconcile renders
        this rollout from now on, even before the status write comes back through the watch."""
        self.ledger.decided[(self.env.namespace, self.env.name)] = rollout
        owner = Owner(self.env_record.name, self.env_record.uid)
        await write_app(self.kube, self.ledger, self.env, owner, self.live, rollout)

    async def catch_up(self) -> None:
        """Write the recorded rollout if this process last wrote another: the status is
        written first, so a write that failed after it (the API server went away) must not
        leave the children behind the status. A process that has written nothing yet leaves
        it to the Environment's first converge, which renders the recorded rollout."""
        rollout = self.status.rollout
        applied = self.ledger.applied_rollout.get((self.env.namespace, self.env.name))
        if rollout is not None and applied is not None and applied != rollout:
            await self.write(rollout)

    def serving(self, rollout: AppRollout | None) -> bool:
        """A pod behind the active Service is Ready, as the watches last saw it (a suspended
        Environment runs none on purpose)."""
        if rollout is None or self.env.spec.suspend:
            return True
        color = rollout.active if rollout.serves_colors(self.env) else None
        child = self.deployment(color)
        return child is not None and child.ready > 0

    def deployment(self, color: Color | None) -> ChildSummary | None:
        names = self.env.names
        name = names.rolling_deployment if color is None else names.color_deployment(color.value)
        return self.live.get(("Deployment", name))

    async def color_ready_now(self, color: Color, wanted: ColorRollout) -> bool:
        name = self.env.names.color_deployment(color.value)
        return await self.ready_now(name, wanted.image, wanted.replicas)

    async def ready_now(self, name: str, image: str, replicas: int | None) -> bool:
        """The Deployment is available as the API server has it now. Traffic never moves on
        the watch cache's word alone: it can lag (after a restart, in a burst of events)."""
        try:
            body = await self.kube.get("apps/v1", "Deployment", self.env.namespace, name)
        except NotFound:
            body = None
        now = summarize("Deployment", body) if body is not None else None
        if available(now, image, replicas):
            return True
        logger.info(
            "%s/%s: not switching yet, Deployment %s is not available for %s x%s: %s",
            self.record.namespace,
            self.record.name,
            name,
            image,
            replicas,
            now,
        )
        return False

    def history(
        self, outcome: str, color: Color | None, image: str | None = None
    ) -> dict[str, Any]:
        """The history with this rollout's entry: of `image`, else of the target image."""
        return {
            "history": with_history(
                self.status.history,
                image=image or self.status.target_image or self.spec.image,
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

    async def drop_annotation(self, annotation: str) -> None:
        """A request made by annotation acts once: it is removed before it is acted on."""
        await self.kube.merge_patch(
            API_VERSION,
            "Release",
            self.record.namespace,
            self.record.name,
            {"metadata": {"annotations": {annotation: None}}},
        )
