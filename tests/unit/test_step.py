"""The pieces of a Release step that both machines use."""

from __future__ import annotations

from tierkeeper.models.child import ChildSummary
from tierkeeper.reconcile.release.step import available


def deployment(
    image: str = "shop:2", *, desired: int = 2, ready: int = 2, current: bool = True
) -> ChildSummary:
    return ChildSummary(
        "Deployment",
        "shop-green",
        "3",
        desired=desired,
        ready=ready,
        available=ready,
        updated=ready,
        observed_current=current,
        image=image,
    )


def test_available_needs_the_image_every_replica_ready_and_a_current_observation() -> None:
    assert available(deployment(), "shop:2", 2)
    assert not available(None, "shop:2", 2)
    assert not available(deployment(image="shop:1"), "shop:2", 2)
    assert not available(deployment(ready=1), "shop:2", 2)
    assert not available(deployment(current=False), "shop:2", 2)
    assert not available(deployment(desired=0, ready=0), "shop:2", 2)
    assert available(deployment(desired=5, ready=5), "shop:2", None)
