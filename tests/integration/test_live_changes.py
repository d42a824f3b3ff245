"""Changes of a live Environment under a Release, with a guard on its traffic.

A change of tier, and so of strategy: the shape that serves stays until the new one is
available, then traffic moves, then the old shape goes, strategy.scaleDownDelaySeconds
later. A change the API server would refuse: nothing of it is written. The guard looks at
the active Service every 50 ms: its selector must always find a Ready pod (a no-colour
selector selects every app pod)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.k8s import Api, condition, eventually
from tests.integration.operator_process import OperatorProcess
from tests.integration.releases import (
    COLOR,
    ENV,
    HEALTH_CHECK,
    phase_is,
    release,
    release_status,
    rollout_state,
)
from tests.integration.serving import ready_pods_behind_service, selected_pods, serving_guard
from tierkeeper.models.names import ChildNames

NAMES = ChildNames(ENV)
APP = f"app.kubernetes.io/instance={NAMES.instance_label},app.kubernetes.io/component=app"
# The old shape's drain after a switch: short where a test only needs it to end.
QUICK_DRAIN_SECONDS = 5
# Long enough to look at the cluster between the switch and the old shape's removal.
DRAIN_SECONDS = 15


def environment(tier: str, drain: int = QUICK_DRAIN_SECONDS) -> dict[str, Any]:
    """Data settings explicit, so that the tier changes only the app's shape and size."""
    return {
        "apiVersion": "tierkeeper.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": ENV},
        "spec": {
            "tier": tier,
            "branch": "main",
            "postgres": {"provider": "builtin", "instances": 1, "storage": "20Gi"},
            "redis": {"persistence": "aof", "maxMemory": "2Gi"},
            "app": {"healthCheck": HEALTH_CHECK},
            "strategy": {
                "scaleDownDelaySeconds": drain,
                "blueGreen": {"postPromotionSeconds": 1, "progressDeadlineSeconds": 120},
            },
        },
    }


def deployments(api: Api, namespace: str) -> list[str]:
    return sorted(d["metadata"]["name"] for d in api.list("Deployment", namespace, APP))


def shape_is(api: Api, namespace: str, names: list[str], color: str | None) -> bool:
    service = api.get("Service", namespace, NAMES.app_service) or {}
    selected = ((service.get("spec") or {}).get("selector") or {}).get("tierkeeper.dev/color")
    status = (api.get("Release", namespace, ENV) or {}).get("status") or {}
    return (
        deployments(api, namespace) == sorted(names)
        and selected == color
        and status.get("phase") == "Promoted"
        and ready_pods_behind_service(api, namespace, ENV) > 0
    )


def data_uids(api: Api, namespace: str) -> dict[str, str]:
    """The data volumes and the credentials: they must survive every change of shape."""
    found = {
        f"pvc/{pvc['metadata']['name']}": pvc["metadata"]["uid"]
        for pvc in api.list("PersistentVolumeClaim", namespace)
    }
    secret = api.get("Secret", namespace, NAMES.postgres_credentials) or {}
    found["secret"] = secret.get("metadata", {}).get("uid", "")
    return found


def wait_for_shape(api: Api, namespace: str, names: list[str], color: str | None) -> None:
    eventually(
        lambda: shape_is(api, namespace, names, color),
        timeout=120,
        what=f"{names} serving, Service colour {color}",
        explain=lambda: {
            "deployments": deployments(api, namespace),
            **rollout_state(api, namespace),
        },
    )


