"""The pure parts of the Release controller: refusals, availability, conditions, history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tierkeeper.models import Phase, ReleaseSpec, ReleaseStatus
from tierkeeper.models.child import ChildSummary
from tierkeeper.reconcile.environment import EnvRecord
from tierkeeper.reconcile.release import ReleaseRecord, available, refusal_for
from tierkeeper.status.conditions import find
from tierkeeper.status.release import HISTORY_LIMIT, release_conditions, with_history

NOW = datetime(2026, 11, 24, tzinfo=UTC)
RECORD = ReleaseRecord("team", "shop", "uid", 1, "2026-11-24T00:00:00Z", {}, {}, False)
ENV = EnvRecord("team", "shop", "uid", 1, {"tier": "production", "branch": "main"}, {}, False)


def spec(**extra: object) -> ReleaseSpec:
    return ReleaseSpec.model_validate({"environment": "shop", "image": "shop:2", **extra})


def test_refusals_name_the_reason_and_the_fix() -> None:
    missing = refusal_for(RECORD, spec(), None, None)
    assert missing is not None and missing.reason == "EnvironmentNotFound"
    bound = refusal_for(RECORD, spec(), ENV, "older")
    assert (
        bound is not None and bound.reason == "EnvironmentAlreadyBound" and "older" in bound.message
    )
    branch = refusal_for(RECORD, spec(source={"branch": "feature"}), ENV, "shop")
    assert branch is not None and branch.reason == "BranchMismatch"
    assert refusal_for(RECORD, spec(source={"branch": "main"}), ENV, "shop") is None
    assert refusal_for(RECORD, spec(), ENV, "shop") is None


def env_ready(reason: str) -> EnvRecord:
    condition = {"type": "Ready", "status": "False", "reason": reason, "message": "why"}
    return EnvRecord("team", "shop", "uid", 1, ENV.spec, {"conditions": [condition]}, False)


def test_a_release_waits_while_its_environment_writes_nothing() -> None:
    taken = refusal_for(RECORD, spec(), env_ready("ChildNameTaken"), "shop")
    assert taken is not None and taken.reason == "EnvironmentRefused"
    assert "ChildNameTaken: why" in taken.message
    secret = refusal_for(RECORD, spec(), env_ready("ExternalSecretMissing"), "shop")
    assert secret is not None and secret.reason == "EnvironmentRefused"
    # Not yet ready, or partly refused: the rollout goes on (it is what makes the app ready).
    assert refusal_for(RECORD, spec(), env_ready("Creating"), "shop") is None
    assert refusal_for(RECORD, spec(), env_ready("ChildRejected"), "shop") is None


def deployment(
    image: str = "shop:2", *, desired: int = 2, ready: int = 2, current: bool = True
) -> ChildSummary:
    return ChildSummary(
        "Deployment",
        "shop-green",
        "3",
        desired=desired,
        ready=ready,
        available=ready,
        updated=ready,
        observed_current=current,
        image=image,
    )


def test_available_needs_the_image_every_replica_ready_and_a_current_observation() -> None:
    assert available(deployment(), "shop:2", 2)
    assert not available(None, "shop:2", 2)
    assert not available(deployment(image="shop:1"), "shop:2", 2)
    assert not available(deployment(ready=1), "shop:2", 2)
    assert not available(deployment(current=False), "shop:2", 2)
    assert not available(deployment(desired=0, ready=0), "shop:2", 2)
    assert available(deployment(desired=5, ready=5), "shop:2", None)


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
    from tierkeeper.status.conditions import observe

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
