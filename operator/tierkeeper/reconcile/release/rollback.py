"""Instant rollback: traffic back to the standby colour, whose pods are still Ready.

Two ways in: the image reverted inside the rollback window (Promoted, as a new rollout
that needs no pod), and the `tierkeeper.dev/rollback=true` annotation (RolledBack; for
Rolling, the previous image is rolled out again).
"""

from __future__ import annotations

import time
from datetime import timedelta

from tierkeeper import metrics
from tierkeeper.apply.events import post_event
from tierkeeper.models import Phase
from tierkeeper.models.release import ROLLBACK_ANNOTATION
from tierkeeper.models.rollout import AppRollout
from tierkeeper.models.units import duration_seconds
from tierkeeper.reconcile.release.step import POLL_SECONDS, ReleaseStep, available


def rollback_window(step: ReleaseStep) -> timedelta:
    return timedelta(seconds=duration_seconds(step.env.spec.strategy.blue_green.rollback_window))


def standby_ready(step: ReleaseStep, rollout: AppRollout, image: str | None = None) -> bool:
    """The standby colour is kept (running `image`, if given), its window is open, and all
    of its pods are available."""
    standby = rollout.colors.get(rollout.active.other)
    until = step.status.standby_until
    return (
        standby is not None
        and standby.replicas > 0
        and (image is None or standby.image == image)
        and until is not None
        and step.now < until
        and available(step.deployment(rollout.active.other), standby.image, standby.replicas)
    )


async def switch_to_standby(
    step: ReleaseStep, rollout: AppRollout, phase: Phase, outcome: str
) -> float | None:
    """Traffic back to the standby colour at once: its pods are already Ready."""
    leaving, target = rollout.active, rollout.active.other
    if not await step.color_ready_now(target, rollout.colors[target]):
        return POLL_SECONDS
    reason = "Annotation" if phase is Phase.ROLLED_BACK else "Revert"
    decided = time.monotonic()
    image = rollout.colors[target].image
    refused = step.spec.image if phase is Phase.ROLLED_BACK else None
    window = rollback_window(step)
    await step.save(
        rollout=rollout.model_copy(update={"active": target}),
        phase=phase,
        target_image=image if phase is Phase.PROMOTED else step.status.target_image,
        refused_image=refused,
        active_color=target.value,
        preview_color=leaving.value,
        active_image=image,
        previous_image=rollout.colors[leaving].image,
        standby_until=step.now + window,
        switched_at=step.now,
        step_started_at=step.now,
        # A revert promotes the standby's image; a rollback ends the target's rollout.
        **step.history(outcome, target, image if phase is Phase.PROMOTED else None),
        event=(
            "Normal",
            "SwitchedToStandby",
            f"traffic switched back to {target.value} ({image})",
        ),
    )
    metrics.switched(reason, decided)
    metrics.ROLLBACKS.labels(reason).inc()
    return window.total_seconds()


async def emergency_rollback(step: ReleaseStep) -> float | None:
    """The rollback annotation: it is removed first, so that it acts once."""
    rollout = step.status.rollout
    await step.drop_annotation(ROLLBACK_ANNOTATION)
    if rollout is None:
        return None
    if step.env.blue_green:
        if standby_ready(step, rollout):
            return await switch_to_standby(step, rollout, Phase.ROLLED_BACK, "RolledBack")
        await post_event(
            step.kube,
            step.record.involved,
            "Warning",
            "RollbackUnavailable",
            "no standby colour is ready to take traffic back",
        )
        return None
    previous = step.status.previous_image
    if previous is None:
        await post_event(
            step.kube,
            step.record.involved,
            "Warning",
            "RollbackUnavailable",
            "no previous image to roll back to",
        )
        return None
    await step.save(
        rollout=rollout.model_copy(update={"image": previous}),
        phase=Phase.ROLLED_BACK,
        refused_image=step.spec.image,
        active_image=previous,
        **step.history("RolledBack", None),
        event=("Warning", "RolledBack", f"rolled back to {previous} by annotation"),
    )
    return None
