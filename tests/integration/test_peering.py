"""Two operator replicas with kopf peering (issue 7): only the higher-priority one acts;
when it dies without a goodbye, the other takes over and finishes the rollout."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.integration.fixtures import operator_process
from tests.integration.k8s import Api, eventually
from tests.integration.operator_process import (
    HealthServer,
    OperatorProcess,
    environment_reconciles,
    scrape,
    total,
)
from tests.integration.releases import (
    ENV,
    active_color,
    first_release,
    phase_is,
    release,
    release_status,
    traffic_guard,
)
from tierkeeper.devcluster import Kubectl
from tierkeeper.models.names import ChildNames

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
def start_replica(
    cluster: Kubectl, api: Api, namespace: str, health: HealthServer, tmp_path: Path
) -> Iterator[Callable[[int], OperatorProcess]]:
    """Starts operators in one peering, each once the ones before it are in the peering
    object (as in a real rollout: started together, a standby could act until it first
    sees the leader)."""
    cluster.install_crds(PEERING_CRDS)
    peering: dict[str, Any] = {
        "apiVersion": "kopf.dev/v1",
        "kind": "KopfPeering",
        "metadata": {"name": "tierkeeper"},
    }
    api.apply(peering, namespace)
    started: list[OperatorProcess] = []

    def start(priority: int) -> OperatorProcess:
        process = operator_process(
            cluster,
            namespace,
            health,
            tmp_path / f"operator-{priority}.log",
            args=("--peering", "tierkeeper", "--priority", str(priority)),
        )
        process.start()
        started.append(process)
        eventually(partial(serving, process.metrics_port), what="metrics served")
        eventually(lambda: len(peers(api, namespace)) == len(started), what="in the peering")
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def replicas(start_replica: Callable[[int], OperatorProcess]) -> list[OperatorProcess]:
    """Two operators in one peering: priority 100 first, then 50."""
    return [start_replica(100), start_replica(50)]


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


def test_a_replica_that_steps_down_for_a_higher_priority_one_writes_nothing_more(
    api: Api,
    namespace: str,
    replicas: list[OperatorProcess],
    start_replica: Callable[[int], OperatorProcess],
) -> None:
    """The old leader keeps watching children (its cache stays warm for a takeover), but a
    child it sees deleted is put back by the new leader alone."""
    old_leader = replicas[0]
    first_release(api, namespace)
    new_leader = start_replica(200)
    # It acts: it looks at the Environment (over converged children it has nothing to write).
    eventually(
        lambda: environment_reconciles(new_leader.metrics_port) >= 1, what="the new leader acts"
    )
    before = writes(old_leader.metrics_port)
    service = ChildNames(ENV).app_service
    api.delete("Service", namespace, service)
    eventually(
        lambda: api.get("Service", namespace, service) is not None,
        timeout=60,
        what="the deleted Service put back",
    )
    assert writes(old_leader.metrics_port) == before, "the replica that stepped down wrote"
    assert old_leader.alive()
