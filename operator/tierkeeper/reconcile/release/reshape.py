"""A strategy change under a live app: the new shape comes up with the image that serves
now, traffic moves once it is available, and only then does the old shape go.

| what serves               | Environment wants | step                                                     |
|---------------------------|-------------------|----------------------------------------------------------|
| the active colour         | Rolling           | 1. the Rolling Deployment with the serving image; the    |
|                           |                   |    standby colour to zero (a no-colour selector would    |
|                           |                   |    reach its pods)                                        |
|                           |                   | 2. once it is available (per the API server): the Service |
|                           |                   |    selects every app pod, then the colours go            |
| every app pod (Rolling)   | BlueGreen         | 1. blue with the serving image, green idle               |
|                           |                   | 2. once blue is available: the Service selects blue, then |
|                           |                   |    the Rolling Deployment goes                           |

Both steps save the rollout with `shape` naming what the Service selects, so an operator
killed between them resumes from status. The children of one write are applied before the
unwanted are deleted (apply.children.converge), so the Service has moved before the old
pods go. A new image waits for the reshape; then the Release rolls it out as usual.
"""

from __future__ import annotations

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
    if rollout.serves_colors(env):
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
    await _reshaped(step, AppRollout(image=serving), serving, "the Rolling Deployment")
    return 0.0


async def _to_blue_green(step: ReleaseStep, rollout: AppRollout, serving: str) -> float | None:
    env = step.env
    if not rollout.serves_colors(env):
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
    settled = rollout.model_copy(update={"image": None, "shape": None})
    await _reshaped(step, settled, serving, rollout.active.value)
    return 0.0


async def _reshaped(step: ReleaseStep, rollout: AppRollout, serving: str, where: str) -> None:
    """Traffic on the new shape: what serves counts as promoted (a failed or rolled-back
    image stays refused), and the Release's own machine goes on from there."""
    status = step.status
    keep = status.phase in _KEPT_PHASES
    blue_green = step.env.blue_green
    await step.save(
        rollout=rollout,
        phase=status.phase if keep else Phase.PROMOTED,
        target_image=status.target_image if keep else serving,
        active_image=serving,
        active_color=rollout.active.value if blue_green else None,
        preview_color=rollout.active.other.value if blue_green else None,
        standby_until=None,
        switched_at=None,
        event=("Normal", "Reshaped", f"traffic moved to {where}; the old shape is removed"),
    )
