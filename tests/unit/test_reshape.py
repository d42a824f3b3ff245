"""A strategy change under a live app (the table in `reshape.py`), against the in-memory API:
the Service moves only once the new shape is available, and the old shape goes after it."""

from __future__ import annotations

from typing import Any

from tests.unit.release_rig import NAMESPACE, ReleaseRig
from tierkeeper.models import Phase
from tierkeeper.models.rollout import Color

# Without the backup before a switch, which test_blue_green.py covers.
PRODUCTION: dict[str, Any] = {
    "tier": "production",
    "strategy": {"blueGreen": {"backupBeforeSwitch": False}},
}
DEVELOPMENT: dict[str, Any] = {"tier": "development"}


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
    rig = ReleaseRig(PRODUCTION, "shop:1")
    promoted_on_blue(rig)
    rig.env_spec = DEVELOPMENT
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


def test_the_service_moves_before_the_old_shape_is_deleted() -> None:
    rig = ReleaseRig(PRODUCTION, "shop:1")
    promoted_on_blue(rig)
    rig.env_spec = DEVELOPMENT
    rig.step()
    rig.make_ready(rig.env.names.rolling_deployment)
    rig.api.calls.clear()
    rig.step()
    writes = [(c.verb, c.name) for c in rig.api.calls if c.verb in ("apply", "delete")]
    service = writes.index(("apply", rig.env.names.app_service))
    blue = writes.index(("delete", rig.env.names.color_deployment("blue")))
    assert service < blue


def test_rolling_to_blue_green_brings_blue_up_before_the_service_selects_it() -> None:
    rig = ReleaseRig(DEVELOPMENT, "shop:1")
    rolled_out(rig)
    rig.env_spec = PRODUCTION
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
    rig = ReleaseRig(DEVELOPMENT, "shop:1")
    rolled_out(rig)
    rig.env_spec = PRODUCTION
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
