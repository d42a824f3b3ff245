"""The blue-green machine, transition by transition (the table in `blue_green.py`), against
the in-memory API: what the cluster holds after each step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.unit.release_rig import ENV_UID, NAMESPACE, FakeGate, ReleaseRig
from tierkeeper.apply.errors import ApiError
from tierkeeper.models import Phase
from tierkeeper.models.rollout import Color
from tierkeeper.reconcile.ledger import WriteLedger
from tierkeeper.reconcile.release import blue_green

BLUE, GREEN = Color.BLUE, Color.GREEN
WINDOW_SECONDS = 2 * 3600
DEADLINE_SECONDS = 600


def blue_green_spec(
    post_promotion_seconds: int = 60, *, backup_before_switch: bool = False
) -> dict[str, Any]:
    """Production's blue-green; without the pre-switch backup unless asked for (its tests
    are at the end of this file)."""
    return {
        "tier": "production",
        "app": {"replicas": 2},
        "strategy": {
            "type": "BlueGreen",
            "blueGreen": {
                "rollbackWindow": "2h",
                "postPromotionSeconds": post_promotion_seconds,
                "progressDeadlineSeconds": DEADLINE_SECONDS,
                "backupBeforeSwitch": backup_before_switch,
            },
        },
    }


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> FakeGate:
    fake = FakeGate()
    monkeypatch.setattr(blue_green, "check_health", fake)
    return fake


@pytest.fixture
def rig(gate: FakeGate) -> ReleaseRig:
    return ReleaseRig(blue_green_spec(), "shop:1")


def ready(rig: ReleaseRig, color: Color) -> None:
    rig.make_ready(rig.env.names.color_deployment(color.value))


def live_on_blue(rig: ReleaseRig) -> None:
    """The first Release, promoted: shop:1 on blue."""
    rig.step()
    ready(rig, BLUE)
    rig.step()
    assert rig.status.phase is Phase.PROMOTED


def switched_to_green(rig: ReleaseRig, image: str = "shop:2") -> None:
    """`image` deployed on green, through its gate, traffic switched; the post-promotion
    watch not run yet."""
    rig.change_spec(image=image)
    rig.step()
    ready(rig, GREEN)
    rig.step()
    rig.step()
    assert rig.serving() == "green" and rig.status.phase is Phase.VERIFYING


def promoted_on_green(rig: ReleaseRig, image: str = "shop:2") -> None:
    """shop:1 then `image`, promoted; blue kept as the standby."""
    live_on_blue(rig)
    switched_to_green(rig, image)
    rig.step()
    assert rig.status.phase is Phase.PROMOTED


def test_a_first_release_deploys_blue_with_green_idle_and_is_promoted_once_blue_is_ready(
    rig: ReleaseRig,
) -> None:
    rig.step()
    assert rig.status.phase is Phase.DEPLOYING
    assert rig.color(BLUE) == ("shop:1", 2)
    assert rig.color(GREEN) == ("shop:1", 0)
    assert rig.serving() == "blue"
    assert rig.step() is not None, "a step waiting on pods looks again"
    assert rig.status.phase is Phase.DEPLOYING
    ready(rig, BLUE)
    rig.step()
    status = rig.status
    assert status.phase is Phase.PROMOTED
    assert (status.active_color, status.active_image) == ("blue", "shop:1")
    assert [(h.image, h.color, h.outcome) for h in status.history] == [
        ("shop:1", "blue", "Promoted")
    ]
    assert rig.condition("Ready") == ("True", "Promoted")
    assert rig.events() == ["Deploying", "Promoted"]


def test_the_status_is_written_before_the_children_it_calls_for(rig: ReleaseRig) -> None:
    live_on_blue(rig)
    rig.api.calls.clear()
    rig.change_spec(image="shop:2")
    rig.step()
    writes = [(c.verb, c.kind) for c in rig.api.calls if c.verb in ("write_status", "apply")]
    assert writes[0] == ("write_status", "Release")
    assert ("apply", "Deployment") in writes[1:]
    assert [c.verb for c in rig.api.calls][-1] == "create", "the Event comes last"


def test_a_new_image_deploys_on_the_idle_colour_while_traffic_stays(rig: ReleaseRig) -> None:
    live_on_blue(rig)
    rig.change_spec(image="shop:2")
    rig.step()
    assert rig.status.phase is Phase.DEPLOYING
    assert rig.status.preview_color == "green"
    assert rig.color(GREEN) == ("shop:2", 2)
    assert rig.color(BLUE) == ("shop:1", 2)
    assert rig.serving() == "blue"
    assert rig.serving(rig.env.names.preview_service) == "green"


def test_an_available_colour_goes_to_its_health_gate_on_the_preview_service(
    rig: ReleaseRig, gate: FakeGate
) -> None:
    live_on_blue(rig)
    rig.change_spec(image="shop:2")
    rig.step()
    ready(rig, GREEN)
    assert rig.step() == 0.0, "the gate is due at once"
    assert rig.status.phase is Phase.VERIFYING
    assert rig.status.switched_at is None and rig.serving() == "blue"
    assert gate.asked == []
    rig.step()
    assert gate.asked == [rig.env.names.preview_service]


def test_a_passed_gate_switches_traffic_and_the_post_promotion_watch_promotes(
    rig: ReleaseRig, gate: FakeGate
) -> None:
    live_on_blue(rig)
    switched_to_green(rig)
    status = rig.status
    assert status.switched_at == rig.clock.now
    assert (status.active_color, status.preview_color) == ("green", "blue")
    assert (status.active_image, status.previous_image) == ("shop:2", "shop:1")
    assert rig.condition("Healthy") == ("True", "HealthGatePassed")
    assert rig.events()[-1] == "Switched"
    rig.step()
    assert gate.asked[-1] == rig.env.names.app_service
    assert rig.status.phase is Phase.PROMOTED
    assert rig.condition("Healthy") == ("True", "PostPromotionPassed")
    assert rig.condition("Ready") == ("True", "Promoted")
    assert rig.serving() == "green"
    assert rig.color(BLUE) == ("shop:1", 2), "blue stays as the standby"
    assert rig.status.standby_until == rig.clock.now + timedelta(seconds=WINDOW_SECONDS)
    assert rig.status.history[-1].outcome == "Promoted"


def test_without_a_post_promotion_watch_the_switch_promotes(gate: FakeGate) -> None:
    rig = ReleaseRig(blue_green_spec(post_promotion_seconds=0), "shop:1")
    live_on_blue(rig)
    rig.change_spec(image="shop:2")
    rig.step()
    ready(rig, GREEN)
    rig.step()
    rig.step()
    assert rig.serving() == "green"
    assert rig.status.phase is Phase.PROMOTED
    assert gate.asked == [rig.env.names.preview_service]


def test_a_post_promotion_watch_past_its_time_promotes_without_a_check(
    rig: ReleaseRig, gate: FakeGate
) -> None:
    live_on_blue(rig)
    switched_to_green(rig)
    rig.clock.advance(61)  # the operator was down for the whole watch
    asked = len(gate.asked)
    rig.step()
    assert rig.status.phase is Phase.PROMOTED
    assert len(gate.asked) == asked


def test_manual_promotion_waits_after_the_gate_and_switches_on_promote(gate: FakeGate) -> None:
    rig = ReleaseRig(blue_green_spec(), "shop:1", promotion="Manual")
    live_on_blue(rig)
    rig.change_spec(image="shop:2")
    rig.step()
    ready(rig, GREEN)
    rig.step()
    assert rig.step() is None, "nothing to do until spec.promote"
    assert rig.status.phase is Phase.AWAITING_PROMOTION
    assert rig.condition("Healthy") == ("True", "HealthGatePassed")
    assert rig.events()[-1] == "AwaitingPromotion"
    assert rig.step() is None
    assert rig.status.phase is Phase.AWAITING_PROMOTION and rig.serving() == "blue"
    rig.change_spec(promote=True)
    rig.step()
    assert rig.serving() == "green"
    assert rig.status.phase is Phase.VERIFYING and rig.status.switched_at is not None


def test_a_failed_gate_fails_the_release_and_scales_the_preview_to_zero(
    rig: ReleaseRig, gate: FakeGate
) -> None:
    live_on_blue(rig)
    rig.change_spec(image="shop:2")
    rig.step()
    ready(rig, GREEN)
    rig.step()
    gate.unhealthy[rig.env.names.preview_service] = "HTTP 500 from the preview"
    rig.step()
    assert rig.status.phase is Phase.FAILED
    assert rig.serving() == "blue"
    assert rig.color(GREEN) == ("shop:2", 0)
    assert rig.color(BLUE) == ("shop:1", 2)
    assert rig.condition("Healthy") == ("False", "HealthGateFailed")
    assert rig.condition("Ready") == ("False", "RolloutFailed")
    assert rig.events()[-1] == "HealthGateFailed"
    assert rig.status.history[-1].outcome == "Failed"
    assert rig.step() is None, "a failed image is not tried again"
    assert rig.color(GREEN) == ("shop:2", 0)


def test_a_colour_not_available_within_the_progress_deadline_fails(rig: ReleaseRig) -> None:
    live_on_blue(rig)
    rig.change_spec(image="shop:2")
    rig.step()
    rig.clock.advance(DEADLINE_SECONDS)
    rig.step()
    assert rig.status.phase is Phase.DEPLOYING, "not past the deadline yet"
    rig.clock.advance(1)
    rig.step()
    assert rig.status.phase is Phase.FAILED
    assert rig.events()[-1] == "ProgressDeadlineExceeded"
    assert rig.color(GREEN) == ("shop:2", 0)
    assert rig.serving() == "blue"


def test_a_first_release_past_its_deadline_fails_and_keeps_its_pods(rig: ReleaseRig) -> None:
    rig.step()
    rig.clock.advance(DEADLINE_SECONDS + 1)
    rig.step()
    assert rig.status.phase is Phase.FAILED
    assert rig.color(BLUE) == ("shop:1", 2), "there is nothing else to serve"


def test_a_failed_post_promotion_watch_switches_traffic_back(
    rig: ReleaseRig, gate: FakeGate
) -> None:
    live_on_blue(rig)
    switched_to_green(rig)
    gate.unhealthy[rig.env.names.app_service] = "HTTP 502 from the app"
    rig.step()
    status = rig.status
    assert status.phase is Phase.ROLLED_BACK
    assert rig.serving() == "blue"
    assert rig.color(GREEN) == ("shop:2", 0)
    assert rig.color(BLUE) == ("shop:1", 2)
    assert (status.active_color, status.active_image) == ("blue", "shop:1")
    assert status.refused_image == "shop:2" and status.standby_until is None
    assert rig.condition("Healthy") == ("False", "PostPromotionFailed")
    assert rig.condition("Ready") == ("False", "RolledBack")
    assert rig.events()[-1] == "PostPromotionFailed"
    assert status.history[-1].outcome == "RolledBack"
    rig.step()
    assert rig.color(GREEN) == ("shop:2", 0), "the refused image is not rolled out again"


def test_the_switch_waits_for_the_colour_to_be_ready_per_the_api_server(
    rig: ReleaseRig,
) -> None:
    live_on_blue(rig)
    rig.change_spec(image="shop:2")
    rig.step()
    green = rig.env.names.color_deployment("green")
    ready(rig, GREEN)
    cached = rig.live()[("Deployment", green)]
    rig.api.objects[("Deployment", "team", green)]["status"]["readyReplicas"] = 1
    rig.cached[("Deployment", green)] = cached  # the watch cache still says 2 of 2
    rig.step()
    assert rig.step() is not None, "the switch looks again"
    assert rig.status.phase is Phase.VERIFYING and rig.status.switched_at is None
    assert rig.serving() == "blue"
    rig.cached.clear()
    ready(rig, GREEN)
    rig.step()
    assert rig.serving() == "green"


def test_a_revert_inside_the_window_switches_back_at_once_with_no_new_pod(
    rig: ReleaseRig,
) -> None:
    promoted_on_green(rig)
    blue = rig.env.names.color_deployment("blue")
    generation = rig.generation(blue)
    rig.clock.advance(WINDOW_SECONDS - 60)
    rig.change_spec(image="shop:1")
    rig.step()
    status = rig.status
    assert status.phase is Phase.PROMOTED
    assert rig.serving() == "blue"
    assert rig.generation(blue) == generation, "blue's pods were not touched"
    assert rig.color(GREEN) == ("shop:2", 2), "green is the standby now"
    assert (status.active_image, status.previous_image) == ("shop:1", "shop:2")
    assert rig.condition("Ready") == ("True", "Promoted")
    assert rig.events()[-1] == "SwitchedToStandby"
    assert (status.history[-1].image, status.history[-1].outcome) == ("shop:1", "Promoted")


def test_the_standby_is_scaled_to_zero_when_the_window_ends(rig: ReleaseRig) -> None:
    promoted_on_green(rig)
    left = rig.step()
    assert left == pytest.approx(WINDOW_SECONDS), "the next look is at the window's end"
    assert rig.color(BLUE) == ("shop:1", 2)
    rig.clock.advance(WINDOW_SECONDS)
    rig.step()
    assert rig.color(BLUE) == ("shop:1", 0)
    assert rig.serving() == "green" and rig.status.phase is Phase.PROMOTED
    assert rig.events()[-1] == "StandbyScaledDown"


def test_a_revert_after_the_window_is_a_new_rollout(rig: ReleaseRig) -> None:
    promoted_on_green(rig)
    rig.clock.advance(WINDOW_SECONDS)
    rig.step()
    rig.change_spec(image="shop:1")
    rig.step()
    assert rig.status.phase is Phase.DEPLOYING
    assert rig.color(BLUE) == ("shop:1", 2)
    assert rig.serving() == "green"


def test_a_revert_once_the_window_is_over_goes_through_the_gate_even_before_the_scale_down(
    rig: ReleaseRig,
) -> None:
    promoted_on_green(rig)
    rig.clock.advance(WINDOW_SECONDS)  # no step ran at the window's end
    rig.change_spec(image="shop:1")
    rig.step()
    assert rig.status.phase is Phase.DEPLOYING
    assert rig.serving() == "green"


def test_a_rollback_annotation_switches_to_the_ready_standby(rig: ReleaseRig) -> None:
    promoted_on_green(rig)
    rig.annotate_rollback()
    rig.step()
    status = rig.status
    assert status.phase is Phase.ROLLED_BACK
    assert rig.serving() == "blue"
    assert status.refused_image == "shop:2"
    assert rig.condition("Ready") == ("False", "RolledBack")
    assert status.history[-1].outcome == "RolledBack"
    assert rig.record().rollback_requested is False, "the annotation acts once"
    rig.step()
    assert rig.serving() == "blue", "the refused image is not switched to again"


def test_a_rolled_back_standby_is_scaled_to_zero_when_the_window_ends(rig: ReleaseRig) -> None:
    promoted_on_green(rig)
    rig.annotate_rollback()
    rig.step()
    rig.clock.advance(WINDOW_SECONDS)
    rig.step()
    assert rig.color(GREEN) == ("shop:2", 0)
    assert rig.serving() == "blue"


def test_a_rollback_annotation_without_a_standby_only_says_so(rig: ReleaseRig) -> None:
    promoted_on_green(rig)
    rig.clock.advance(WINDOW_SECONDS)
    rig.step()
    rig.annotate_rollback()
    rig.step()
    assert rig.events()[-1] == "RollbackUnavailable"
    assert rig.serving() == "green" and rig.status.phase is Phase.PROMOTED
    assert rig.record().rollback_requested is False


def test_a_write_cut_off_after_the_status_is_caught_up_by_the_next_step(
    rig: ReleaseRig,
) -> None:
    live_on_blue(rig)
    rig.change_spec(image="shop:2")
    rig.api.outage("apply")
    with pytest.raises(ApiError):
        rig.step()
    assert rig.status.target_image == "shop:2", "the status was written"
    assert rig.color(GREEN) == ("shop:1", 0), "the children were not"
    rig.api.recover()
    rig.step()
    assert rig.color(GREEN) == ("shop:2", 2)
    assert rig.serving() == "blue" and rig.status.phase is Phase.DEPLOYING


def reverted_while_deploying(rig: ReleaseRig) -> None:
    """shop:1 live on blue, shop:2 deploying on green, then the spec back to shop:1."""
    live_on_blue(rig)
    rig.change_spec(image="shop:2")
    rig.step()
    rig.change_spec(image="shop:1")
    rig.step()


def test_a_new_image_the_active_colour_already_runs_is_promoted_at_once(rig: ReleaseRig) -> None:
    reverted_while_deploying(rig)
    assert rig.status.phase is Phase.PROMOTED
    assert rig.status.target_image == "shop:1"
    assert rig.condition("Ready") == ("True", "Promoted")
    assert rig.serving() == "blue"


def test_a_preview_left_by_a_revert_to_the_live_image_goes_back_to_zero(rig: ReleaseRig) -> None:
    reverted_while_deploying(rig)
    rig.clock.advance(WINDOW_SECONDS)
    rig.step()
    assert rig.color(GREEN) == ("shop:2", 0)


def deploying_shop_3_on_the_old_standby(rig: ReleaseRig) -> None:
    """shop:2 promoted on green, then shop:3 deployed on blue (the standby until then),
    its pods Ready, its gate not run."""
    promoted_on_green(rig)
    rig.change_spec(image="shop:3")
    rig.step()
    assert rig.color(BLUE) == ("shop:3", 2)
    ready(rig, BLUE)


def test_a_rollback_annotation_never_switches_to_an_ungated_preview(rig: ReleaseRig) -> None:
    deploying_shop_3_on_the_old_standby(rig)
    rig.annotate_rollback()
    rig.step()
    assert rig.serving() == "green"


def test_an_abort_before_the_switch_scales_the_preview_down_and_keeps_traffic(
    rig: ReleaseRig,
) -> None:
    live_on_blue(rig)
    rig.change_spec(image="shop:2")
    rig.step()
    assert rig.color(GREEN) == ("shop:2", 2)
    rig.annotate_abort()
    rig.step()
    assert rig.serving() == "blue"
    assert rig.color(GREEN) == ("shop:2", 0)
    assert rig.status.phase is Phase.FAILED and rig.status.history[-1].outcome == "Aborted"
    assert rig.events()[-1] == "Aborted"
    assert "tierkeeper.dev/abort" not in rig.release["metadata"]["annotations"]
    rig.step()
    assert rig.color(GREEN) == ("shop:2", 0), "an aborted image is not tried again"


def test_an_abort_after_the_switch_changes_nothing_and_says_to_roll_back(
    rig: ReleaseRig,
) -> None:
    live_on_blue(rig)
    switched_to_green(rig)
    rig.annotate_abort()
    rig.step()
    assert rig.serving() == "green" and rig.color(BLUE) == ("shop:1", 2)
    assert "AbortUnavailable" in rig.events()


def test_a_retry_rolls_an_aborted_image_out_again(rig: ReleaseRig) -> None:
    live_on_blue(rig)
    rig.change_spec(image="shop:2")
    rig.step()
    rig.annotate_abort()
    rig.step()
    assert rig.color(GREEN) == ("shop:2", 0)
    rig.annotate_retry()
    rig.step()
    rig.step()
    assert rig.status.phase is Phase.DEPLOYING and rig.color(GREEN) == ("shop:2", 2)
    assert "tierkeeper.dev/retry" not in rig.release["metadata"]["annotations"]


def test_a_retry_with_nothing_failed_only_says_so(rig: ReleaseRig) -> None:
    live_on_blue(rig)
    rig.annotate_retry()
    rig.step()
    assert rig.status.phase is Phase.PROMOTED and rig.events()[-1] == "RetryUnavailable"


# The backup before a switch (strategy.blueGreen.backupBeforeSwitch, on in production).


def backed_up_spec(**postgres: Any) -> dict[str, Any]:
    """Production's blue-green with its default pre-switch backup, on builtin PostgreSQL."""
    spec = blue_green_spec()
    del spec["strategy"]["blueGreen"]["backupBeforeSwitch"]
    return {**spec, "postgres": {"provider": "builtin", "instances": 1, **postgres}}


