"""The rolling machine, transition by transition (the table in `rolling.py`), against the
in-memory API: what the cluster holds after each step."""

from __future__ import annotations

import pytest

from tests.unit.release_rig import ReleaseRig
from tierkeeper.models import Phase

STAGING = {"tier": "staging", "app": {"replicas": 2, "restartPolicy": {"maxRetries": 5}}}
DEADLINE_SECONDS = 600  # strategy.blueGreen.progressDeadlineSeconds' default, both strategies


@pytest.fixture
def rig() -> ReleaseRig:
    return ReleaseRig(STAGING, "shop:1")


def app(rig: ReleaseRig) -> tuple[str, int] | None:
    return rig.deployment(rig.env.names.rolling_deployment)


def rolled_out(rig: ReleaseRig) -> None:
    rig.step()
    rig.make_ready(rig.env.names.rolling_deployment)
    rig.step()
    assert rig.status.phase is Phase.PROMOTED


def deploying_shop_2(rig: ReleaseRig) -> None:
    """shop:1 rolled out, shop:2 rolling."""
    rolled_out(rig)
    rig.change_spec(image="shop:2")
    rig.step()
    assert rig.status.phase is Phase.DEPLOYING


def test_a_release_updates_the_deployment_and_is_promoted_once_every_pod_is_ready(
    rig: ReleaseRig,
) -> None:
    rig.step()
    assert rig.status.phase is Phase.DEPLOYING
    assert app(rig) == ("shop:1", 2)
    assert [kind for kind, _ in rig.children()].count("Deployment") == 1, "no colours"
    assert rig.step() is not None, "a step waiting on pods looks again"
    rig.make_ready(rig.env.names.rolling_deployment)
    assert rig.step() is None
    status = rig.status
    assert status.phase is Phase.PROMOTED and status.active_image == "shop:1"
    assert [(h.image, h.outcome) for h in status.history] == [("shop:1", "Promoted")]
    assert rig.condition("Ready") == ("True", "Promoted")
    assert rig.events() == ["Deploying", "Promoted"]


def test_a_new_image_is_rolled_out_over_the_previous_one(rig: ReleaseRig) -> None:
    deploying_shop_2(rig)
    assert app(rig) == ("shop:2", 2)
    assert rig.status.previous_image == "shop:1"
    rig.step()
    assert rig.status.phase is Phase.DEPLOYING, "the old pods are still the ready ones"
    rig.make_ready(rig.env.names.rolling_deployment)
    rig.step()
    assert rig.status.phase is Phase.PROMOTED and rig.status.active_image == "shop:2"


def test_restarts_over_the_budget_fail_the_release_and_reapply_the_previous_image(
    rig: ReleaseRig,
) -> None:
    deploying_shop_2(rig)
    rig.add_pod("shop-app-a", "shop:2", restarts=3)
    rig.add_pod("shop-app-b", "shop:2", restarts=2)
    rig.add_pod("shop-app-old", "shop:1", restarts=40)  # the old image's restarts are not counted
    rig.step()
    assert rig.status.phase is Phase.DEPLOYING, "5 restarts is within maxRetries 5"
    rig.add_pod("shop-app-c", "shop:2", restarts=1)
    rig.step()
    status = rig.status
    assert status.phase is Phase.FAILED
    assert app(rig) == ("shop:1", 2)
    assert status.active_image == "shop:1"
    assert rig.condition("Ready") == ("False", "RolloutFailed")
    assert rig.events()[-1] == "RestartBudgetExceeded"
    assert "shop:1 re-applied" in rig.api.events[-1]["message"]
    assert status.history[-1].outcome == "Failed"
    rig.step()
    assert app(rig) == ("shop:1", 2), "the failed image is not tried again"


def test_a_release_not_rolled_out_within_the_progress_deadline_fails(rig: ReleaseRig) -> None:
    deploying_shop_2(rig)
    rig.clock.advance(DEADLINE_SECONDS)
    rig.step()
    assert rig.status.phase is Phase.DEPLOYING, "not past the deadline yet"
    rig.clock.advance(1)
    rig.step()
    assert rig.status.phase is Phase.FAILED
    assert app(rig) == ("shop:1", 2)
    assert rig.events()[-1] == "ProgressDeadlineExceeded"


def test_a_failed_first_release_has_no_previous_image_to_restore(rig: ReleaseRig) -> None:
    rig.step()
    rig.clock.advance(DEADLINE_SECONDS + 1)
    rig.step()
    assert rig.status.phase is Phase.FAILED
    assert app(rig) == ("shop:1", 2)


def test_a_rollback_annotation_rolls_the_previous_image_out_again(rig: ReleaseRig) -> None:
    rolled_out(rig)
    rig.change_spec(image="shop:2")
    rig.step()
    rig.make_ready(rig.env.names.rolling_deployment)
    rig.step()
    rig.annotate_rollback()
    rig.step()
    status = rig.status
    assert status.phase is Phase.ROLLED_BACK
    assert app(rig) == ("shop:1", 2)
    assert (status.active_image, status.refused_image) == ("shop:1", "shop:2")
    assert rig.condition("Ready") == ("False", "RolledBack")
    assert rig.events()[-1] == "RolledBack"
    assert rig.record().rollback_requested is False, "the annotation acts once"
    rig.step()
    assert app(rig) == ("shop:1", 2), "the refused image is not rolled out again"


def test_a_rollback_annotation_without_a_previous_image_only_says_so(rig: ReleaseRig) -> None:
    rolled_out(rig)
    rig.annotate_rollback()
    rig.step()
    assert rig.events()[-1] == "RollbackUnavailable"
    assert rig.status.phase is Phase.PROMOTED and app(rig) == ("shop:1", 2)
    assert rig.record().rollback_requested is False


def test_an_abort_while_rolling_applies_the_previous_image_again(rig: ReleaseRig) -> None:
    deploying_shop_2(rig)
    rig.annotate_abort()
    rig.step()
    assert app(rig) == ("shop:1", 2)
    assert rig.status.phase is Phase.FAILED and rig.status.history[-1].outcome == "Aborted"
    assert "tierkeeper.dev/abort" not in rig.release["metadata"]["annotations"]
