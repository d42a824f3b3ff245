"""Data volumes of a live Environment on the real control plane (issue 16): a shrink is
refused before any write, a growth resizes the live claims where their StorageClass allows
expansion and is refused with a reason elsewhere while the rest converges, and a component
turned off and on again keeps or deletes its data as deletionPolicy says."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.k8s import Api, condition, eventually, is_true
from tests.integration.operator_process import (
    OperatorProcess,
    child_applies,
    environment_reconciles,
    scrape,
    total,
)
from tests.integration.releases import release
from tierkeeper.cli.render import render_documents
from tierkeeper.models.units import quantity_bytes

pytestmark = pytest.mark.integration

ENV = "vol"
INSTANCE = f"app.kubernetes.io/instance={ENV}"
RETAINED_FROM = "tierkeeper.dev/retained-from"
DATA_KINDS = ("Deployment", "StatefulSet", "Service", "ConfigMap", "CronJob", "Secret")
POSTGRES_CLAIM, REDIS_CLAIM, BACKUPS_CLAIM = (
    f"data-{ENV}-postgres-0",
    f"data-{ENV}-redis-0",
    f"{ENV}-backups",
)
CREDENTIALS = f"{ENV}-postgres-credentials"


def environment(**spec: Any) -> dict[str, Any]:
    """A staging Environment: postgres 5Gi with backups 5Gi, Redis snapshots on 2 x 512Mi."""
    return {
        "apiVersion": "tierkeeper.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": ENV},
        "spec": {"tier": "staging", **spec},
    }


def children_versions(api: Api, namespace: str) -> dict[tuple[str, str], str]:
    """Every object carrying the Environment's instance label, owned or not (a StatefulSet's
    claims are not the Environment's), by its resourceVersion."""
    return {
        (kind, item["metadata"]["name"]): item["metadata"]["resourceVersion"]
        for kind in (*DATA_KINDS, "PersistentVolumeClaim")
        for item in api.list(kind, namespace, INSTANCE)
    }


def settled(api: Api, namespace: str) -> dict[tuple[str, str], str]:
    def unchanged() -> dict[tuple[str, str], str] | None:
        first = children_versions(api, namespace)
        time.sleep(2)
        return first if children_versions(api, namespace) == first else None

    return eventually(unchanged, timeout=60, what="children settle")


def ready(api: Api, namespace: str) -> dict[str, Any] | None:
    env = api.get("Environment", namespace, ENV)
    return env if is_true(env, "Ready") else None


def reconciled(api: Api, namespace: str, type_: str, reason: str) -> dict[str, Any] | None:
    """The Environment once its current generation is reconciled with `type_` at `reason`."""
    env = api.get("Environment", namespace, ENV) or {}
    found = condition(env, type_)
    current = (env.get("status") or {}).get("observedGeneration") == env["metadata"]["generation"]
    return env if current and found is not None and found["reason"] == reason else None


def claim(api: Api, namespace: str, name: str) -> dict[str, Any]:
    found = api.get("PersistentVolumeClaim", namespace, name)
    assert found is not None, name
    return found


def requested(api: Api, namespace: str, name: str) -> int:
    """The size the claim asks for, in bytes (the API server writes 1024Mi as 1Gi)."""
    return quantity_bytes(claim(api, namespace, name)["spec"]["resources"]["requests"]["storage"])


def bound(api: Api, namespace: str, *names: str) -> bool:
    return all(
        (api.get("PersistentVolumeClaim", namespace, n) or {}).get("status", {}).get("phase")
        == "Bound"
        for n in names
    )


def warnings(api: Api, namespace: str, reason: str) -> list[str]:
    return [
        e["message"]
        for e in api.list("Event", namespace)
        if e["type"] == "Warning" and e["reason"] == reason
    ]


def statefulset_claim_size(api: Api, namespace: str, name: str) -> int:
    statefulset = api.get("StatefulSet", namespace, name) or {}
    template = statefulset["spec"]["volumeClaimTemplates"][0]
    return quantity_bytes(template["spec"]["resources"]["requests"]["storage"])


