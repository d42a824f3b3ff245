"""Changes of a live Environment under a Release, with a guard on its traffic.

A change of tier, and so of strategy: the shape that serves stays until the new one is
available, then traffic moves, then the old shape goes. A change the API server would
refuse: nothing of it is written. The guard looks at the active Service every 50 ms: its
selector must always find a Ready pod (a no-colour selector selects every app pod)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.k8s import Api, condition, eventually
from tests.integration.operator_process import OperatorProcess
from tests.integration.releases import ENV, phase_is, release, rollout_state
from tests.integration.serving import ready_pods_behind_service, serving_guard
from tierkeeper.models.names import ChildNames

NAMES = ChildNames(ENV)
APP = f"app.kubernetes.io/instance={NAMES.instance_label},app.kubernetes.io/component=app"


def environment(tier: str) -> dict[str, Any]:
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
            "app": {"healthCheck": {"intervalSeconds": 1, "timeoutSeconds": 1}},
            "strategy": {"blueGreen": {"postPromotionSeconds": 1, "progressDeadlineSeconds": 120}},
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