def backup_job(rig: ReleaseRig) -> dict[str, Any]:
    """The Job the status names as this rollout's pre-switch backup."""
    record = rig.status.pre_switch_backup
    assert record is not None, "no pre-switch backup in the Release status"
    body = rig.api.stored(record.kind, NAMESPACE, record.name)
    assert body is not None, f"no {record.kind} {record.name}"
    return body


def finish_job(rig: ReleaseRig, condition: str, reason: str = "", message: str = "") -> None:
    """The Job controller's verdict on the backup Job: Complete or Failed."""
    backup_job(rig)["status"] = {
        "conditions": [{"type": condition, "status": "True", "reason": reason, "message": message}]
    }


def jobs(rig: ReleaseRig) -> list[str]:
    return [name for kind, name in rig.children() if kind == "Job"]


def promoted_on_green_after_a_backup(rig: ReleaseRig) -> None:
    """shop:2 after its backup, promoted on green; blue (shop:1) kept as the standby."""
    rig.change_spec(image="shop:2")
    rig.step()
    finish_job(rig, "Complete")
    rig.step()
    ready(rig, GREEN)
    rig.step()
    rig.step()
    rig.step()
    assert rig.status.phase is Phase.PROMOTED and rig.serving() == "green"
    assert rig.color(BLUE) == ("shop:1", 2)


