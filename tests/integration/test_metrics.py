"""/metrics during a rollout (issue 7): the counters move, and no label takes values from
user input that grows without bound (images, error texts)."""

from __future__ import annotations

import pytest

from tests.integration.k8s import Api, eventually
from tests.integration.operator_process import OperatorProcess, Samples, scrape, total
from tests.integration.releases import ENV, first_release, phase_is, release, rollout_state

pytestmark = pytest.mark.integration

# The label names a series may carry; their values come from closed sets or name objects.
BOUNDED_LABELS = {"kind", "result", "outcome", "reason", "method", "phase", "le"}
OBJECT_LABELS = {"namespace", "release", "environment"}


def ours(samples: Samples) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {key for key in samples if key[0].startswith("tierkeeper_")}


def in_phase(port: int, *phases: str) -> Samples | None:
    samples = scrape(port)
    showing = sum(total(samples, "tierkeeper_release_phase", release=ENV, phase=p) for p in phases)
    return samples if showing else None


def test_metrics_move_during_a_rollout_and_keep_labels_bounded(
    api: Api, namespace: str, operator: OperatorProcess
) -> None:
    metrics_port = operator.metrics_port
    first_release(api, namespace)
    before = scrape(metrics_port)
    api.apply(release("shop:2"), namespace)
    during = eventually(
        lambda: in_phase(metrics_port, "Deploying", "Verifying"), timeout=60, what="mid-rollout"
    )
    assert total(during, "tierkeeper_release_phase", release=ENV, phase="Promoted") == 0
    eventually(
        lambda: phase_is(api, namespace, "Promoted", "shop:2"),
        timeout=120,
        what="shop:2",
        explain=lambda: rollout_state(api, namespace),
    )
    after = eventually(lambda: in_phase(metrics_port, "Promoted"), what="Promoted exported")

    for name, labels in [
        ("tierkeeper_switches_total", {}),
        ("tierkeeper_rollouts_total", {"outcome": "Promoted"}),
        ("tierkeeper_reconcile_total", {"kind": "Environment"}),
        ("tierkeeper_api_requests_total", {"method": "PATCH"}),
        ("tierkeeper_gate_duration_seconds_count", {}),
        ("tierkeeper_switch_duration_seconds_count", {}),
    ]:
        assert total(after, name, **labels) > total(before, name, **labels), name

    for metric, labels in ours(after):
        names = {label for label, _ in labels}
        assert names <= BOUNDED_LABELS | OBJECT_LABELS, (metric, names)
        assert not any("shop:" in value for _, value in labels), (metric, labels)

    # Another image adds no series: nothing is labelled by what changes between rollouts.
    api.apply(release("shop:3"), namespace)
    eventually(
        lambda: phase_is(api, namespace, "Promoted", "shop:3"),
        timeout=120,
        what="shop:3",
        explain=lambda: rollout_state(api, namespace),
    )
    third = eventually(lambda: in_phase(metrics_port, "Promoted"), what="Promoted exported")
    assert ours(third) == ours(after)
