"""A strategy change under a live app: the new shape comes up with the image that serves
now, traffic moves once it is available, and the old shape goes a delay later.

| what serves             | Environment wants | step                                                       |
|-------------------------|-------------------|------------------------------------------------------------|
| the active colour       | Rolling           | 1. the Rolling Deployment with the serving image; the      |
|                         |                   |    standby colour to zero (a no-colour selector would      |
|                         |                   |    reach its pods)                                         |
|                         |                   | 2. once it is available (per the API server): the Service  |
|                         |                   |    selects every app pod (Switched); the colours stay      |
| every app pod (Rolling) | BlueGreen         | 1. blue with the serving image, green idle                 |
|                         |                   | 2. once blue is available: the Service selects blue        |
|                         |                   |    (Switched); the Rolling Deployment stays                |
| the new shape           | either            | 3. scaleDownDelaySeconds after the switch: the old shape   |
|                         |                   |    goes (Reshaped)                                         |

Between 2 and 3 the old shape drains: EndpointSlices, kube-proxy and ingress controllers
follow a selector change with a lag, and the requests they still send to the old pods
must find them running (Argo Rollouts' scaleDownDelaySeconds). The Release is Promoted from
the switch on. With a delay of 0, steps 2 and 3 are one write.

Every step saves the rollout with `shape` naming what the Service selects, and the switch
saves `switchedAt`, so an operator killed at any point resumes from status. The children of
one write are applied before the unwanted are deleted (apply.children.converge), so the
Service has moved before old pods go. A new image waits for the whole change, drain
included (the Release's Ready says so); then the Release rolls it out as usual.
"""

from __future__ import annotations

from datetime import timedelta

from tierkeeper.models import Phase, StrategyType
from tierkeeper.models.rollout import AppRollout, Color, ColorRollout
from tierkeeper.reconcile.release.step import POLL_SECONDS, ReleaseStep

_KEPT_PHASES = (Phase.FAILED, Phase.ROLLED_BACK)


async def advance(step: ReleaseStep, rollout: AppRollout) -> float | None:
    serving = rollout.active_image(step.env)
    if serving is None:
        # Nothing serves (a first rollout never became available): start over in the new
        # shape, as a first rollout.
        await step.save(rollout=None, target_image=None, phase=Phase.PENDING)
        return 0.0
    if step.env.blue_green:
        return await _to_blue_green(step, rollout, serving)
    return await _to_rolling(step, rollout, serving)


async def _to_rolling(step: ReleaseStep, rollout: AppRollout, serving: str) -> float | None:
    env = step.env
    settled = AppRollout(image=serving)
    if not rollout.serves_colors(env):
        return await _drain(step, settled)
    standby = rollout.active.other
    colors = {rollout.active: rollout.colors[rollout.active]}
    if standby in rollout.colors:
        colors[standby] = rollout.colors[standby].model_copy(update={"replicas": 0})
    if rollout.image != serving or colors != rollout.colors:
        await step.save(
            rollout=rollout.model_copy(
                update={"image": serving, "colors": colors, "shape": StrategyType.BLUE_GREEN}
            ),
            step_started_at=step.now,
            switched_at=None,
            event=(
                "Normal",
                "Reshaping",
                f"strategy Rolling: starting {env.names.rolling_deployment} with {serving}; "
                f"traffic stays on {rollout.active.value}",
            ),
        )
        return POLL_SECONDS
    name = env.names.rolling_deployment
    if not await step.ready_now(name, serving, env.spec.app.replicas):
        return POLL_SECONDS
    draining = rollout.model_copy(update={"shape": StrategyType.ROLLING})
    return await _switch(step, draining, settled, serving, "the Rolling Deployment")


async def _to_blue_green(step: ReleaseStep, rollout: AppRollout, serving: str) -> float | None:
    env = step.env
    settled = rollout.model_copy(update={"image": None, "shape": None})
    if rollout.serves_colors(env):
        return await _drain(step, settled)
    active = rollout.colors.get(rollout.active)
    if active is None or active.image != serving:
        colors = {
            Color.BLUE: ColorRollout(image=serving, replicas=env.spec.app.replicas),
            Color.GREEN: ColorRollout(image=serving, replicas=0),
        }
        await step.save(
            rollout=rollout.model_copy(
                update={"colors": colors, "active": Color.BLUE, "shape": StrategyType.ROLLING}
            ),
            step_started_at=step.now,
            switched_at=None,
            event=(
                "Normal",
                "Reshaping",
                f"strategy BlueGreen: starting blue with {serving}; traffic stays on "
                f"{env.names.rolling_deployment}",
            ),
        )
        return POLL_SECONDS
    if not await step.color_ready_now(rollout.active, active):
        return POLL_SECONDS
    draining = rollout.model_copy(update={"shape": StrategyType.BLUE_GREEN})
    return await _switch(step, draining, settled, serving, rollout.active.value)


async def _switch(
    step: ReleaseStep, draining: AppRollout, settled: AppRollout, serving: str, where: str
) -> float | None:
    """Traffic on the new shape: what serves counts as promoted (a failed or rolled-back
    image stays refused), and the old shape stays for the delay (`draining`), or goes in
    the same write without one (`settled`)."""
    status = step.status
    keep = status.phase in _KEPT_PHASES
    target = status.target_image if keep else serving
    blue_green = step.env.blue_green
    delay = step.env.spec.strategy.scale_down_delay_seconds
    reason, message = "Reshaped", f"traffic moved to {where}; {_removed(step, target)}"
    if delay > 0:
        image = _new_image(step, target)
        then = f"; {image} rolls out once it is removed" if image else ""
        reason = "Switched"
        message = f"traffic moved to {where}; the old shape stays {delay}s{then}"
    await step.save(
        rollout=draining if delay > 0 else settled,
        phase=status.phase if keep else Phase.PROMOTED,
        target_image=target,
        active_image=serving,
        active_color=draining.active.value if blue_green else None,
        preview_color=draining.active.other.value if blue_green else None,
        standby_until=None,
        switched_at=step.now,
        event=("Normal", reason, message),
    )
    return float(delay)


async def _drain(step: ReleaseStep, settled: AppRollout) -> float | None:
    """The old shape goes once the delay since the switch has passed (at once if the
    Service never selected it: no switch is recorded, or it is long past)."""
    switched = step.status.switched_at
    delay = timedelta(seconds=step.env.spec.strategy.scale_down_delay_seconds)
    if switched is not None and step.now < switched + delay:
        return (switched + delay - step.now).total_seconds()
    await step.save(
        rollout=settled,
        event=("Normal", "Reshaped", _removed(step, step.status.target_image)),
    )
    return 0.0


def _new_image(step: ReleaseStep, target: str | None) -> str | None:
    """The spec's image, if the reshape keeps it waiting (not `target`, not refused)."""
    image = step.spec.image
    return None if image in (target, step.status.refused_image) else image


def _removed(step: ReleaseStep, target: str | None) -> str:
    image = _new_image(step, target)
    return "the old shape is removed" + (f"; {image} rolls out next" if image else "")