def test_a_shrink_of_the_database_volumes_is_refused_before_any_write(
    api: Api, namespace: str, operator: OperatorProcess
) -> None:
    api.apply(environment(), namespace)
    eventually(lambda: ready(api, namespace), timeout=90, what="Ready")
    eventually(lambda: bound(api, namespace, POSTGRES_CLAIM, REDIS_CLAIM, BACKUPS_CLAIM))
    before = settled(api, namespace)
    # The shrink comes with changes that alone would be applied at once.
    api.apply(environment(postgres={"storage": "1Gi"}, redis={"maxMemory": "256Mi"}), namespace)
    env = eventually(
        lambda: reconciled(api, namespace, "Ready", "ChangeNotAllowed"),
        what="the change refused",
    )
    message = condition(env, "Ready")["message"]  # type: ignore[index]
    assert "volumes cannot shrink: postgres.storage 5Gi -> 1Gi" in message, message
    assert POSTGRES_CLAIM in message and BACKUPS_CLAIM in message, message
    assert "tierkeeper restore" in message
    eventually(lambda: warnings(api, namespace, "ChangeNotAllowed"), what="a Warning Event")
    assert children_versions(api, namespace) == before
    # Put back, the same edit's other changes go through.
    api.apply(environment(redis={"maxMemory": "256Mi"}), namespace)
    eventually(lambda: ready(api, namespace), timeout=90, what="Ready again")
    config = api.get("ConfigMap", namespace, f"{ENV}-redis-config") or {}
    assert "maxmemory 268435456" in config["data"]["redis.conf"]
    # Redis's volume follows maxmemory; a cache that uses less keeps its larger volume.
    assert requested(api, namespace, REDIS_CLAIM) == quantity_bytes("1024Mi")
    assert statefulset_claim_size(api, namespace, f"{ENV}-redis") == quantity_bytes("1024Mi")


@pytest.fixture
def expandable_class(api: Api, namespace: str) -> Iterator[str]:
    """A StorageClass that allows expansion, with no provisioner behind it: the test binds
    and resizes its volumes as a CSI driver would."""
    name = f"{namespace}-expandable"[:63]
    api.resource("StorageClass").create(
        body={
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": name},
            "provisioner": "tierkeeper.test/by-hand",
            "allowVolumeExpansion": True,
            "reclaimPolicy": "Retain",
        }
    )
    yield name
    for volume in api.resource("PersistentVolume").get().items:
        if volume.spec.storageClassName == name:
            api.resource("PersistentVolume").delete(name=volume.metadata.name)
    api.resource("StorageClass").delete(name=name)


def volume_name(namespace: str, claim_name: str) -> str:
    return f"{namespace}-{claim_name}"


def provisioned_claim(
    api: Api, namespace: str, name: str, component: str, size: str, storage_class: str
) -> None:
    """A claim bound to a volume made for it, as an administrator prepares one: the
    StatefulSet adopts a claim of its name, the operator one of its backups claim's."""
    api.resource("PersistentVolume").create(
        body={
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": volume_name(namespace, name)},
            "spec": {
                "capacity": {"storage": size},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": storage_class,
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": f"/tmp/{namespace}/{name}"},
                "claimRef": {"namespace": namespace, "name": name},
            },
        }
    )
    api.resource("PersistentVolumeClaim").create(
        namespace=namespace,
        body={
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": name,
                "labels": {
                    "app.kubernetes.io/managed-by": "tierkeeper",
                    "app.kubernetes.io/instance": ENV,
                    "app.kubernetes.io/component": component,
                },
            },
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": storage_class,
                "volumeName": volume_name(namespace, name),
                "resources": {"requests": {"storage": size}},
            },
        },
    )


def resize_volume(
    api: Api, namespace: str, name: str, size: str, conditions: list[dict[str, str]]
) -> None:
    """What a CSI resizer writes: the volume's capacity, then the claim's status."""
    api.resource("PersistentVolume").patch(
        name=volume_name(namespace, name),
        body={"spec": {"capacity": {"storage": size}}},
        content_type="application/merge-patch+json",
    )
    status = {"status": {"capacity": {"storage": size}, "conditions": conditions}}
    api.patch_status("PersistentVolumeClaim", namespace, name, status, "csi-resizer")


