"""The Release phase metric: one series per Release, at its current phase."""

from __future__ import annotations

from prometheus_client import REGISTRY

from tierkeeper import metrics
from tierkeeper.models import Phase


def phases_shown(release: str) -> dict[str, float]:
    return {
        sample.labels["phase"]: sample.value
        for family in REGISTRY.collect()
        if family.name == "tierkeeper_release_phase"
        for sample in family.samples
        if sample.labels.get("release") == release
    }


def test_release_phase_shows_only_the_current_phase_and_is_forgotten() -> None:
    metrics.release_phase("team", "unit-shop", Phase.DEPLOYING)
    metrics.release_phase("team", "unit-shop", Phase.PROMOTED)
    assert phases_shown("unit-shop") == {"Promoted": 1.0}
    metrics.forget_release("team", "unit-shop")
    assert phases_shown("unit-shop") == {}
    # A Release deleted before its first step has nothing to forget.
    metrics.forget_release("team", "never-stepped")