@pytest.fixture
def backed_up(gate: FakeGate) -> ReleaseRig:
    """shop:1 live on blue, production backing up before each new image."""
    rig = ReleaseRig(backed_up_spec(), "shop:1")
    live_on_blue(rig)
    assert jobs(rig) == [], "a first rollout has nothing to back up before"
    return rig


def test_a_new_image_waits_for_its_backup_job_before_any_pod_starts(
    backed_up: ReleaseRig,
) -> None:
    rig = backed_up
    rig.change_spec(image="shop:2")
    assert rig.step() is not None, "a step waiting on its backup looks again"
    rig.step()
    status = rig.status
    assert status.phase is Phase.BACKING_UP and status.target_image == "shop:2"
    assert status.pre_switch_backup is not None
    assert (status.pre_switch_backup.image, status.pre_switch_backup.outcome) == (
        "shop:2",
        "Running",
    )
    job = backup_job(rig)
    assert jobs(rig) == [job["metadata"]["name"]]
    assert job["metadata"]["ownerReferences"][0]["kind"] == "Environment"
    assert job["metadata"]["ownerReferences"][0]["uid"] == ENV_UID
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    assert rig.color(GREEN) == ("shop:1", 0), "the idle colour did not get the new image"
    assert rig.serving() == "blue"
    assert rig.condition("Ready") == ("False", "BackingUp")
    assert rig.condition("Progressing") == ("True", "BackingUp")
    assert rig.events()[-1] == "PreSwitchBackupStarted"