def test_growth_on_an_expandable_class_resizes_the_live_claims(
    api: Api, namespace: str, operator: OperatorProcess, expandable_class: str
) -> None:
    for name, component, size in (
        (POSTGRES_CLAIM, "postgres", "5Gi"),
        (REDIS_CLAIM, "redis", "1024Mi"),
        (BACKUPS_CLAIM, "backup", "5Gi"),
    ):
        provisioned_claim(api, namespace, name, component, size, expandable_class)
    eventually(
        lambda: bound(api, namespace, POSTGRES_CLAIM, REDIS_CLAIM, BACKUPS_CLAIM),
        what="the volume controller binds the claims",
    )
    api.apply(environment(), namespace)
    eventually(lambda: ready(api, namespace), timeout=90, what="Ready")
    uid = claim(api, namespace, POSTGRES_CLAIM)["metadata"]["uid"]
    api.apply(environment(postgres={"storage": "8Gi"}, redis={"maxMemory": "1Gi"}), namespace)
    eventually(
        lambda: (
            requested(api, namespace, POSTGRES_CLAIM) == quantity_bytes("8Gi")
            and requested(api, namespace, BACKUPS_CLAIM) == quantity_bytes("8Gi")
            and requested(api, namespace, REDIS_CLAIM) == quantity_bytes("2048Mi")
        ),
        what="the live claims asked to grow",
    )
    assert claim(api, namespace, POSTGRES_CLAIM)["metadata"]["uid"] == uid
    assert statefulset_claim_size(api, namespace, f"{ENV}-postgres") == quantity_bytes("8Gi")
    eventually(lambda: reconciled(api, namespace, "VolumesResized", "Resizing"), what="Resizing")
    # The volumes grow; the database's file system waits for its pod.
    pending = [{"type": "FileSystemResizePending", "status": "True"}]
    resize_volume(api, namespace, POSTGRES_CLAIM, "8Gi", pending)
    resize_volume(api, namespace, REDIS_CLAIM, "2048Mi", [])
    resize_volume(api, namespace, BACKUPS_CLAIM, "8Gi", [])
    eventually(
        lambda: reconciled(api, namespace, "VolumesResized", "FileSystemResizePending"),
        what="FileSystemResizePending",
    )
    resize_volume(api, namespace, POSTGRES_CLAIM, "8Gi", [])
    env = eventually(
        lambda: reconciled(api, namespace, "VolumesResized", "Resized"), what="Resized"
    )
    assert is_true(env, "VolumesResized")
    # The StatefulSets were replaced for their claim templates: the new ones are created
    # once the old ones are gone, not refused while they go.
    assert warnings(api, namespace, "ChildRejected") == []
    eventually(
        lambda: ready(api, namespace),
        timeout=90,
        what="Ready after the resize",
        explain=lambda: (
            ((api.get("Environment", namespace, ENV) or {}).get("status") or {}).get("conditions"),
            [(s["metadata"]["name"], s.get("status")) for s in api.list("StatefulSet", namespace)],
            [(p["metadata"]["name"], p.get("status")) for p in api.list("Pod", namespace)],
        ),
    )