def test_tier_changes_keep_ready_pods_behind_the_service_and_keep_the_data(
    api: Api, namespace: str, operator: OperatorProcess
) -> None:
    api.apply(environment("production"), namespace)
    api.apply(release("shop:1"), namespace)
    wait_for_shape(
        api, namespace, [NAMES.color_deployment("blue"), NAMES.color_deployment("green")], "blue"
    )
    # Every volume exists once the data services are Ready.
    eventually(lambda: is_ready(api, namespace), timeout=120, what="Ready")
    before = data_uids(api, namespace)
    with serving_guard(api, namespace, ENV) as violations:
        api.apply(environment("development"), namespace)
        wait_for_shape(api, namespace, [NAMES.rolling_deployment], None)
        api.apply(environment("staging"), namespace)
        eventually(
            lambda: (
                (api.get("Deployment", namespace, NAMES.rolling_deployment) or {})
                .get("status", {})
                .get("readyReplicas")
                == 2
            ),
            timeout=60,
            what="staging's two replicas",
        )
        api.apply(environment("production"), namespace)
        wait_for_shape(
            api,
            namespace,
            [NAMES.color_deployment("blue"), NAMES.color_deployment("green")],
            "blue",
        )
        # The machine goes on from the new shape: a new image rolls out blue-green.
        api.apply(release("shop:2"), namespace)
        eventually(
            lambda: phase_is(api, namespace, "Promoted", "shop:2"), timeout=120, what="shop:2"
        )
    assert violations == []
    assert data_uids(api, namespace) == before


@pytest.mark.parametrize("tiers", [("production", "development"), ("development", "production")])
def test_operator_killed_in_the_middle_of_a_strategy_change_finishes_it(
    api: Api, namespace: str, operator: OperatorProcess, tiers: tuple[str, str]
) -> None:
    first, then = tiers
    api.apply(environment(first), namespace)
    api.apply(release("shop:1"), namespace)
    eventually(lambda: phase_is(api, namespace, "Promoted", "shop:1"), timeout=120, what="first")
    with serving_guard(api, namespace, ENV) as violations:
        api.apply(environment(then), namespace)
        # The first half is saved: the rollout names the shape that still serves.
        api.watch_until(
            "Release",
            namespace,
            ENV,
            lambda obj: ((obj.get("status") or {}).get("rollout") or {}).get("shape") is not None,
        )
        operator.kill()
        operator.start()
        if then == "development":
            wait_for_shape(api, namespace, [NAMES.rolling_deployment], None)
        else:
            wait_for_shape(
                api,
                namespace,
                [NAMES.color_deployment("blue"), NAMES.color_deployment("green")],
                "blue",
            )
    assert violations == []


BLUE, GREEN = NAMES.color_deployment("blue"), NAMES.color_deployment("green")


def app_only(tier: str) -> dict[str, Any]:
    """Without a database or cache: the drain concerns the app's Deployments alone."""
    doc = environment(tier, DRAIN_SECONDS)
    doc["spec"].update(postgres={"enabled": False}, redis={"enabled": False})
    return doc


def timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def draining(api: Api, namespace: str) -> dict[str, Any] | None:
    """BlueGreen -> Rolling between the switch and the colours' removal, as the cluster
    has it: the Service selects every app pod, the Release is Promoted since its switch,
    the Environment Ready, and blue still runs Ready pods beside the Rolling Deployment's."""
    service = api.get("Service", namespace, NAMES.app_service) or {}
    selector = (service.get("spec") or {}).get("selector") or {}
    status = release_status(api, namespace)
    if not selector or COLOR in selector or status.get("phase") != "Promoted":
        return None
    blue = sum(ready for _, ready in selected_pods(api, namespace, {**selector, COLOR: "blue"}))
    rolling = api.get("Deployment", namespace, NAMES.rolling_deployment) or {}
    ready = (rolling.get("status") or {}).get("readyReplicas") or 0
    if blue == 0 or ready == 0 or not status.get("switchedAt") or not is_ready(api, namespace):
        return None
    if api.get("Deployment", namespace, BLUE) is None:
        return None  # its pods may outlive it a moment: garbage collection takes them
    return {"blue": blue, "rolling": ready, "switchedAt": status["switchedAt"]}


def release_events(api: Api, namespace: str) -> list[str]:
    """The Release's Event reasons, oldest first."""
    events = [
        e
        for e in api.list("Event", namespace)
        if (e.get("involvedObject") or {}).get("kind") == "Release"
    ]
    events.sort(key=lambda e: e.get("firstTimestamp") or "")
    return [e["reason"] for e in events]


