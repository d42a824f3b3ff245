"""Abort and retry: a rollout in progress stops, traffic stays where it is, and the new
pods go; a retry rolls a failed, aborted or rolled-back image out again.

Asked for with the `tierkeeper.dev/abort=true` annotation (Argo Rollouts' abort), which
acts once. Blue-green: before the switch only, the preview colour goes to zero pods and
the Release is Failed (Aborted); during the pre-switch backup no colour is touched, the
idle one being the standby still. After the switch, rolling back is the way. Rolling: while
Deploying, the previous image is applied again. Either way the aborted image, like a failed
one, is not tried again until the spec names another.
"""

from __future__ import annotations

from tierkeeper.apply.events import post_event
from tierkeeper.models import Phase
from tierkeeper.models.release import ABORT_ANNOTATION, RETRY_ANNOTATION
from tierkeeper.models.rollout import Color
from tierkeeper.reconcile.release import blue_green, rolling
from tierkeeper.reconcile.release.step import ReleaseStep


async def advance(step: ReleaseStep) -> float | None:
    await step.drop_annotation(ABORT_ANNOTATION)
    if step.env.blue_green:
        return await _abort_blue_green(step)
    status, rollout = step.status, step.status.rollout
    if rollout is None or status.phase is not Phase.DEPLOYING:
        await _nothing_to_abort(step)
        return None
    message = f"rollout of {status.target_image} aborted"
    await rolling.fail(step, rollout, "Aborted", message, outcome="Aborted")
    return None


async def _abort_blue_green(step: ReleaseStep) -> float | None:
    status, rollout = step.status, step.status.rollout
    if rollout is not None and status.phase is Phase.BACKING_UP:
        # No colour has the new image yet (the idle one may be the standby, kept).
        message = (
            f"rollout of {status.target_image} aborted during its pre-switch backup; "
            f"traffic stays on {rollout.active.value}"
        )
        await step.save(
            phase=Phase.FAILED,
            **step.history("Aborted", None),
            event=("Warning", "Aborted", message),
        )
        return None
    before_switch = status.phase in (Phase.DEPLOYING, Phase.AWAITING_PROMOTION) or (
        status.phase is Phase.VERIFYING and status.switched_at is None
    )
    if rollout is None or not before_switch or status.preview_color is None:
        await _nothing_to_abort(step)
        return None
    color = Color(status.preview_color)
    message = f"rollout of {status.target_image} aborted; traffic stays on {rollout.active.value}"
    await blue_green.fail(step, rollout, color, "Aborted", message, outcome="Aborted")
    return None


async def retry(step: ReleaseStep) -> float | None:
    """The retry annotation: a failed, aborted or rolled-back image is rolled out again,
    from the start (the machine takes it for a new image)."""
    await step.drop_annotation(RETRY_ANNOTATION)
    if step.status.phase not in (Phase.FAILED, Phase.ROLLED_BACK):
        await post_event(
            step.kube,
            step.record.involved,
            "Warning",
            "RetryUnavailable",
            "nothing failed, aborted or rolled back to retry",
        )
        return None
    await step.save(target_image=None, refused_image=None)
    return 0.0


async def _nothing_to_abort(step: ReleaseStep) -> None:
    await post_event(
        step.kube,
        step.record.involved,
        "Warning",
        "AbortUnavailable",
        "no rollout in progress before its switch; to go back after a switch, roll back",
    )