def test_growth_on_a_class_without_expansion_is_refused_while_the_app_converges(
    api: Api, namespace: str, operator: OperatorProcess
) -> None:
    api.apply(environment(), namespace)
    api.apply(release("shop:1", name=ENV), namespace)
    eventually(lambda: ready(api, namespace), timeout=90, what="Ready")
    eventually(lambda: bound(api, namespace, POSTGRES_CLAIM, BACKUPS_CLAIM))
    statefulset_uid = (api.get("StatefulSet", namespace, f"{ENV}-postgres") or {})["metadata"][
        "uid"
    ]
    api.apply(environment(postgres={"storage": "8Gi"}, app={"replicas": 3}), namespace)
    env = eventually(
        lambda: reconciled(api, namespace, "VolumesResized", "ExpansionNotAllowed"),
        what="the growth refused",
    )
    message = condition(env, "VolumesResized")["message"]  # type: ignore[index]
    assert "StorageClass kwok-volume does not allow volume expansion" in message, message
    assert "the volume stays 5Gi" in message
    eventually(
        lambda: (api.get("Deployment", namespace, f"{ENV}-app") or {})["spec"]["replicas"] == 3,
        what="the app's replicas change applied",
    )
    eventually(lambda: warnings(api, namespace, "ExpansionNotAllowed"), what="a Warning Event")
    assert requested(api, namespace, POSTGRES_CLAIM) == quantity_bytes("5Gi")
    assert requested(api, namespace, BACKUPS_CLAIM) == quantity_bytes("5Gi")
    statefulset = api.get("StatefulSet", namespace, f"{ENV}-postgres") or {}
    assert statefulset["metadata"]["uid"] == statefulset_uid  # not replaced
    assert statefulset_claim_size(api, namespace, f"{ENV}-postgres") == quantity_bytes("5Gi")
    assert eventually(lambda: ready(api, namespace), what="still Ready")


def development(storage: str) -> dict[str, Any]:
    """A development Environment with its data services on and Redis snapshots kept, so that
    both StatefulSets have a claim template; postgres `storage` (and its backups), and
    Redis's volume (twice 512Mi: 1024Mi), as the API server does not write them back."""
    doc = environment(
        postgres={"storage": storage}, redis={"maxMemory": "512Mi", "persistence": "snapshot"}
    )
    doc["spec"]["tier"] = "development"
    return doc


def applied_children(doc: dict[str, Any], namespace: str) -> int:
    """The children a converge of `doc` looks at: all it renders but the password Secrets,
    created once and never applied."""
    placed = copy.deepcopy(doc)
    placed["metadata"]["namespace"] = namespace
    return sum(1 for m in render_documents([placed]) if m["kind"] != "Secret")


def template_sizes(api: Api, namespace: str) -> dict[str, str]:
    """The size each StatefulSet's claim template asks for, as the API server keeps it."""
    return {
        name: (api.get("StatefulSet", namespace, name) or {})["spec"]["volumeClaimTemplates"][0][
            "spec"
        ]["resources"]["requests"]["storage"]
        for name in (f"{ENV}-postgres", f"{ENV}-redis")
    }


