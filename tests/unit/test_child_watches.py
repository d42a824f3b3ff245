"""The cache of children's summaries that the watches feed: what it holds, and which
changes it reports (each report asks for a reconcile of the owning Environment)."""

from __future__ import annotations

from typing import Any

from tierkeeper.apply.watch import LISTING, SYNCED, Change
from tierkeeper.handlers.child_watches import ChildCache, ChildEvent
from tierkeeper.handlers.watches import Stream
from tierkeeper.render.common import INSTANCE

NAMESPACE = "team"


def deployment(name: str, instance: str | None = "shop", ready: int = 0) -> dict[str, Any]:
    labels = {INSTANCE: instance} if instance else {}
    return {
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "generation": 1,
            "labels": labels,
            "ownerReferences": [{"kind": "Environment", "name": "shop", "uid": "u1"}],
        },
        "spec": {"replicas": 2},
        "status": {"observedGeneration": 1, "readyReplicas": ready},
    }


def listed(cache: ChildCache, stream: Stream, *bodies: dict[str, Any]) -> None:
    cache.take(stream, LISTING)
    for body in bodies:
        cache.take(stream, Change("upsert", body))
    cache.take(stream, SYNCED)


def fresh() -> tuple[ChildCache, Stream, list[ChildEvent]]:
    events: list[ChildEvent] = []
    return ChildCache(events.append), Stream("Deployment", None), events


def test_first_listing_fills_the_cache_without_asking_for_reconciles() -> None:
    cache, stream, events = fresh()
    listed(cache, stream, deployment("shop-blue"), deployment("shop-green"))
    assert sorted(name for _, name in cache.live(NAMESPACE, "shop")) == ["shop-blue", "shop-green"]
    assert events == []


def test_a_change_the_operator_reads_is_reported_once() -> None:
    cache, stream, events = fresh()
    listed(cache, stream, deployment("shop-blue"))
    cache.take(stream, Change("upsert", deployment("shop-blue", ready=2)))
    # The same summary again (e.g. only its resourceVersion moved): nothing to reconcile.
    cache.take(stream, Change("upsert", deployment("shop-blue", ready=2)))
    assert [(e.owners, e.summary.ready, e.deleted) for e in events] == [(("shop",), 2, False)]
    assert cache.live(NAMESPACE, "shop")[("Deployment", "shop-blue")].ready == 2


def test_deletion_is_reported_with_the_owner() -> None:
    cache, stream, events = fresh()
    listed(cache, stream, deployment("shop-blue"))
    cache.take(stream, Change("deleted", deployment("shop-blue")))
    assert cache.live(NAMESPACE, "shop") == {}
    assert [(e.owners, e.summary.name, e.deleted) for e in events] == [
        (("shop",), "shop-blue", True)
    ]


def test_a_listing_after_a_gap_reports_the_children_deleted_meanwhile() -> None:
    cache, stream, events = fresh()
    listed(cache, stream, deployment("shop-blue"), deployment("shop-green"))
    listed(cache, stream, deployment("shop-blue"))
    assert list(cache.live(NAMESPACE, "shop")) == [("Deployment", "shop-blue")]
    assert [(e.summary.name, e.deleted) for e in events] == [("shop-green", True)]


def test_a_listing_of_one_namespace_leaves_other_namespaces_alone() -> None:
    events: list[ChildEvent] = []
    cache = ChildCache(events.append)
    team, other = Stream("Deployment", NAMESPACE), Stream("Deployment", "other")
    elsewhere = deployment("shop-blue")
    elsewhere["metadata"]["namespace"] = "other"
    listed(cache, other, elsewhere)
    listed(cache, team, deployment("shop-blue"))
    listed(cache, team)
    assert list(cache.live("other", "shop")) == [("Deployment", "shop-blue")]
    assert [(e.namespace, e.deleted) for e in events] == [(NAMESPACE, True)]


def test_a_child_whose_instance_label_changes_moves_and_one_without_it_is_dropped() -> None:
    cache, stream, events = fresh()
    listed(cache, stream, deployment("shop-blue"))
    cache.take(stream, Change("upsert", deployment("shop-blue", instance="cart")))
    assert cache.live(NAMESPACE, "shop") == {}
    assert list(cache.live(NAMESPACE, "cart")) == [("Deployment", "shop-blue")]
    cache.take(stream, Change("upsert", deployment("shop-blue", instance=None)))
    assert cache.live(NAMESPACE, "cart") == {}
    assert [e.deleted for e in events] == [True, False, True]
