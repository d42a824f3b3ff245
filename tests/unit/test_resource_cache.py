"""The records of Environments and Releases that the operator's own watches keep: what
the first listing files quietly, what later changes report, and what a listing after a
gap finds deleted."""

from __future__ import annotations

from typing import Any

from tierkeeper.apply.watch import LISTING, SYNCED, Change
from tierkeeper.handlers.resource_cache import ResourceCache, ResourceEvent
from tierkeeper.handlers.watches import Stream

NAMESPACE = "team"


def environment(name: str, generation: int = 1) -> dict[str, Any]:
    meta = {"name": name, "namespace": NAMESPACE, "uid": f"u-{name}", "generation": generation}
    return {"metadata": meta, "spec": {"tier": "development"}}


def release(name: str, env: str, image: str = "shop:1") -> dict[str, Any]:
    meta = {"name": name, "namespace": NAMESPACE, "uid": f"u-{name}", "generation": 1}
    return {"metadata": meta, "spec": {"environment": env, "image": image}}


def listed(cache: ResourceCache, stream: Stream, *bodies: dict[str, Any]) -> None:
    cache.take(stream, LISTING)
    for body in bodies:
        cache.take(stream, Change("upsert", body))
    cache.take(stream, SYNCED)


def seen(events: list[ResourceEvent]) -> list[tuple[str, str, str, bool, bool]]:
    return [(e.kind, e.key[1], e.environment[1], e.deleted, e.news) for e in events]


def test_the_first_listing_files_records_as_no_news() -> None:
    events: list[ResourceEvent] = []
    cache = ResourceCache(events.append)
    listed(cache, Stream("Environment", None), environment("shop"))
    listed(cache, Stream("Release", None), release("shop-1", "shop"))
    assert cache.environments[(NAMESPACE, "shop")].uid == "u-shop"
    assert [r.name for r in cache.releases_of((NAMESPACE, "shop"))] == ["shop-1"]
    assert cache.environment_of((NAMESPACE, "shop-1")) == (NAMESPACE, "shop")
    assert seen(events) == [
        ("Environment", "shop", "shop", False, False),
        ("Release", "shop-1", "shop", False, False),
    ]


def test_a_change_after_the_listing_is_news_with_the_new_record() -> None:
    events: list[ResourceEvent] = []
    cache = ResourceCache(events.append)
    stream = Stream("Environment", None)
    listed(cache, stream)
    cache.take(stream, Change("upsert", environment("shop", generation=2)))
    assert cache.environments[(NAMESPACE, "shop")].generation == 2
    assert seen(events) == [("Environment", "shop", "shop", False, True)]


def test_a_release_that_names_another_environment_moves_with_it() -> None:
    events: list[ResourceEvent] = []
    cache = ResourceCache(events.append)
    stream = Stream("Release", None)
    listed(cache, stream, release("r", "shop"))
    cache.take(stream, Change("upsert", release("r", "blog")))
    assert cache.releases_of((NAMESPACE, "shop")) == []
    assert [r.name for r in cache.releases_of((NAMESPACE, "blog"))] == ["r"]
    # The old Environment hears that its Release is gone, the new one that it has one.
    assert seen(events)[1:] == [
        ("Release", "r", "shop", True, True),
        ("Release", "r", "blog", False, True),
    ]


def test_a_listing_after_a_gap_drops_what_was_deleted_meanwhile() -> None:
    events: list[ResourceEvent] = []
    cache = ResourceCache(events.append)
    environments, releases = Stream("Environment", None), Stream("Release", None)
    listed(cache, environments, environment("shop"), environment("blog"))
    listed(cache, releases, release("shop-1", "shop"))
    events.clear()
    listed(cache, environments, environment("shop"))
    listed(cache, releases)
    assert list(cache.environments) == [(NAMESPACE, "shop")]
    assert cache.releases_of((NAMESPACE, "shop")) == []
    assert cache.environment_of((NAMESPACE, "shop-1")) is None
    deleted = [(kind, name) for kind, name, _, gone, _ in seen(events) if gone]
    assert deleted == [("Environment", "blog"), ("Release", "shop-1")]


def test_a_deletion_is_news_for_the_environment_the_release_named() -> None:
    events: list[ResourceEvent] = []
    cache = ResourceCache(events.append)
    stream = Stream("Release", None)
    listed(cache, stream, release("shop-1", "shop"))
    cache.take(stream, Change("deleted", release("shop-1", "shop")))
    assert seen(events)[1:] == [("Release", "shop-1", "shop", True, True)]
    assert cache.release_keys() == []
