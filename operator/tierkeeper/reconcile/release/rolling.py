"""The rolling machine: one Deployment, updated in place by Kubernetes.

| status                       | waits for                      | then                              |
|------------------------------|--------------------------------|-----------------------------------|
| no rollout, or a new image   | -                              | Deploying: the Deployment updated |
| rollback annotation          | -                              | RolledBack: the previous image    |
| Deploying                    | every pod updated and Ready    | Promoted                          |
| Deploying                    | restarts over maxRetries, or   | Failed: the previous image        |
|                              | the progress deadline          | applied again                     |
"""

from __future__ import annotations

from tierkeeper.models import Phase
from tierkeeper.models.rollout import AppRollout
from tierkeeper.reconcile.release.rollback import emergency_rollback
from tierkeeper.reconcile.release.step import POLL_SECONDS, ReleaseStep, available
from tierkeeper.render.common import COMPONENT, INSTANCE, Component


async def advance(step: ReleaseStep) -> float | None:
    """The step the status calls for; seconds until the next (None: when something changes)."""
    status, image = step.status, step.spec.image
    if step.record.rollback_requested:
        return await emergency_rollback(step)
    rollout = status.rollout
    if rollout is None or image not in (status.target_image, status.refused_image):
        current = rollout.image if rollout else None
        await step.save(
            rollout=AppRollout(image=image),
            phase=Phase.DEPLOYING,
            target_image=image,
            previous_image=current if current != image else status.previous_image,
            step_started_at=step.now,
            refused_image=None,
            event=("Normal", "Deploying", f"rolling update to {image}"),
        )
        return POLL_SECONDS
    if status.phase is not Phase.DEPLOYING:
        return None
    if available(step.deployment(None), image, None):
        await step.save(
            phase=Phase.PROMOTED,
            active_image=image,
            **step.history("Promoted", None),
            event=("Normal", "Promoted", f"{image} is rolled out"),
        )
        return None
    restarts = await count_restarts(step, image)
    budget = step.env.spec.app.restart_policy.max_retries
    if restarts > budget:
        return await fail(
            step,
            rollout,
            "RestartBudgetExceeded",
            f"{restarts} container restarts, more than restartPolicy.maxRetries {budget}",
        )
    if step.deadline_passed():
        return await fail(
            step,
            rollout,
            "ProgressDeadlineExceeded",
            f"{image} not available within the progress deadline",
        )
    return POLL_SECONDS


async def count_restarts(step: ReleaseStep, image: str) -> int:
    """Container restarts of the app's pods that run `image`."""
    selector = f"{INSTANCE}={step.env.names.instance_label},{COMPONENT}={Component.APP.value}"
    pods = await step.kube.list("v1", "Pod", step.env.namespace, selector)
    return sum(
        container.get("restartCount", 0)
        for pod in pods
        for container in (pod.get("status") or {}).get("containerStatuses") or []
        if container.get("image") == image
    )


async def fail(
    step: ReleaseStep,
    rollout: AppRollout,
    reason: str,
    message: str,
    *,
    outcome: str = "Failed",
) -> float | None:
    """The previous image goes back into the Deployment, if there was one."""
    previous = step.status.previous_image
    restored = f"; {previous} re-applied" if previous else ""
    await step.save(
        rollout=rollout.model_copy(update={"image": previous or rollout.image}),
        phase=Phase.FAILED,
        active_image=previous,
        **step.history(outcome, None),
        event=("Warning", reason, message + restored),
    )
    return None
