"""The blue-green machine: one colour serves, the other takes the new image, a health gate
decides, the active Service switches, and the old colour stays as a standby.

| status                           | waits for                          | then                                          |
|----------------------------------|------------------------------------|-----------------------------------------------|
| no rollout yet                   | -                                  | Deploying: the image on blue, green idle      |
| any, a new image in the spec     | -                                  | Deploying on the idle colour; Promoted at once |
|                                  |                                    | if the standby runs it (a revert in the window) |
|                                  |                                    | BackingUp first if backupBeforeSwitch (below) |
| BackingUp                        | the pre-switch backup's Job (or    | Deploying on the idle colour once it succeeds; |
|                                  | CloudNativePG Backup)              | Failed (PreSwitchBackupFailed) if it fails:   |
|                                  |                                    | traffic stays, no new pod was started;        |
|                                  |                                    | Failed (Aborted) on abort (abort.py)          |
| any, rollback annotation         | the standby Ready                  | RolledBack: traffic to the standby (rollback.py) |
| Deploying                        | the colour available               | Verifying (gate); Promoted on a first deploy; |
|                                  |                                    | Failed past the progress deadline             |
| Verifying, not switched          | the gate on the preview Service    | AwaitingPromotion (Manual); the switch;       |
|                                  |                                    | Failed when the gate fails                    |
| AwaitingPromotion                | spec.promote: true                 | the switch                                    |
| switch                           | the colour Ready per the API server | Verifying (switched); Promoted when there is  |
|                                  |                                    | no post-promotion watch                       |
| Verifying, switched              | the watch on the active Service    | Promoted; RolledBack: traffic switched back   |
| Promoted, RolledBack             | the rollback window's end          | the standby scaled to zero                    |

Every transition is one `step.save`: the status first, then the children it calls for.
The pre-switch backup (`pre_switch_backup.py`) is asked for only when a rollout starts with
a colour already serving: neither a first rollout nor a switch back to the standby waits.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from tierkeeper import metrics
from tierkeeper.apply.events import post_event
from tierkeeper.models import Phase, Promotion
from tierkeeper.models.rollout import AppRollout, Color, ColorRollout
from tierkeeper.models.status import BackupOutcome
from tierkeeper.reconcile.release import pre_switch_backup
from tierkeeper.reconcile.release.health_gate import Verdict, check_health
from tierkeeper.reconcile.release.rollback import (
    emergency_rollback,
    rollback_window,
    standby_ready,
    switch_to_standby,
)
from tierkeeper.reconcile.release.step import POLL_SECONDS, ReleaseStep, available
from tierkeeper.status.conditions import Observation, observe


async def advance(step: ReleaseStep) -> float | None:
    """The step the status calls for; seconds until the next (None: when something changes)."""
    status, image = step.status, step.spec.image
    if step.record.rollback_requested:
        return await emergency_rollback(step)
    if status.rollout is None:
        await step.save(
            rollout=AppRollout.first(step.env, image),
            phase=Phase.DEPLOYING,
            target_image=image,
            preview_color=Color.BLUE.value,
            step_started_at=step.now,
            switched_at=None,
            event=("Normal", "Deploying", f"deploying {image} to blue"),
        )
        return POLL_SECONDS
    if image not in (status.target_image, status.refused_image):
        return await start(step, status.rollout, image)
    phase = status.phase
    if phase is Phase.BACKING_UP:
        return await await_backup(step, status.rollout)
    if phase is Phase.DEPLOYING:
        return await await_available(step, status.rollout)
    if phase is Phase.VERIFYING and status.switched_at is None:
        return await gate(step, status.rollout)
    if phase is Phase.AWAITING_PROMOTION:
        return await switch(step, status.rollout) if step.spec.promote else None
    if phase is Phase.VERIFYING:
        return await post_promotion(step, status.rollout)
    if phase in (Phase.PROMOTED, Phase.ROLLED_BACK):
        return await settle_standby(step, status.rollout)
    return None


async def start(step: ReleaseStep, rollout: AppRollout, image: str) -> float | None:
    """A new image: already live, on the standby (switch back at once), or to deploy."""
    if image == rollout.active_image(step.env):
        # Back to what serves: a preview deployed meanwhile (no standby window is open for
        # it) goes back to zero pods.
        idle, colors = rollout.active.other, dict(rollout.colors)
        if step.status.standby_until is None and idle in colors:
            colors[idle] = colors[idle].model_copy(update={"replicas": 0})
        rollout = rollout.model_copy(update={"colors": colors})
        await step.save(
            rollout=rollout, phase=Phase.PROMOTED, target_image=image, refused_image=None
        )
        return await settle_standby(step, rollout)
    if standby_ready(step, rollout, image):
        return await switch_to_standby(step, rollout, Phase.PROMOTED, "Promoted")
    if pre_switch_backup.wanted(step):
        return await back_up(step, image)
    return await deploy_preview(step, rollout, image)


async def back_up(step: ReleaseStep, image: str) -> float | None:
    """The pre-switch backup: asked for in status, then created; nothing else moves."""
    backup = pre_switch_backup.ask(step, image)
    await step.save(
        phase=Phase.BACKING_UP,
        target_image=image,
        step_started_at=step.now,
        switched_at=None,
        refused_image=None,
        pre_switch_backup=backup,
        event=(
            "Normal",
            "PreSwitchBackupStarted",
            f"backing up the database ({backup.kind} {backup.name}) before deploying {image}",
        ),
    )
    await pre_switch_backup.create(step, backup)
    return POLL_SECONDS


async def await_backup(step: ReleaseStep, rollout: AppRollout) -> float | None:
    """Deploying once the backup succeeded (or is no longer wanted); Failed if it failed."""
    image = step.status.target_image or step.spec.image
    backup = step.status.pre_switch_backup
    if backup is None or not pre_switch_backup.wanted(step):
        return await deploy_preview(step, rollout, image)
    backup = await pre_switch_backup.look(step, backup)
    if backup.outcome is BackupOutcome.RUNNING:
        return POLL_SECONDS
    if backup.outcome is BackupOutcome.SUCCEEDED:
        await post_event(
            step.kube, step.record.involved, "Normal", "PreSwitchBackupSucceeded", backup.message
        )
        return await deploy_preview(step, rollout, image, pre_switch_backup=backup)
    message = (
        f"{image} is not rolled out: the backup before it failed: {backup.message}. Traffic "
        f"stays on {rollout.active.value}. Fix the cause, then retry (tierkeeper.dev/retry="
        "true), or set strategy.blueGreen.backupBeforeSwitch: false to roll out without it"
    )
    await step.save(
        phase=Phase.FAILED,
        pre_switch_backup=backup.model_copy(update={"message": message}),
        **step.history("Failed", None),
        event=("Warning", "PreSwitchBackupFailed", message),
    )
    return None


async def deploy_preview(
    step: ReleaseStep, rollout: AppRollout, image: str, **changes: Any
) -> float | None:
    """`image` on the idle colour; `changes` go in the same status write."""
    preview = rollout.active.other
    colors = {
        **rollout.colors,
        preview: ColorRollout(image=image, replicas=step.env.spec.app.replicas),
    }
    await step.save(
        rollout=rollout.model_copy(update={"colors": colors}),
        phase=Phase.DEPLOYING,
        target_image=image,
        preview_color=preview.value,
        step_started_at=step.now,
        switched_at=None,
        refused_image=None,
        # The old standby takes the new image: no colour to switch back to until it passes.
        standby_until=None,
        **changes,
        event=("Normal", "Deploying", f"deploying {image} to {preview.value}"),
    )
    return POLL_SECONDS


async def await_available(step: ReleaseStep, rollout: AppRollout) -> float | None:
    color = Color(step.status.preview_color or rollout.active.value)
    wanted = rollout.colors[color]
    if available(step.deployment(color), wanted.image, wanted.replicas):
        if color is rollout.active:
            await step.save(
                phase=Phase.PROMOTED,
                active_color=color.value,
                active_image=wanted.image,
                preview_color=color.other.value,
                **step.history("Promoted", color),
                event=("Normal", "Promoted", f"{wanted.image} is live on {color.value}"),
            )
            return None
        await step.save(
            phase=Phase.VERIFYING,
            step_started_at=step.now,
            event=("Normal", "Available", f"{color.value} is available; health gate starts"),
        )
        return 0.0
    if step.deadline_passed():
        return await fail(
            step,
            rollout,
            color,
            "ProgressDeadlineExceeded",
            f"{color.value} not available within the progress deadline",
        )
    return POLL_SECONDS


async def fail(
    step: ReleaseStep,
    rollout: AppRollout,
    color: Color,
    reason: str,
    message: str,
    *,
    outcome: str = "Failed",
) -> float | None:
    """Traffic stays where it is; the new colour goes back to zero pods (a first deploy
    keeps its pods: there is nothing else to serve)."""
    colors = dict(rollout.colors)
    if color is not rollout.active:
        colors[color] = colors[color].model_copy(update={"replicas": 0})
    await step.save(
        rollout=rollout.model_copy(update={"colors": colors}),
        phase=Phase.FAILED,
        **step.history(outcome, color),
        healthy=observe("Healthy", False, reason, message) if "Health" in reason else None,
        event=("Warning", reason, message),
    )
    return None


async def gate(step: ReleaseStep, rollout: AppRollout) -> float | None:
    """The health gate on the preview Service, until the progress deadline."""
    color = Color(step.status.preview_color or rollout.active.other.value)
    started = step.status.step_started_at or step.now
    limit = step.env.spec.strategy.blue_green.progress_deadline_seconds
    verdict = check_health(
        step.health_checks,
        step.record.key,
        step.config,
        step.env,
        step.env.names.preview_service,
        since=started,
        deadline=started + timedelta(seconds=limit),
        now=step.now,
        until_healthy=True,
    )
    if not isinstance(verdict, Verdict):
        return verdict
    metrics.GATE_SECONDS.labels("passed" if verdict.healthy else "failed").observe(verdict.seconds)
    if not verdict.healthy:
        return await fail(step, rollout, color, "HealthGateFailed", verdict.message)
    passed = observe("Healthy", True, "HealthGatePassed", verdict.message)
    if step.spec.promotion is Promotion.MANUAL and not step.spec.promote:
        await step.save(
            phase=Phase.AWAITING_PROMOTION,
            healthy=passed,
            event=(
                "Normal",
                "AwaitingPromotion",
                f"{color.value} passed its gate; set spec.promote: true to switch",
            ),
        )
        return None
    return await switch(step, rollout, healthy=passed)


async def switch(
    step: ReleaseStep, rollout: AppRollout, healthy: Observation | None = None
) -> float | None:
    """Traffic to the preview colour; `healthy` is the gate's verdict when it has just
    passed, saved in the same status write (one write less before the Service's)."""
    old = rollout.active
    new = Color(step.status.preview_color or rollout.active.other.value)
    if not await step.color_ready_now(new, rollout.colors[new]):
        return POLL_SECONDS
    decided = time.monotonic()
    settle = step.env.spec.strategy.blue_green.post_promotion_seconds == 0
    settled = step.history("Promoted", new) if settle else {}
    await step.save(
        rollout=rollout.model_copy(update={"active": new}),
        phase=Phase.PROMOTED if settle else Phase.VERIFYING,
        switched_at=step.now,
        active_color=new.value,
        preview_color=old.value,
        previous_image=rollout.colors[old].image,
        active_image=rollout.colors[new].image,
        standby_until=step.now + rollback_window(step),
        **settled,
        healthy=healthy,
        event=("Normal", "Switched", f"traffic switched from {old.value} to {new.value}"),
    )
    metrics.switched("Promotion", decided)
    return 0.0


async def post_promotion(step: ReleaseStep, rollout: AppRollout) -> float | None:
    """Live traffic watched for postPromotionSeconds; a failure switches back."""
    seconds = step.env.spec.strategy.blue_green.post_promotion_seconds
    switched = step.status.switched_at or step.now
    end = switched + timedelta(seconds=seconds)
    verdict = (
        check_health(
            step.health_checks,
            step.record.key,
            step.config,
            step.env,
            step.env.names.app_service,
            since=switched,
            deadline=end,
            now=step.now,
            until_healthy=False,
        )
        if step.now < end
        else Verdict(True, f"healthy for {seconds}s after the switch")
    )
    if not isinstance(verdict, Verdict):
        return verdict
    if verdict.healthy:
        await step.save(
            phase=Phase.PROMOTED,
            healthy=observe("Healthy", True, "PostPromotionPassed", verdict.message),
            **step.history("Promoted", rollout.active),
            event=("Normal", "Promoted", verdict.message),
        )
        return await settle_standby(step, rollout)
    failed, back = rollout.active, rollout.active.other
    decided = time.monotonic()
    colors = {
        **rollout.colors,
        failed: rollout.colors[failed].model_copy(update={"replicas": 0}),
    }
    await step.save(
        rollout=rollout.model_copy(update={"active": back, "colors": colors}),
        phase=Phase.ROLLED_BACK,
        refused_image=step.status.target_image,
        active_color=back.value,
        preview_color=failed.value,
        active_image=rollout.colors[back].image,
        standby_until=None,
        healthy=observe("Healthy", False, "PostPromotionFailed", verdict.message),
        **step.history("RolledBack", failed),
        event=(
            "Warning",
            "PostPromotionFailed",
            f"{verdict.message}; traffic switched back to {back.value}",
        ),
    )
    metrics.switched("PostPromotionFailed", decided)
    metrics.ROLLBACKS.labels("PostPromotionFailed").inc()
    return None


async def settle_standby(step: ReleaseStep, rollout: AppRollout) -> float | None:
    """Past the rollback window, the standby colour goes to zero pods."""
    standby = rollout.active.other
    kept = rollout.colors.get(standby)
    until = step.status.standby_until
    if kept is None or kept.replicas == 0 or until is None:
        return None
    if step.now < until:
        return (until - step.now).total_seconds()
    colors = {**rollout.colors, standby: kept.model_copy(update={"replicas": 0})}
    await step.save(
        rollout=rollout.model_copy(update={"colors": colors}),
        event=(
            "Normal",
            "StandbyScaledDown",
            f"rollback window over: {standby.value} scaled to 0",
        ),
    )
    return None
