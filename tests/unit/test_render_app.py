"""App Deployments and Services for both strategies, and the injected environment."""

from __future__ import annotations

import pytest

from tests.unit.helpers import container, env_of, env_vars
from tierkeeper.models.rollout import AppRollout, Color, ColorRollout
from tierkeeper.render.app import (
    render_active_service,
    render_color_deployment,
    render_preview_service,
    render_rolling_deployment,
)
from tierkeeper.render.common import COLOR, COMPONENT, INSTANCE, MANAGED_BY

ROLLOUT = AppRollout(
    active=Color.GREEN,
    colors={
        Color.BLUE: ColorRollout(image="shop:1", replicas=0),
        Color.GREEN: ColorRollout(image="shop:2", replicas=2),
    },
)


@pytest.mark.parametrize("tier", ["development", "staging"])
def test_rolling_tiers_get_one_deployment_and_no_preview(tier: str) -> None:
    env = env_of({"tier": tier})
    rollout = AppRollout.first(env, "shop:1")
    deployment = render_rolling_deployment(env, rollout)
    assert deployment is not None
    assert deployment["metadata"]["name"] == "shop-app"
    assert deployment["spec"]["replicas"] == env.spec.app.replicas
    assert container(deployment)["image"] == "shop:1"
    assert render_color_deployment(env, rollout, Color.BLUE) is None
    assert render_preview_service(env, rollout) is None
    strategy = deployment["spec"]["strategy"]["rollingUpdate"]
    assert strategy["maxUnavailable"] == 0


def test_no_release_means_no_deployment_but_services_exist() -> None:
    for tier in ("development", "production"):
        env = env_of({"tier": tier})
        assert render_rolling_deployment(env, AppRollout()) is None
        assert render_color_deployment(env, AppRollout(), Color.BLUE) is None
        assert render_active_service(env, AppRollout())["metadata"]["name"] == "shop"
    assert render_preview_service(env_of({"tier": "production"}), AppRollout()) is not None


def test_blue_green_renders_each_colour_with_its_own_image_and_replicas() -> None:
    env = env_of({"tier": "production"})
    blue = render_color_deployment(env, ROLLOUT, Color.BLUE)
    green = render_color_deployment(env, ROLLOUT, Color.GREEN)
    assert blue is not None and green is not None
    assert (blue["metadata"]["name"], blue["spec"]["replicas"]) == ("shop-blue", 0)
    assert (green["metadata"]["name"], green["spec"]["replicas"]) == ("shop-green", 2)
    assert container(green)["image"] == "shop:2"
    assert green["spec"]["selector"]["matchLabels"][COLOR] == "green"
    assert green["spec"]["template"]["metadata"]["labels"][COLOR] == "green"
    assert render_rolling_deployment(env, ROLLOUT) is None


def test_first_blue_green_release_creates_both_colours_with_blue_active() -> None:
    env = env_of({"tier": "production"})
    rollout = AppRollout.first(env, "shop:1")
    assert rollout.active is Color.BLUE
    assert rollout.colors[Color.BLUE] == ColorRollout(image="shop:1", replicas=2)
    assert rollout.colors[Color.GREEN].replicas == 0


def test_active_service_selects_the_active_colour_and_preview_the_other() -> None:
    env = env_of({"tier": "production"})
    active = render_active_service(env, ROLLOUT)
    preview = render_preview_service(env, ROLLOUT)
    assert preview is not None
    assert active["spec"]["selector"] == {INSTANCE: "shop", COMPONENT: "app", COLOR: "green"}
    assert preview["spec"]["selector"][COLOR] == "blue"
    assert preview["metadata"]["name"] == "shop-preview"


def test_rolling_active_service_selects_all_app_pods() -> None:
    env = env_of({"tier": "staging"})
    assert render_active_service(env, AppRollout())["spec"]["selector"] == {
        INSTANCE: "shop",
        COMPONENT: "app",
    }