def test_a_completed_backup_lets_the_rollout_deploy_and_switch(backed_up: ReleaseRig) -> None:
    rig = backed_up
    rig.change_spec(image="shop:2")
    rig.step()
    finish_job(rig, "Complete")
    rig.step()
    status = rig.status
    assert status.phase is Phase.DEPLOYING and rig.color(GREEN) == ("shop:2", 2)
    assert status.pre_switch_backup is not None
    assert status.pre_switch_backup.outcome == "Succeeded"
    assert status.pre_switch_backup.finished_at == rig.clock.now
    assert "PreSwitchBackupSucceeded" in rig.events()
    ready(rig, GREEN)
    rig.step()
    rig.step()
    assert rig.serving() == "green"


def test_a_failed_backup_holds_the_rollout_with_its_reason_and_traffic_stays(
    backed_up: ReleaseRig,
) -> None:
    rig = backed_up
    rig.change_spec(image="shop:2")
    rig.step()
    finish_job(rig, "Failed", "BackoffLimitExceeded", "Job has reached the backoff limit")
    assert rig.step() is None
    status = rig.status
    assert status.phase is Phase.FAILED
    assert rig.condition("Ready") == ("False", "PreSwitchBackupFailed")
    message = next(c for c in status.conditions if c.type == "Ready").message
    assert "BackoffLimitExceeded" in message and "tierkeeper.dev/retry" in message
    assert rig.events()[-1] == "PreSwitchBackupFailed"
    assert rig.serving() == "blue" and rig.color(BLUE) == ("shop:1", 2)
    assert rig.color(GREEN) == ("shop:1", 0), "no pod of the new image started"
    assert [(h.image, h.outcome) for h in status.history][-1] == ("shop:2", "Failed")
    rig.step()
    assert rig.status.phase is Phase.FAILED, "held until retried or a new image"
    assert rig.color(GREEN) == ("shop:1", 0)


