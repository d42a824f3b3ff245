"""The operator's finalizer: on exactly the Environments that keep their data, and taken
off a deleted one only after its data is detached."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.unit.fake_api import FakeApi
from tierkeeper import API_VERSION, FINALIZER
from tierkeeper.apply.errors import ApiError
from tierkeeper.reconcile.finalizer import finalize, keep_finalizer
from tierkeeper.reconcile.records import EnvRecord
from tierkeeper.render.common import INSTANCE, MANAGED_BY

OTHER = "example.com/backup-hold"


def cluster(finalizers: list[str]) -> FakeApi:
    api = FakeApi()
    meta = {"name": "shop", "namespace": "team", "uid": "uid-shop", "finalizers": finalizers}
    api.put({"apiVersion": API_VERSION, "kind": "Environment", "metadata": meta})
    return api


def record(policy: str, finalizers: tuple[str, ...], *, deleting: bool = False) -> EnvRecord:
    spec: dict[str, Any] = {"tier": "staging", "deletionPolicy": policy}
    return EnvRecord("team", "shop", "uid-shop", 1, spec, {}, deleting, finalizers)


def finalizers_of(api: FakeApi) -> list[str]:
    stored = api.stored("Environment", "team", "shop")
    assert stored is not None
    found: list[str] = stored["metadata"].get("finalizers") or []
    return found


def test_the_finalizer_comes_and_goes_with_the_deletion_policy() -> None:
    api = cluster([])
    asyncio.run(keep_finalizer(api.client(), record("Retain", ())))
    assert finalizers_of(api) == [FINALIZER]
    asyncio.run(keep_finalizer(api.client(), record("Retain", (FINALIZER,))))
    assert [c.verb for c in api.calls] == ["json_patch"]

    api = cluster([OTHER, FINALIZER])
    asyncio.run(keep_finalizer(api.client(), record("Delete", (OTHER, FINALIZER))))
    assert finalizers_of(api) == [OTHER]
    asyncio.run(keep_finalizer(api.client(), record("Delete", (OTHER,))))
    assert [c.verb for c in api.calls] == ["json_patch"]


def test_a_list_changed_since_it_was_read_fails_the_patch_and_changes_nothing() -> None:
    api = cluster([OTHER, FINALIZER])
    with pytest.raises(ApiError):
        asyncio.run(keep_finalizer(api.client(), record("Delete", (FINALIZER,))))
    assert finalizers_of(api) == [OTHER, FINALIZER]


def test_deletion_detaches_the_data_before_the_finalizer_goes() -> None:
    api = cluster([FINALIZER])
    labels = {MANAGED_BY: "tierkeeper", INSTANCE: "shop"}
    owner = [{"kind": "Environment", "name": "shop", "uid": "uid-shop"}]
    claim = {"name": "data-shop-postgres-0", "namespace": "team", "labels": labels}
    api.put({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": claim})
    api.objects[("PersistentVolumeClaim", "team", claim["name"])]["metadata"]["ownerReferences"] = (
        owner
    )
    asyncio.run(finalize(api.client(), record("Retain", (FINALIZER,), deleting=True)))
    kept = api.stored("PersistentVolumeClaim", "team", claim["name"])
    assert kept is not None and "ownerReferences" not in kept["metadata"]
    assert finalizers_of(api) == []
    verbs = [(c.verb, c.kind) for c in api.calls]
    assert verbs.index(("merge_patch", "PersistentVolumeClaim")) < verbs.index(
        ("json_patch", "Environment")
    )


def test_a_failed_detach_leaves_the_finalizer_on() -> None:
    api = cluster([FINALIZER])
    api.outage("list")
    with pytest.raises(ApiError):
        asyncio.run(finalize(api.client(), record("Retain", (FINALIZER,), deleting=True)))
    assert finalizers_of(api) == [FINALIZER]


def test_deletion_of_an_environment_without_our_finalizer_writes_nothing() -> None:
    api = cluster([])
    asyncio.run(finalize(api.client(), record("Retain", (), deleting=True)))
    assert api.calls == []
