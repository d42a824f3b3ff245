"""Pairs of valid specs, A then B, applied to a live Environment with a Release (issue 16).

For every pair: the active Service never lacks a Ready pod, and the Environment either
converges to B (Ready at B's generation, its Release promoted in B's shape, the old
shape's Deployments gone after their drain) or refuses B with ChangeNotAllowed and nothing
written. The pairs worth keeping are `@example`s; the rest are drawn by hypothesis
(TIERKEEPER_PAIR_EXAMPLES, default 3: each pair is a live rollout on two cores).
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from tests.integration.k8s import Api, condition, eventually, instance_selector
from tests.integration.operator_process import OperatorProcess
from tests.integration.releases import release
from tests.integration.serving import serving_guard
from tierkeeper.models.names import ChildNames

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("TIERKEEPER_PAIR_EXAMPLES", "3"))
NUMBERS = itertools.count()
# The old shape's drain after a strategy change: short, each pair being a live rollout.
DRAIN_SECONDS = 5

# The app's side of a spec: what a live change may alter. The data settings stay explicit
# and fixed (their changes are the volume tests'), so a pair changes shape and size.
SHAPES = st.fixed_dictionaries(
    {
        "tier": st.sampled_from(["development", "staging", "production"]),
        "strategy": st.sampled_from([None, "Rolling", "BlueGreen"]),
        "replicas": st.integers(min_value=1, max_value=3),
        # "-1": the API server refuses it (a negative request).
        "cpu": st.sampled_from([None, "50m", "-1"]),
    }
)


def environment(name: str, shape: dict[str, Any]) -> dict[str, Any]:
    strategy: dict[str, Any] = {
        "scaleDownDelaySeconds": DRAIN_SECONDS,
        "blueGreen": {"postPromotionSeconds": 0, "progressDeadlineSeconds": 120},
    }
    if shape["strategy"]:
        strategy["type"] = shape["strategy"]
    app: dict[str, Any] = {"replicas": shape["replicas"]}
    if shape["cpu"]:
        app["resources"] = {"requests": {"cpu": shape["cpu"]}}
    return {
        "apiVersion": "tierkeeper.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": name},
        "spec": {
            "tier": shape["tier"],
            "branch": "main",
            "postgres": {"enabled": False},
            "redis": {"enabled": False},
            "app": app,
            "strategy": strategy,
        },
    }


def blue_green(shape: dict[str, Any]) -> bool:
    return shape["strategy"] == "BlueGreen" or (
        shape["strategy"] is None and shape["tier"] == "production"
    )


def shape_deployments(name: str, shape: dict[str, Any]) -> list[str]:
    names = ChildNames(name)
    if blue_green(shape):
        return sorted(names.color_deployment(color) for color in ("blue", "green"))
    return [names.rolling_deployment]


def settled(api: Api, namespace: str, name: str, shape: dict[str, Any]) -> bool:
    """Ready at the current generation, its Release promoted, the Service on B's shape, and
    B's Deployments the only ones."""
    env = api.get("Environment", namespace, name) or {}
    generation = env.get("metadata", {}).get("generation")
    ready = condition(env, "Ready") or {}
    if (env.get("status") or {}).get("observedGeneration") != generation:
        return False
    rel = (api.get("Release", namespace, name) or {}).get("status") or {}
    service = api.get("Service", namespace, ChildNames(name).app_service) or {}
    colour = ((service.get("spec") or {}).get("selector") or {}).get("tierkeeper.dev/color")
    selector = instance_selector(name)
    deployments = sorted(d["metadata"]["name"] for d in api.list("Deployment", namespace, selector))
    return (
        ready.get("status") == "True"
        and rel.get("phase") == "Promoted"
        and (colour is not None) == blue_green(shape)
        and deployments == shape_deployments(name, shape)
    )


def refused(api: Api, namespace: str, name: str) -> bool:
    env = api.get("Environment", namespace, name) or {}
    ready = condition(env, "Ready") or {}
    observed = (env.get("status") or {}).get("observedGeneration")
    return observed == env.get("metadata", {}).get("generation") and (
        ready.get("reason") == "ChangeNotAllowed"
    )


def versions(api: Api, namespace: str, name: str) -> dict[str, str]:
    selector = instance_selector(name)
    return {
        f"{kind}/{item['metadata']['name']}": item["metadata"]["resourceVersion"]
        for kind in ("Deployment", "Service")
        for item in api.list(kind, namespace, selector)
    }


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("TIERKEEPER_FUZZ_RANDOM") != "1",
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.generate],
)
@given(first=SHAPES, then=SHAPES)
@example(
    first={"tier": "production", "strategy": None, "replicas": 2, "cpu": None},
    then={"tier": "development", "strategy": None, "replicas": 1, "cpu": None},
)
@example(
    first={"tier": "development", "strategy": None, "replicas": 1, "cpu": None},
    then={"tier": "staging", "strategy": "BlueGreen", "replicas": 3, "cpu": "50m"},
)
@example(
    first={"tier": "production", "strategy": None, "replicas": 2, "cpu": None},
    then={"tier": "development", "strategy": None, "replicas": 1, "cpu": "-1"},
)
def test_a_live_change_keeps_ready_pods_behind_the_service_and_converges_or_writes_nothing(
    api: Api,
    namespace: str,
    operator: OperatorProcess,
    first: dict[str, Any],
    then: dict[str, Any],
) -> None:
    if first["cpu"] == "-1":
        first = {**first, "cpu": None}  # A must be a spec that runs
    name = f"pair-{next(NUMBERS)}"
    api.apply(environment(name, first), namespace)
    api.apply(release("shop:1", name=name), namespace)
    eventually(lambda: settled(api, namespace, name, first), timeout=120, what=f"A {first}")
    before = versions(api, namespace, name)
    with serving_guard(api, namespace, name) as violations:
        api.apply(environment(name, then), namespace)
        outcome = eventually(
            lambda: (
                ("converged" if settled(api, namespace, name, then) else None)
                or ("refused" if refused(api, namespace, name) else None)
            ),
            timeout=120,
            what=f"{first} -> {then}",
        )
    assert violations == [], (first, then, violations[:3])
    if then["cpu"] == "-1":
        assert outcome == "refused"
        assert versions(api, namespace, name) == before
    else:
        assert outcome == "converged"
    api.delete("Release", namespace, name)
    api.delete("Environment", namespace, name)