def test_a_retry_after_a_failed_backup_takes_a_new_one(backed_up: ReleaseRig) -> None:
    rig = backed_up
    rig.change_spec(image="shop:2")
    rig.step()
    first = backup_job(rig)["metadata"]["name"]
    finish_job(rig, "Failed", "BackoffLimitExceeded")
    rig.step()
    rig.annotate_retry()
    rig.step()
    rig.step()
    assert rig.status.phase is Phase.BACKING_UP
    assert rig.status.pre_switch_backup is not None
    assert rig.status.pre_switch_backup.attempt == 2
    assert backup_job(rig)["metadata"]["name"] != first, "a failed Job is not waited on again"


def test_opting_out_deploys_at_once_without_a_backup(gate: FakeGate) -> None:
    spec = backed_up_spec()
    spec["strategy"]["blueGreen"]["backupBeforeSwitch"] = False
    rig = ReleaseRig(spec, "shop:1")
    live_on_blue(rig)
    rig.change_spec(image="shop:2")
    rig.step()
    assert rig.status.phase is Phase.DEPLOYING and rig.color(GREEN) == ("shop:2", 2)
    assert jobs(rig) == [] and rig.status.pre_switch_backup is None


def test_without_database_backups_there_is_nothing_to_wait_for(gate: FakeGate) -> None:
    rig = ReleaseRig(backed_up_spec(backup={"enabled": False}), "shop:1")
    live_on_blue(rig)
    rig.change_spec(image="shop:2")
    rig.step()
    assert rig.status.phase is Phase.DEPLOYING and jobs(rig) == []


