"""Release conditions and history, computed from the phase the controller is in."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tierkeeper.models import Condition, Phase, ReleaseStatus
from tierkeeper.models.status import BackupOutcome, HistoryEntry
from tierkeeper.status.conditions import Observation, find, merge_conditions, observe

HISTORY_LIMIT = 10

_PROGRESSING = {
    Phase.PENDING,
    Phase.BACKING_UP,
    Phase.DEPLOYING,
    Phase.VERIFYING,
    Phase.AWAITING_PROMOTION,
}


def _ready(
    status: ReleaseStatus, image: str, refusal: Observation | None, serving: bool, reshaping: bool
) -> Observation:
    if refusal is not None:
        return observe("Ready", False, refusal.reason, refusal.message)
    if reshaping and image not in (status.target_image, status.refused_image):
        return observe(
            "Ready",
            False,
            "WaitingForStrategyChange",
            f"{image} waits for the Environment's change of strategy: it rolls out once "
            "traffic is on the new shape and the old shape is removed "
            "(strategy.scaleDownDelaySeconds after the switch)",
        )
    phase = status.phase or Phase.PENDING
    if phase is Phase.PROMOTED and status.target_image == image:
        if not serving:
            return observe(
                "Ready",
                False,
                "NotServing",
                f"{image} is promoted, but no pod behind the active Service is Ready: "
                "see the Environment's AppReady condition",
            )
        return observe("Ready", True, "Promoted", f"{image} is serving traffic")
    backup = status.pre_switch_backup
    if backup is not None and backup.image == status.target_image:
        if phase is Phase.FAILED and backup.outcome is BackupOutcome.FAILED:
            return observe("Ready", False, "PreSwitchBackupFailed", backup.message)
        if phase is Phase.BACKING_UP:
            return observe(
                "Ready",
                False,
                phase.value,
                f"backing up the database ({backup.kind} {backup.name}) before deploying {image}",
            )
    if phase is Phase.FAILED:
        return observe("Ready", False, "RolloutFailed", f"{status.target_image} failed")
    if phase is Phase.ROLLED_BACK:
        return observe("Ready", False, "RolledBack", f"rolled back from {status.refused_image}")
    return observe("Ready", False, phase.value, f"rolling out {image}")


def release_conditions(
    previous: Sequence[Condition],
    status: ReleaseStatus,
    image: str,
    *,
    refusal: Observation | None,
    healthy: Observation | None,
    now: datetime,
    generation: int,
    serving: bool = True,
    reshaping: bool = False,
) -> list[Condition]:
    """`serving`: a pod behind the active Service is Ready (a promoted Release whose app
    is down is not Ready); `reshaping`: the Environment's strategy changes under the app,
    and a new image waits for it."""
    phase = status.phase or Phase.PENDING
    progressing = observe(
        "Progressing",
        refusal is None and phase in _PROGRESSING,
        phase.value if refusal is None else refusal.reason,
        f"phase {phase.value}",
    )
    old_healthy = find(previous, "Healthy")
    health = healthy or (
        Observation("Healthy", old_healthy.status, old_healthy.reason, old_healthy.message)
        if old_healthy
        else Observation("Healthy", "Unknown", "NotChecked", "no health check has run yet")
    )
    return merge_conditions(
        previous,
        [_ready(status, image, refusal, serving, reshaping), progressing, health],
        now=now,
        generation=generation,
    )


def with_history(
    history: Sequence[HistoryEntry],
    *,
    image: str,
    color: str | None,
    outcome: str,
    started: datetime | None,
    finished: datetime,
) -> list[HistoryEntry]:
    entry = HistoryEntry(
        image=image,
        color=color,
        outcome=outcome,
        started_at=started or finished,
        finished_at=finished,
    )
    return [*history, entry][-HISTORY_LIMIT:]
