"""A strategy change under a live app (the table in `reshape.py`), against the in-memory API:
the Service moves only once the new shape is available, and the old shape goes after it,
scaleDownDelaySeconds later (at once with a delay of 0)."""

from __future__ import annotations

from typing import Any

from tests.unit.release_rig import NAMESPACE, ReleaseRig
from tierkeeper.models import Phase
from tierkeeper.models.rollout import Color
from tierkeeper.reconcile.ledger import WriteLedger

# Without the backup before a switch, which test_blue_green.py covers.
PRODUCTION: dict[str, Any] = {
    "tier": "production",
    "strategy": {"blueGreen": {"backupBeforeSwitch": False}},
}
DEVELOPMENT: dict[str, Any] = {"tier": "development"}
DELAY = 30


def without_delay(spec: dict[str, Any]) -> dict[str, Any]:
    """The old shape goes with the switch, in the same write."""
    return {**spec, "strategy": {**spec.get("strategy", {}), "scaleDownDelaySeconds": 0}}


def with_delay(spec: dict[str, Any]) -> dict[str, Any]:
    return {**spec, "strategy": {**spec.get("strategy", {}), "scaleDownDelaySeconds": DELAY}}


def selector_color(rig: ReleaseRig) -> str | None:
    body = rig.api.stored("Service", NAMESPACE, rig.env.names.app_service)
    assert body is not None
    color: str | None = body["spec"]["selector"].get("tierkeeper.dev/color")
    return color


def promoted_on_blue(rig: ReleaseRig) -> None:
    rig.step()
    rig.make_ready(rig.env.names.color_deployment("blue"))
    rig.step()
    assert rig.status.phase is Phase.PROMOTED and rig.serving() == "blue"


def rolled_out(rig: ReleaseRig) -> None:
    rig.step()
    rig.make_ready(rig.env.names.rolling_deployment)
    rig.step()
    assert rig.status.phase is Phase.PROMOTED and selector_color(rig) is None


def test_blue_green_to_rolling_moves_traffic_only_once_the_deployment_is_available() -> None:
    rig = ReleaseRig(without_delay(PRODUCTION), "shop:1")
    promoted_on_blue(rig)
    rig.env_spec = without_delay(DEVELOPMENT)
    rig.step()
    names = rig.env.names
    assert rig.deployment(names.rolling_deployment) == ("shop:1", 1)
    assert selector_color(rig) == "blue", "traffic stays on blue until the Deployment is up"
    assert rig.color(Color.GREEN) == ("shop:1", 0), "the standby goes to zero first"
    rig.step()
    assert selector_color(rig) == "blue"
    rig.make_ready(names.rolling_deployment)
    rig.step()
    assert selector_color(rig) is None
    assert rig.color(Color.BLUE) is None and rig.color(Color.GREEN) is None
    assert rig.status.phase is Phase.PROMOTED and rig.status.active_color is None
    assert "Reshaped" in rig.events()
    assert (rig.status.rollout or None) is not None and not rig.status.rollout.colors


def test_without_a_delay_the_service_moves_before_the_old_shape_is_deleted_in_one_step() -> None:
    rig = ReleaseRig(without_delay(PRODUCTION), "shop:1")
    promoted_on_blue(rig)
    rig.env_spec = without_delay(DEVELOPMENT)
    rig.step()
    rig.make_ready(rig.env.names.rolling_deployment)
    rig.api.calls.clear()
    rig.step()
    writes = [(c.verb, c.name) for c in rig.api.calls if c.verb in ("apply", "delete")]
    service = writes.index(("apply", rig.env.names.app_service))
    blue = writes.index(("delete", rig.env.names.color_deployment("blue")))
    assert service < blue


def test_rolling_to_blue_green_brings_blue_up_before_the_service_selects_it() -> None:
    rig = ReleaseRig(without_delay(DEVELOPMENT), "shop:1")
    rolled_out(rig)
    rig.env_spec = without_delay(PRODUCTION)
    rig.step()
    names = rig.env.names
    assert rig.color(Color.BLUE) == ("shop:1", 2) and rig.color(Color.GREEN) == ("shop:1", 0)
    assert selector_color(rig) is None, "traffic stays on the Rolling Deployment"
    rig.make_ready(names.color_deployment("blue"))
    rig.step()
    assert rig.serving() == "blue"
    assert rig.deployment(names.rolling_deployment) is None
    assert rig.status.active_color == "blue" and rig.status.preview_color == "green"


def test_a_new_image_waits_for_the_reshape_then_rolls_out_in_the_new_shape() -> None:
    rig = ReleaseRig(without_delay(DEVELOPMENT), "shop:1")
    rolled_out(rig)
    rig.env_spec = without_delay(PRODUCTION)
    rig.change_spec(image="shop:2")
    rig.step()
    assert rig.color(Color.BLUE) == ("shop:1", 2), "the serving image, not the new one"
    rig.make_ready(rig.env.names.color_deployment("blue"))
    rig.step()
    assert rig.serving() == "blue"
    rig.step()
    assert rig.status.phase is Phase.DEPLOYING and rig.color(Color.GREEN) == ("shop:2", 2)


def test_a_promoted_release_whose_app_has_no_ready_pod_is_not_ready() -> None:
    rig = ReleaseRig(PRODUCTION, "shop:1")
    promoted_on_blue(rig)
    blue = rig.api.stored("Deployment", NAMESPACE, rig.env.names.color_deployment("blue"))
    assert blue is not None
    blue["status"]["readyReplicas"] = 0
    rig.step()
    assert rig.condition("Ready") == ("False", "NotServing")
    rig.make_ready(rig.env.names.color_deployment("blue"))
    rig.step()
    assert rig.condition("Ready") == ("True", "Promoted")