@pytest.mark.parametrize("way", ["revert", "rollback annotation"])
def test_a_switch_back_to_the_standby_is_instant_without_a_backup(
    backed_up: ReleaseRig, way: str
) -> None:
    rig = backed_up
    promoted_on_green_after_a_backup(rig)
    taken = jobs(rig)
    if way == "revert":
        rig.change_spec(image="shop:1")
    else:
        rig.annotate_rollback()
    rig.step()
    assert rig.serving() == "blue", "traffic back to the standby in the same step"
    assert rig.status.phase is (Phase.PROMOTED if way == "revert" else Phase.ROLLED_BACK)
    assert jobs(rig) == taken, "no backup before a switch back"


def test_an_operator_killed_before_creating_the_job_creates_that_job_on_restart(
    backed_up: ReleaseRig,
) -> None:
    rig = backed_up
    rig.change_spec(image="shop:2")
    # The status is written, then the API server goes: neither the Event nor the Job.
    rig.api.outage("create")
    with pytest.raises(ApiError):
        rig.step()
    rig.api.recover()
    assert rig.status.phase is Phase.BACKING_UP and jobs(rig) == []
    named = rig.status.pre_switch_backup
    rig.ledger = WriteLedger()  # a new process
    rig.step()
    assert jobs(rig) == [named.name if named else None]
    rig.step()
    assert jobs(rig) == [named.name if named else None], "one Job, looked at again"
    assert rig.status.pre_switch_backup == named