def statefulset_image(api: Api, namespace: str, name: str) -> str:
    statefulset = api.get("StatefulSet", namespace, name) or {}
    image: str = statefulset["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


def test_a_restart_over_converged_data_services_applies_no_child_and_a_growth_after_it_is_written(
    api: Api, namespace: str, operator: OperatorProcess, expandable_class: str
) -> None:
    for name, component in ((POSTGRES_CLAIM, "postgres"), (REDIS_CLAIM, "redis")):
        provisioned_claim(api, namespace, name, component, "1Gi", expandable_class)
    provisioned_claim(api, namespace, BACKUPS_CLAIM, "backup", "1Gi", expandable_class)
    eventually(
        lambda: bound(api, namespace, POSTGRES_CLAIM, REDIS_CLAIM, BACKUPS_CLAIM),
        what="the volume controller binds the claims",
    )
    doc = development("1024Mi")
    api.apply(doc, namespace)
    eventually(lambda: ready(api, namespace), timeout=90, what="Ready")
    # The API server keeps the claim templates with its own defaults and sizes: 1024Mi is 1Gi.
    assert template_sizes(api, namespace) == {f"{ENV}-postgres": "1Gi", f"{ENV}-redis": "1Gi"}
    before = settled(api, namespace)
    operator.stop()
    operator.start()
    wanted = applied_children(doc, namespace)
    eventually(
        lambda: (
            environment_reconciles(operator.metrics_port) >= 1
            and sum(child_applies(operator.metrics_port)) >= wanted
        ),
        what="the first converge after the restart",
    )
    held, applied = child_applies(operator.metrics_port)
    patches = total(scrape(operator.metrics_port), "tierkeeper_api_requests_total", method="PATCH")
    assert applied == 0 and held >= wanted and patches == 0, (held, applied, patches)
    assert children_versions(api, namespace) == before
    # A real change is still written: a growth asks the live claims for more and replaces
    # the StatefulSet (its claim template is immutable) with one at the new size.
    api.apply(development("1536Mi"), namespace)
    eventually(
        lambda: (
            requested(api, namespace, POSTGRES_CLAIM) == quantity_bytes("1536Mi")
            and requested(api, namespace, BACKUPS_CLAIM) == quantity_bytes("1536Mi")
            and template_sizes(api, namespace)[f"{ENV}-postgres"] == "1536Mi"
        ),
        what="the growth written",
    )
    # Drift of a StatefulSet, another manager's image, is put back.
    redis = f"{ENV}-redis"
    image = statefulset_image(api, namespace, redis)
    api.set_image("StatefulSet", namespace, redis, "redis", "redis:drifted", manager="someone")
    eventually(lambda: statefulset_image(api, namespace, redis) == image, what="the drift put back")


COMPONENTS = {
    "postgres": (
        {"postgres": {"enabled": False}},
        [
            ("PersistentVolumeClaim", POSTGRES_CLAIM),
            ("PersistentVolumeClaim", BACKUPS_CLAIM),
            ("Secret", CREDENTIALS),
        ],
    ),
    "redis": ({"redis": {"enabled": False}}, [("PersistentVolumeClaim", REDIS_CLAIM)]),
    "backups": (
        {"postgres": {"backup": {"enabled": False}}},
        [("PersistentVolumeClaim", BACKUPS_CLAIM)],
    ),
}


def uids(api: Api, namespace: str, data: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    return {
        (kind, name): (api.get(kind, namespace, name) or {}).get("metadata", {}).get("uid", "")
        for kind, name in data
    }


@pytest.mark.parametrize("policy", ["Retain", "Delete"])
@pytest.mark.parametrize("component", sorted(COMPONENTS))
def test_a_component_turned_off_and_on_again_honours_the_deletion_policy(
    api: Api, namespace: str, operator: OperatorProcess, component: str, policy: str
) -> None:
    off, data = COMPONENTS[component]
    api.apply(environment(deletionPolicy=policy), namespace)
    eventually(lambda: ready(api, namespace), timeout=90, what="Ready")
    eventually(lambda: all(uids(api, namespace, data).values()), what="the data exists")
    before = uids(api, namespace, data)

    api.apply(environment(deletionPolicy=policy, **off), namespace)
    if policy == "Retain":

        def kept() -> bool:
            objects = [api.get(kind, namespace, name) or {} for kind, name in data]
            return all(
                (o.get("metadata", {}).get("labels") or {}).get(RETAINED_FROM) == ENV
                and not o["metadata"].get("ownerReferences")
                for o in objects
            )

        eventually(kept, what="the data detached and labelled")
        eventually(lambda: ready(api, namespace), timeout=90, what="Ready without it")
        assert uids(api, namespace, data) == before
    else:
        eventually(
            lambda: not any(uids(api, namespace, data).values()),
            timeout=90,
            what="the data deleted",
        )

    api.apply(environment(deletionPolicy=policy), namespace)
    eventually(lambda: ready(api, namespace), timeout=90, what="Ready with it again")
    eventually(lambda: all(uids(api, namespace, data).values()), what="the data exists again")
    after = uids(api, namespace, data)
    if policy == "Retain":
        assert after == before  # the same objects, adopted
        for kind, name in data:
            eventually(
                lambda kind=kind, name=name: (
                    RETAINED_FROM
                    not in ((api.get(kind, namespace, name) or {})["metadata"].get("labels") or {})
                ),
                what=f"{kind} {name} adopted",
            )
        owned = [(k, n) for k, n in data if n != POSTGRES_CLAIM and n != REDIS_CLAIM]
        for kind, name in owned:
            refs = (api.get(kind, namespace, name) or {})["metadata"].get("ownerReferences") or []
            assert [r["name"] for r in refs if r["kind"] == "Environment"] == [ENV], (kind, name)
    else:
        assert not set(after.values()) & set(before.values())