@pytest.mark.parametrize(
    "killed", [False, True], ids=["operator-running", "operator-killed-in-the-drain"]
)
def test_blue_green_to_rolling_keeps_blue_ready_after_the_switch_until_the_delay_passed(
    api: Api, namespace: str, operator: OperatorProcess, killed: bool
) -> None:
    api.apply(app_only("production"), namespace)
    api.apply(release("shop:1"), namespace)
    wait_for_shape(api, namespace, [BLUE, GREEN], "blue")
    with serving_guard(api, namespace, ENV) as violations:
        api.apply(app_only("development"), namespace)
        seen = eventually(
            lambda: draining(api, namespace),
            timeout=120,
            what="the Service on the Rolling shape with blue's pods Ready",
            explain=lambda: {
                "deployments": deployments(api, namespace),
                **rollout_state(api, namespace),
            },
        )
        if killed:
            # The drain is in status alone: the new process resumes it from there.
            operator.kill()
            operator.start()
        wait_for_shape(api, namespace, [NAMES.rolling_deployment], None)
        removed = datetime.now(UTC)
    assert violations == []
    assert removed - timestamp(seen["switchedAt"]) >= timedelta(seconds=DRAIN_SECONDS)
    reasons = release_events(api, namespace)
    assert reasons.index("Switched") < reasons.index("Reshaped"), reasons


def resource_versions(api: Api, namespace: str) -> dict[str, str]:
    kinds = (
        "Deployment",
        "StatefulSet",
        "Service",
        "ConfigMap",
        "CronJob",
        "PersistentVolumeClaim",
    )
    selector = f"app.kubernetes.io/instance={NAMES.instance_label}"
    return {
        f"{kind}/{item['metadata']['name']}": item["metadata"]["resourceVersion"]
        for kind in kinds
        for item in api.list(kind, namespace, selector)
    }


def test_a_live_change_the_api_server_would_refuse_writes_nothing_until_it_is_fixed(
    api: Api, namespace: str, operator: OperatorProcess
) -> None:
    api.apply(environment("development"), namespace)
    api.apply(release("shop:1"), namespace)
    wait_for_shape(api, namespace, [NAMES.rolling_deployment], None)
    eventually(lambda: is_ready(api, namespace), timeout=120, what="Ready")
    before = resource_versions(api, namespace)
    changed = environment("development")
    # Redis' ConfigMap would change too: a refused change writes none of it.
    changed["spec"]["redis"]["maxMemory"] = "1Gi"
    changed["spec"]["app"]["resources"] = {"requests": {"cpu": "-1"}}
    api.apply(changed, namespace)
    generation = api.get("Environment", namespace, ENV)["metadata"]["generation"]
    refused = eventually(
        lambda: refusal_at(api, namespace, generation),
        timeout=60,
        what="ChangeNotAllowed",
        explain=lambda: (api.get("Environment", namespace, ENV) or {}).get("status"),
    )
    assert "Deployment " + NAMES.rolling_deployment in refused["message"]
    assert resource_versions(api, namespace) == before
    release_ready = condition(api.get("Release", namespace, ENV), "Ready") or {}
    assert release_ready.get("reason") == "EnvironmentRefused"
    assert ready_pods_behind_service(api, namespace, ENV) > 0
    changed["spec"]["app"]["resources"] = {"requests": {"cpu": "100m"}}
    api.apply(changed, namespace)
    eventually(lambda: is_ready(api, namespace), timeout=120, what="Ready once fixed")
    config = api.get("ConfigMap", namespace, NAMES.redis_config) or {}
    assert "maxmemory 1073741824" in str(config.get("data"))


def is_ready(api: Api, namespace: str) -> bool:
    env = api.get("Environment", namespace, ENV)
    found = condition(env, "Ready") or {}
    generation = (env or {}).get("metadata", {}).get("generation")
    return (
        found.get("status") == "True"
        and (env or {}).get("status", {}).get("observedGeneration") == generation
    )


def refusal_at(api: Api, namespace: str, generation: int) -> dict[str, Any] | None:
    env = api.get("Environment", namespace, ENV) or {}
    found = condition(env, "Ready")
    if (env.get("status") or {}).get("observedGeneration") != generation or not found:
        return None
    return found if found["reason"] == "ChangeNotAllowed" else None