def test_an_operator_restarted_mid_backup_waits_on_the_same_job(backed_up: ReleaseRig) -> None:
    rig = backed_up
    rig.change_spec(image="shop:2")
    rig.step()
    name = backup_job(rig)["metadata"]["name"]
    rig.ledger = WriteLedger()  # a new process: only the status and the cluster remain
    rig.step()
    assert jobs(rig) == [name]
    finish_job(rig, "Complete")
    rig.step()
    assert rig.status.phase is Phase.DEPLOYING and jobs(rig) == [name]


def test_cloudnative_pg_takes_a_backup_object_and_waits_for_it_to_complete(
    gate: FakeGate,
) -> None:
    spec = {**blue_green_spec(), "postgres": {"instances": 2}}
    del spec["strategy"]["blueGreen"]["backupBeforeSwitch"]
    rig = ReleaseRig(spec, "shop:1")
    live_on_blue(rig)
    rig.change_spec(image="shop:2")
    rig.step()
    backup = backup_job(rig)
    assert (backup["kind"], backup["spec"]["cluster"]["name"]) == ("Backup", rig.env.names.postgres)
    rig.step()
    assert rig.status.phase is Phase.BACKING_UP
    backup["status"] = {"phase": "failed", "error": "no space left on device"}
    rig.step()
    assert rig.condition("Ready") == ("False", "PreSwitchBackupFailed")
    assert rig.color(GREEN) == ("shop:1", 0) and rig.serving() == "blue"


