"""A child that already holds what the operator would apply is not written again: a
restarted operator over converged Environments writes nothing, while drift and a real
change still are. Against the app children as rendered, and as an API server returns them."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import pytest

from tests.unit.fake_api import FakeApi
from tests.unit.helpers import env_of
from tierkeeper import FIELD_MANAGER
from tierkeeper.apply.children import Owner, converge, holds, owned, yield_replicas
from tierkeeper.models.child import ChildSummary, summarize
from tierkeeper.models.names import ChildNames
from tierkeeper.models.resolved import ResolvedEnvironment
from tierkeeper.models.rollout import AppRollout, Color, ColorRollout
from tierkeeper.render import Child, app_children, data_children
from tierkeeper.render.common import COLOR, TIER, Manifest
from tierkeeper.render.volumes import Volume

OWNER = Owner("shop", "uid-shop")
NAMES = ChildNames("shop")
BLUE, ACTIVE = NAMES.color_deployment("blue"), NAMES.app_service
# Fields the API server owns whole, and the keys it names list items by (their OpenAPI
# list-map keys; a port's also by its protocol, which the server defaults).
ATOMIC = {"selector", "secretKeyRef", "volumeClaimTemplates"}
ITEM_KEYS = {
    "containers": ("name",),
    "initContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "ownerReferences": ("uid",),
}
# The storage requests these tests render, as a v1.37.2 API server stored them.
STORED_SIZES = {"1024Mi": "1Gi", "1Gi": "1Gi", "1536Mi": "1536Mi", "5Gi": "5Gi", "4Gi": "4Gi"}


def item_key(name: str, item: dict[str, Any]) -> str:
    if name == "ports":
        number = "containerPort" if "containerPort" in item else "port"
        key = {number: item[number], "protocol": item.get("protocol", "TCP")}
    else:
        key = {k: item[k] for k in ITEM_KEYS[name]}
    return "k:" + json.dumps(key, separators=(",", ":"))


def field_set(value: Any) -> dict[str, Any]:
    """The fieldsV1 an apply of `value` gives its manager, as the API server writes it."""
    if not isinstance(value, dict):
        return {}
    fields: dict[str, Any] = {}
    for name, member in value.items():
        if name in ATOMIC:
            fields[f"f:{name}"] = {}
        elif name == "ownerReferences":
            fields[f"f:{name}"] = {item_key(name, item): {} for item in member}
        elif isinstance(member, list) and member and isinstance(member[0], dict):
            fields[f"f:{name}"] = {
                item_key(name, item): {".": {}, **field_set(item)} for item in member
            }
        else:
            fields[f"f:{name}"] = field_set(member)
    return fields


def as_served(manifest: Manifest) -> dict[str, Any]:
    """The body an API server returns for `manifest` applied by the operator: its fields as
    sent and owned by the operator, plus what the server and controllers add."""
    body = copy.deepcopy(manifest)
    fields = {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind")}
    fields["metadata"] = {
        k: v for k, v in manifest["metadata"].items() if k not in ("name", "namespace")
    }
    body["metadata"] |= {
        "uid": "uid-child",
        "resourceVersion": "41",
        "creationTimestamp": "2026-12-04T03:00:00Z",
        "managedFields": [
            {"manager": FIELD_MANAGER, "operation": "Apply", "fieldsV1": field_set(fields)},
        ],
    }
    for port in body["spec"].get("ports", []):
        port["protocol"] = "TCP"
    if manifest["kind"] in ("Deployment", "StatefulSet"):
        body["metadata"]["generation"] = 3
        body["spec"]["template"]["spec"]["dnsPolicy"] = "ClusterFirst"
        for container in body["spec"]["template"]["spec"]["containers"]:
            for port in container.get("ports", []):
                port["protocol"] = "TCP"
    if manifest["kind"] == "PersistentVolumeClaim":
        stored_claim(body)
    for template in body["spec"].get("volumeClaimTemplates", []):
        stored_claim(template)
        template.setdefault("apiVersion", "v1")
        template.setdefault("kind", "PersistentVolumeClaim")
        template["spec"].setdefault("volumeMode", "Filesystem")
        template.setdefault("status", {"phase": "Pending"})
    return body


def stored_claim(claim: dict[str, Any]) -> None:
    """A claim's size as the API server writes it back."""
    requests = claim["spec"]["resources"]["requests"]
    requests["storage"] = STORED_SIZES[requests["storage"]]