def test_injected_environment_variables() -> None:
    env = env_of(
        {
            "tier": "production",
            "external": {"sentry": {"secretRef": {"name": "sentry", "key": "dsn"}}},
        }
    )
    deployment = render_color_deployment(env, ROLLOUT, Color.GREEN)
    assert deployment is not None
    variables = env_vars(deployment)
    assert variables["DATABASE_URL"] == {
        "secretKeyRef": {"name": "shop-postgres-credentials", "key": "uri"}
    }
    assert variables["DATABASE_POOL_MAX"] == "20"
    assert variables["DATABASE_POOL_MAX_LIFETIME_SECONDS"] == "1800"
    assert variables["DATABASE_POOL_MAX_IDLE_SECONDS"] == "600"
    # The URL holds the password: never a plain value.
    assert variables["REDIS_URL"] == {
        "secretKeyRef": {"name": "shop-redis-credentials", "key": "url"}
    }
    assert variables["CACHE_TTL_SESSION_SECONDS"] == "3600"
    assert variables["CACHE_TTL_CONFIG_SECONDS"] == "86400"
    assert variables["TIERKEEPER_TIER"] == "production"
    assert variables["TIERKEEPER_ENVIRONMENT"] == "shop"
    assert variables["SENTRY_DSN"] == {"secretKeyRef": {"name": "sentry", "key": "dsn"}}


def test_disabled_services_inject_nothing() -> None:
    env = env_of(
        {"tier": "development", "postgres": {"enabled": False}, "redis": {"enabled": False}}
    )
    deployment = render_rolling_deployment(env, AppRollout(image="shop:1"))
    assert deployment is not None
    assert set(env_vars(deployment)) == {"TIERKEEPER_TIER", "TIERKEEPER_ENVIRONMENT"}


def test_user_variable_overrides_injected_one_and_input_is_not_mutated() -> None:
    user_var = {"name": "REDIS_URL", "value": "redis://elsewhere:6379/1"}
    env = env_of({"tier": "staging", "app": {"env": [user_var]}})
    deployment = render_rolling_deployment(env, AppRollout(image="shop:1"))
    assert deployment is not None
    names = [var["name"] for var in container(deployment)["env"]]
    assert names.count("REDIS_URL") == 1
    assert env_vars(deployment)["REDIS_URL"] == "redis://elsewhere:6379/1"
    container(deployment)["env"][-1]["value"] = "changed"
    assert env.spec.app.env == [user_var]


def test_probes_follow_the_health_check_and_are_absent_without_one() -> None:
    staging = render_rolling_deployment(env_of({"tier": "staging"}), AppRollout(image="x:1"))
    development = render_rolling_deployment(
        env_of({"tier": "development"}), AppRollout(image="x:1")
    )
    assert staging is not None and development is not None
    probe = container(staging)["readinessProbe"]
    assert probe["httpGet"] == {"path": "/health", "port": "http"}
    assert (probe["periodSeconds"], probe["timeoutSeconds"], probe["failureThreshold"]) == (
        30,
        5,
        3,
    )
    assert "readinessProbe" not in container(development)


def test_suspend_scales_the_app_to_zero() -> None:
    env = env_of({"tier": "staging", "suspend": True})
    deployment = render_rolling_deployment(env, AppRollout(image="x:1"))
    assert deployment is not None and deployment["spec"]["replicas"] == 0


def test_app_children_carry_the_common_labels() -> None:
    env = env_of({"tier": "production"})
    for manifest in (render_active_service(env, ROLLOUT), render_preview_service(env, ROLLOUT)):
        assert manifest is not None
        meta_labels = manifest["metadata"]["labels"]
        assert meta_labels[MANAGED_BY] == "tierkeeper"
        assert meta_labels[INSTANCE] == "shop"
        assert meta_labels[COMPONENT] == "app"
        assert manifest["metadata"]["namespace"] == "team"


def test_app_resources_are_written_as_the_api_server_stores_them() -> None:
    """A Deployment holds what we apply only if it equals what we send: 1024Mi is stored as
    1Gi and 0.5 cpu as 500m, so those are what is sent; what is no quantity goes as written."""
    resources = {
        "requests": {"memory": "1024Mi", "cpu": 0.5},
        "limits": {"memory": "2Gi", "cpu": "not-a-quantity"},
    }
    env = env_of({"tier": "development", "app": {"resources": resources}})
    deployment = render_rolling_deployment(env, AppRollout.first(env, "shop:1"))
    assert deployment is not None
    assert container(deployment)["resources"] == {
        "requests": {"memory": "1Gi", "cpu": "500m"},
        "limits": {"memory": "2Gi", "cpu": "not-a-quantity"},
    }
