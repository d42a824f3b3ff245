"""The private network on the real API server: the operator's NetworkPolicies are accepted,
follow spec.network.policies, and come back when deleted (issue 19).

No network plugin of the local test cluster enforces NetworkPolicies (kube-apiserver
stores them; only a plugin such as Calico or Cilium acts on them): who may reach whom
is judged from the policies in tests/unit/test_network_policies.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.fixtures import operator_process
from tests.integration.k8s import Api, eventually, is_true
from tests.integration.operator_process import HealthServer, OperatorProcess
from tierkeeper.models.names import ChildNames

pytestmark = pytest.mark.integration

ENV = "shop"
NAMES = ChildNames(ENV)
INGRESS_NAMESPACE = "ingress-nginx"


def environment(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "tierkeeper.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": ENV},
        "spec": {"tier": "staging", **spec},
    }


@pytest.fixture
def operator_with_ingress(
    cluster: Any, namespace: str, health: HealthServer, tmp_path: Path
) -> Iterator[OperatorProcess]:
    process = operator_process(
        cluster,
        namespace,
        health,
        tmp_path / "operator.log",
        TIERKEEPER_INGRESS_NAMESPACE=INGRESS_NAMESPACE,
        TIERKEEPER_OPERATOR_NAMESPACE="tierkeeper-system",
    )
    process.start()
    yield process
    process.stop()


def policies(api: Api, namespace: str) -> dict[str, dict[str, Any]]:
    found = api.list("NetworkPolicy", namespace, f"app.kubernetes.io/instance={ENV}")
    return {p["metadata"]["name"]: p for p in found}


def test_policies_are_accepted_follow_the_spec_field_and_come_back_when_deleted(
    api: Api, namespace: str, operator_with_ingress: OperatorProcess
) -> None:
    api.apply(environment(), namespace)
    wanted = {NAMES.network_policy(c) for c in ("app", "postgres", "redis")}

    def all_three() -> dict[str, dict[str, Any]] | None:
        found = policies(api, namespace)
        return found if set(found) == wanted else None

    stored = eventually(all_three, timeout=60, what="three NetworkPolicies")
    redis = stored[NAMES.network_policy("redis")]["spec"]
    assert redis["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "redis"
    assert redis["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 6379}]
    app = stored[NAMES.network_policy("app")]["spec"]
    assert {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for peer in app["ingress"][0]["from"]
    } == {INGRESS_NAMESPACE, "tierkeeper-system"}
    eventually(lambda: is_true(api.get("Environment", namespace, ENV), "Ready"), what="Ready")

    # Deleted by hand: the watch sees it and the operator puts it back.
    api.delete("NetworkPolicy", namespace, NAMES.network_policy("postgres"))
    eventually(
        lambda: NAMES.network_policy("postgres") in policies(api, namespace),
        timeout=60,
        what="the deleted policy back",
    )

    api.apply(environment(network={"policies": False}), namespace)
    eventually(lambda: policies(api, namespace) == {}, timeout=60, what="policies removed")
