"""Two operator replicas with kopf peering (issue 7): only the higher-priority one acts;
when it dies without a goodbye, the other takes over and finishes the rollout."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.integration.k8s import Api, eventually
from tests.integration.operator import HealthServer, OperatorProcess, scrape, total
from tests.integration.releases import (
    active_color,
    first_release,
    phase_is,
    release,
    release_status,
    traffic_guard,
)
from tierkeeper.devcluster import Kube

pytestmark = pytest.mark.integration

PEERING_CRDS = Path(__file__).parents[2] / "manifests" / "base" / "peering.yaml"
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def writes(port: int) -> float:
    samples = scrape(port)
    return sum(total(samples, "tierkeeper_api_requests_total", method=m) for m in WRITES)


def serving(port: int) -> bool:
    try:
        scrape(port)
    except OSError:
        return False
    return True


def peers(api: Api, namespace: str) -> dict[str, Any]:
    found: dict[str, Any] = (api.get("KopfPeering", namespace, "tierkeeper") or {}).get(
        "status"
    ) or {}
    return found


@pytest.fixture
def replicas(
    cluster: Kube, api: Api, namespace: str, health: HealthServer, tmp_path: Path
) -> Iterator[list[OperatorProcess]]:
    """Two operators in one peering: priority 100 first, then 50."""
    cluster.kubectl("apply", "--server-side", "-f", str(PEERING_CRDS))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(PEERING_CRDS))
    peering: dict[str, Any] = {
        "apiVersion": "kopf.dev/v1",
        "kind": "KopfPeering",
        "metadata": {"name": "tierkeeper"},
    }
    api.apply(peering, namespace)
    started: list[OperatorProcess] = []
    for priority in (100, 50):
        process = OperatorProcess(
            kubeconfig=Path(cluster.kubeconfig),
            namespace=namespace,
            log=tmp_path / f"operator-{priority}.log",
            extra_env={"TIERKEEPER_HEALTH_URL": health.template},
            extra_args=("--peering", "tierkeeper", "--priority", str(priority)),
        )
        process.start()
        started.append(process)
        eventually(partial(serving, process.metrics_port), what="metrics served")
        # Started together, the standby could act until it first sees the leader: the
        # leader is in the peering object before the standby starts, as in a real rollout.
        eventually(lambda: len(peers(api, namespace)) == len(started), what="in the peering")
    yield started
    for process in started:
        process.stop()


def test_standby_replica_stays_idle_then_takes_over_and_finishes_the_rollout(
    api: Api, namespace: str, replicas: list[OperatorProcess]
) -> None:
    leader, standby = replicas
    leader_port, standby_port = leader.metrics_port, standby.metrics_port
    first_release(api, namespace)
    assert writes(leader_port) > 0
    assert writes(standby_port) == 0, "the standby replica wrote to the API server"

    with traffic_guard(api, namespace) as violations:
        api.apply(release("shop:2", promotion="Manual"), namespace)
        eventually(
            lambda: phase_is(api, namespace, "AwaitingPromotion"), timeout=120, what="awaiting"
        )
        assert writes(standby_port) == 0, "the standby replica wrote to the API server"
        leader.kill()
        api.apply(release("shop:2", promotion="Manual", promote=True), namespace)
        eventually(
            lambda: active_color(api, namespace) == "green",
            timeout=90,
            what="switched",
            explain=lambda: (peers(api, namespace), release_status(api, namespace)),
        )
        eventually(
            lambda: phase_is(api, namespace, "Promoted", "shop:2"), timeout=60, what="promoted"
        )
    assert not violations
    assert standby.alive()
    assert writes(standby_port) > 0
