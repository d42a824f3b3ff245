"""A Release's conditions follow its phase; its history keeps the last ten rollouts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tierkeeper.models import Phase, ReleaseStatus
from tierkeeper.status.conditions import find, observe
from tierkeeper.status.release import HISTORY_LIMIT, release_conditions, with_history

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def conditions_for(phase: Phase, target: str = "shop:2") -> dict[str, tuple[str, str]]:
    status = ReleaseStatus(phase=phase, target_image=target)
    found = release_conditions(
        [], status, "shop:2", refusal=None, healthy=None, now=NOW, generation=1
    )
    return {c.type: (c.status, c.reason) for c in found}


def test_conditions_follow_the_phase() -> None:
    assert conditions_for(Phase.PROMOTED)["Ready"] == ("True", "Promoted")
    assert conditions_for(Phase.PROMOTED)["Progressing"][0] == "False"
    assert conditions_for(Phase.DEPLOYING)["Progressing"] == ("True", "Deploying")
    assert conditions_for(Phase.FAILED)["Ready"] == ("False", "RolloutFailed")
    assert conditions_for(Phase.ROLLED_BACK)["Ready"] == ("False", "RolledBack")
    assert conditions_for(Phase.DEPLOYING)["Healthy"] == ("Unknown", "NotChecked")


def test_healthy_is_kept_until_a_new_check() -> None:
    status = ReleaseStatus(phase=Phase.VERIFYING, target_image="shop:2")
    first = release_conditions(
        [],
        status,
        "shop:2",
        refusal=None,
        healthy=observe("Healthy", False, "HealthGateFailed", "503"),
        now=NOW,
        generation=1,
    )
    later = release_conditions(
        first, status, "shop:2", refusal=None, healthy=None, now=NOW + timedelta(1), generation=1
    )
    healthy = find(later, "Healthy")
    assert healthy is not None and (healthy.reason, healthy.last_transition_time) == (
        "HealthGateFailed",
        NOW,
    )


def test_history_keeps_the_last_ten() -> None:
    history: list = []
    for n in range(12):
        history = with_history(
            history, image=f"shop:{n}", color="blue", outcome="Promoted", started=None, finished=NOW
        )
    assert len(history) == HISTORY_LIMIT
    assert history[0].image == "shop:2" and history[-1].image == "shop:11"