def test_cloudnative_pg_not_installed_fails_the_backup_with_what_to_do(gate: FakeGate) -> None:
    spec = {**blue_green_spec(), "postgres": {"instances": 2}}
    del spec["strategy"]["blueGreen"]["backupBeforeSwitch"]
    rig = ReleaseRig(spec, "shop:1")
    live_on_blue(rig)
    rig.api.unserved.add("Backup")
    rig.change_spec(image="shop:2")
    rig.step()
    rig.step()
    assert rig.status.phase is Phase.FAILED
    assert rig.condition("Ready") == ("False", "PreSwitchBackupFailed")
    message = next(c for c in rig.status.conditions if c.type == "Ready").message
    assert "install CloudNativePG" in message
    assert rig.serving() == "blue" and rig.color(GREEN) == ("shop:1", 0)


def test_an_abort_during_the_backup_fails_the_rollout_and_keeps_the_standby(
    backed_up: ReleaseRig,
) -> None:
    rig = backed_up
    promoted_on_green_after_a_backup(rig)
    rig.change_spec(image="shop:3")
    rig.step()
    assert rig.status.phase is Phase.BACKING_UP
    rig.annotate_abort()
    rig.step()
    assert rig.status.phase is Phase.FAILED and rig.events()[-1] == "Aborted"
    assert rig.color(BLUE) == ("shop:1", 2), "the standby is kept for a rollback"
    assert rig.serving() == "green" and rig.color(GREEN) == ("shop:2", 2)
    finish_job(rig, "Complete")
    rig.step()
    assert rig.status.phase is Phase.FAILED, "an aborted rollout does not resume"


def test_a_newer_image_during_the_backup_waits_for_a_backup_of_its_own(
    backed_up: ReleaseRig,
) -> None:
    rig = backed_up
    rig.change_spec(image="shop:2")
    rig.step()
    first = backup_job(rig)["metadata"]["name"]
    rig.change_spec(image="shop:3")
    rig.step()
    record = rig.status.pre_switch_backup
    assert record is not None and (record.image, record.attempt) == ("shop:3", 1)
    assert rig.status.phase is Phase.BACKING_UP and record.name != first
    finish_job(rig, "Complete")
    rig.step()
    assert rig.color(GREEN) == ("shop:3", 2)