def edited(body: dict[str, Any], manager: str, path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """`body` after another manager set the field at `path` (a number: a list's item) to
    `value`: the API server moves the field from the operator to that manager."""
    body = copy.deepcopy(body)
    target: Any = body
    ours = body["metadata"]["managedFields"][0]["fieldsV1"]
    for step in path[:-1]:
        if step.isdigit():
            item = target[int(step)]
            ours = ours[next(k for k in ours if json.loads(k[2:]).items() <= item.items())]
            target = item
        else:
            target, ours = target[step], ours[f"f:{step}"]
    target[path[-1]] = value
    del ours[f"f:{path[-1]}"]
    theirs = {"manager": manager, "operation": "Update", "fieldsV1": {}}
    body["metadata"]["managedFields"].append(theirs)
    return body


def production() -> ResolvedEnvironment:
    return env_of({"tier": "production"})


def promoted(image: str) -> AppRollout:
    """Blue serving `image` after a promotion, green kept as the standby."""
    return AppRollout(
        active=Color.BLUE,
        colors={
            Color.BLUE: ColorRollout(image=image, replicas=2),
            Color.GREEN: ColorRollout(image="shop:0", replicas=2),
        },
    )


def applied(child: Child) -> Manifest:
    """The manifest the operator sends for `child` (owner set, replicas its own)."""
    assert child.manifest is not None
    return yield_replicas(owned(child.manifest, OWNER), None)


def served(env: ResolvedEnvironment, rollout: AppRollout) -> dict[tuple[str, str], ChildSummary]:
    """The app children as the watches summarise them once the operator applied `rollout`."""
    return {
        (c.kind, c.name): summarize(c.kind, as_served(applied(c)))
        for c in app_children(env, rollout)
        if c.manifest is not None
    }


@pytest.mark.parametrize("tier", ["development", "staging", "production"])
def test_every_app_child_as_served_holds_its_rendered_manifest_after_a_restart(tier: str) -> None:
    env = env_of({"tier": tier})
    rollout = promoted("shop:1") if env.blue_green else AppRollout(image="shop:1")
    live = served(env, rollout)
    children = [c for c in app_children(env, rollout) if c.manifest is not None]
    assert {c.kind for c in children} == {"Service", "Deployment"}
    for child in children:
        assert holds(live[(child.kind, child.name)], None, applied(child)), child.name


def test_a_child_controllers_wrote_to_still_holds_it() -> None:
    # The Deployment controller's status and revision annotation, a rollout restart's stamp:
    # fields of other managers, not a change of ours.
    env = production()
    (blue,) = [c for c in app_children(env, promoted("shop:1")) if c.name == BLUE]
    body = as_served(applied(blue))
    body["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "4"}
    body["metadata"]["generation"] = 4
    body["metadata"]["resourceVersion"] = "57"
    body["spec"]["template"]["metadata"]["annotations"] = {"kubectl.kubernetes.io/restartedAt": "x"}
    body["status"] = {"observedGeneration": 4, "readyReplicas": 2}
    assert holds(summarize("Deployment", body), None, applied(blue))


@pytest.mark.parametrize(
    ("name", "manager", "path", "value"),
    [
        (
            BLUE,
            "kubectl-set",
            ("spec", "template", "spec", "containers", "0", "image"),
            "x:9",
        ),
        (BLUE, "kubectl-edit", ("spec", "revisionHistoryLimit"), 1),
        (ACTIVE, "kubectl-edit", ("spec", "selector"), {COLOR: "green"}),
        (ACTIVE, "kubectl-label", ("metadata", "labels", TIER), "staging"),
    ],
)
def test_a_field_of_ours_someone_else_changed_is_written_back(
    name: str, manager: str, path: tuple[str, ...], value: Any
) -> None:
    env = production()
    (child,) = [c for c in app_children(env, promoted("shop:1")) if c.name == name]
    drifted = edited(as_served(applied(child)), manager, path, value)
    assert not holds(summarize(child.kind, drifted), None, applied(child))


def test_a_new_image_writes_its_colour_and_a_switch_writes_the_services() -> None:
    env = production()
    names = env.names
    live = served(env, promoted("shop:1"))

    def written(rollout: AppRollout) -> set[str]:
        return {
            c.name
            for c in app_children(env, rollout)
            if c.manifest is not None and not holds(live[(c.kind, c.name)], None, applied(c))
        }

    assert written(promoted("shop:2")) == {names.color_deployment("blue")}
    switched = promoted("shop:1").model_copy(update={"active": Color.GREEN})
    assert written(switched) == {names.app_service, names.preview_service}


def test_a_summary_older_than_our_last_write_is_written_over() -> None:
    # The watches have not reported our last write yet: what they show says nothing of
    # what the child holds now.
    env = production()
    live = served(env, promoted("shop:1"))
    (service,) = [c for c in app_children(env, promoted("shop:1")) if c.name == ACTIVE]
    seen = live[("Service", ACTIVE)]
    assert holds(seen, seen.version, applied(service))
    assert not holds(seen, "applied:0123456789abcdef", applied(service))
    deleting = ChildSummary(kind="Service", name=ACTIVE, version=seen.version, deleting=True)
    assert not holds(deleting, None, applied(service))


def test_converge_over_children_that_hold_it_sends_nothing_but_writes_a_drifted_one() -> None:
    env = production()
    rollout = promoted("shop:1")
    children = app_children(env, rollout)
    live = served(env, rollout)
    api = FakeApi()
    written = asyncio.run(
        converge(api.client(), env, children, live, OWNER, check_names=False, ours={})
    )
    assert api.calls == []
    assert written == live
    (blue,) = [c for c in children if c.name == BLUE]
    path = ("spec", "template", "spec", "containers", "0", "image")
    drifted = summarize("Deployment", edited(as_served(applied(blue)), "kubectl-set", path, "x"))
    asyncio.run(
        converge(
            api.client(),
            env,
            children,
            {**live, ("Deployment", BLUE): drifted},
            OWNER,
            check_names=False,
            ours={},
        )
    )
    assert [(c.verb, c.name) for c in api.calls] == [("apply", BLUE)]


def volume_children(env: ResolvedEnvironment, **sizes: str) -> list[Child]:
    """The StatefulSets and the backups claim, their volumes at `sizes` (a Volume's name:
    a held size) where given."""
    held = {Volume(volume): size for volume, size in sizes.items()}
    kinds = ("StatefulSet", "PersistentVolumeClaim")
    return [c for c in data_children(env, held) if c.manifest is not None and c.kind in kinds]


DATA_SPECS = {
    # Sizes the API server writes back in another form: 1024Mi (Redis's, twice 512Mi) as 1Gi.
    "development": {
        "tier": "development",
        "postgres": {"storage": "1024Mi"},
        "redis": {"maxMemory": "512Mi", "persistence": "snapshot"},
    },
    "staging": {"tier": "staging"},
    "production": {"tier": "production"},
}


@pytest.mark.parametrize("tier", sorted(DATA_SPECS))
def test_every_statefulset_and_claim_as_served_holds_its_rendered_manifest_after_a_restart(
    tier: str,
) -> None:
    env = env_of(DATA_SPECS[tier])
    children = volume_children(env)
    assert {c.kind for c in children} >= {"StatefulSet"}
    for child in children:
        live = summarize(child.kind, as_served(applied(child)))
        assert holds(live, None, applied(child)), child.name


def test_a_volume_grown_or_held_at_its_live_size_is_written_only_when_it_changes() -> None:
    env = env_of(DATA_SPECS["development"])
    live = {
        (c.kind, c.name): summarize(c.kind, as_served(applied(c))) for c in volume_children(env)
    }

    def written(children: list[Child]) -> set[str]:
        return {c.name for c in children if not holds(live[(c.kind, c.name)], None, applied(c))}

    grown = env_of(DATA_SPECS["development"] | {"postgres": {"storage": "1536Mi"}})
    names = env.names
    assert written(volume_children(grown)) == {names.postgres, names.backups_pvc}
    # Held at the live claims' sizes (a growth the StorageClass refuses), nothing changes.
    held = volume_children(grown, postgres="1Gi", backups="1Gi")
    assert written(held) == set()