def switched(rig: ReleaseRig, spec: dict[str, Any], deployment: str) -> float | None:
    """The change to `spec` up to the switch, `deployment` being the new shape's that
    serves; returns the switch step's wait."""
    rig.env_spec = spec
    rig.step()
    rig.make_ready(deployment)
    return rig.step()


def switched_to_rolling(rig: ReleaseRig) -> float | None:
    promoted_on_blue(rig)
    return switched(rig, with_delay(DEVELOPMENT), rig.env.names.rolling_deployment)


def test_blue_green_to_rolling_keeps_the_colours_after_the_switch_until_the_delay_passed() -> None:
    rig = ReleaseRig(with_delay(PRODUCTION), "shop:1")
    wait = switched_to_rolling(rig)
    names = rig.env.names
    assert selector_color(rig) is None, "the Service selects every app pod: Rolling serves"
    assert rig.color(Color.BLUE) == ("shop:1", 2), "blue still runs while the Service moves"
    assert rig.color(Color.GREEN) == ("shop:1", 0)
    assert rig.deployment(names.rolling_deployment) == ("shop:1", 1)
    assert rig.status.phase is Phase.PROMOTED and rig.status.active_color is None
    assert rig.condition("Ready") == ("True", "Promoted")
    assert rig.status.switched_at == rig.clock.now
    assert wait == DELAY, "the next step is due when the delay ends"
    assert rig.events()[-1] == "Switched" and "Reshaped" not in rig.events()
    rig.clock.advance(DELAY - 1)
    assert rig.step() == 1
    assert rig.color(Color.BLUE) == ("shop:1", 2) and selector_color(rig) is None
    rig.clock.advance(1)
    rig.step()
    assert rig.color(Color.BLUE) is None and rig.color(Color.GREEN) is None
    assert rig.deployment(names.rolling_deployment) == ("shop:1", 1)
    assert selector_color(rig) is None and rig.status.phase is Phase.PROMOTED
    assert rig.status.rollout is not None and rig.status.rollout.shape is None
    assert rig.events()[-1] == "Reshaped"


def test_rolling_to_blue_green_keeps_the_rolling_deployment_until_the_delay_passed() -> None:
    rig = ReleaseRig(with_delay(DEVELOPMENT), "shop:1")
    rolled_out(rig)
    names = rig.env.names
    assert switched(rig, with_delay(PRODUCTION), names.color_deployment("blue")) == DELAY
    assert rig.serving() == "blue"
    # Rendered for the Environment it now is (two replicas), as while blue came up.
    assert rig.deployment(names.rolling_deployment) == ("shop:1", 2)
    assert (rig.status.active_color, rig.status.preview_color) == ("blue", "green")
    assert rig.condition("Ready") == ("True", "Promoted")
    rig.clock.advance(DELAY / 2)
    rig.step()
    assert rig.deployment(names.rolling_deployment) == ("shop:1", 2)
    rig.clock.advance(DELAY / 2)
    rig.step()
    assert rig.deployment(names.rolling_deployment) is None
    assert rig.serving() == "blue" and rig.color(Color.BLUE) == ("shop:1", 2)


def test_an_operator_restarted_in_the_drain_resumes_it_from_status() -> None:
    rig = ReleaseRig(with_delay(PRODUCTION), "shop:1")
    switched_to_rolling(rig)
    # A new process: nothing in memory, only what the API server holds.
    rig.ledger = WriteLedger()
    rig.clock.advance(10)
    assert rig.step() == DELAY - 10
    assert rig.color(Color.BLUE) == ("shop:1", 2) and selector_color(rig) is None
    rig.ledger = WriteLedger()
    rig.clock.advance(DELAY)
    rig.step()
    assert rig.color(Color.BLUE) is None and rig.color(Color.GREEN) is None
    assert selector_color(rig) is None and rig.status.phase is Phase.PROMOTED


def test_a_new_image_waits_for_the_drain_and_says_so_then_rolls_out() -> None:
    rig = ReleaseRig(with_delay(PRODUCTION), "shop:1")
    switched_to_rolling(rig)
    rig.change_spec(image="shop:2")
    rig.step()
    names = rig.env.names
    assert rig.deployment(names.rolling_deployment) == ("shop:1", 1), "not rolled out yet"
    assert rig.color(Color.BLUE) == ("shop:1", 2)
    assert rig.condition("Ready") == ("False", "WaitingForStrategyChange")
    rig.clock.advance(DELAY)
    rig.step()
    assert rig.color(Color.BLUE) is None
    removed = rig.api.events[-1]
    assert removed["reason"] == "Reshaped" and "shop:2 rolls out next" in removed["message"]
    rig.step()
    assert rig.status.phase is Phase.DEPLOYING
    assert rig.deployment(names.rolling_deployment) == ("shop:2", 1)


def test_the_strategy_changed_back_in_the_drain_moves_the_service_back_to_the_kept_colour() -> None:
    rig = ReleaseRig(with_delay(PRODUCTION), "shop:1")
    switched_to_rolling(rig)
    # Blue's pods, rendered for the development tier since the reshape began, are Ready.
    rig.make_ready(rig.env.names.color_deployment("blue"))
    rig.env_spec = with_delay(PRODUCTION)
    rig.clock.advance(5)
    assert rig.step() == DELAY, "blue is kept and Ready: the switch back starts no pod"
    assert rig.serving() == "blue"
    assert rig.status.switched_at == rig.clock.now
    assert rig.deployment(rig.env.names.rolling_deployment) == ("shop:1", 2), "it drains"
    rig.clock.advance(DELAY)
    rig.step()
    assert rig.deployment(rig.env.names.rolling_deployment) is None
    assert rig.serving() == "blue" and rig.status.phase is Phase.PROMOTED
