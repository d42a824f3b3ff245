"""Conflicts with other writers (issue 9): fields we own are taken back, and say so; fields
others own are left alone; an Environment whose children's names are another's is refused."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.integration.k8s import Api, condition, eventually, is_true
from tests.integration.operator_process import OperatorProcess
from tierkeeper.models.names import ChildNames

pytestmark = pytest.mark.integration

KINDS = ("Deployment", "StatefulSet", "Service", "ConfigMap", "CronJob", "Secret")
PVC_KIND = "PersistentVolumeClaim"


def environment(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "tierkeeper.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": name},
        "spec": {"tier": "development", **spec},
    }


def ready(api: Api, namespace: str, name: str) -> bool:
    return is_true(api.get("Environment", namespace, name), "Ready")


def reconciled(api: Api, namespace: str, name: str) -> bool:
    env = api.get("Environment", namespace, name) or {}
    return (env.get("status") or {}).get("observedGeneration") == env["metadata"]["generation"]


def refusal(env: dict[str, Any] | None) -> str | None:
    """The reason of the Environment's Ready condition."""
    return (condition(env, "Ready") or {}).get("reason")


def warnings(api: Api, namespace: str, reason: str) -> list[dict[str, Any]]:
    return [
        e for e in api.list("Event", namespace) if e["type"] == "Warning" and e["reason"] == reason
    ]


def redis_conf(api: Api, namespace: str, env: str) -> str:
    config = api.get("ConfigMap", namespace, ChildNames(env).redis_config) or {}
    conf: str = (config.get("data") or {}).get("redis.conf", "")
    return conf


def test_field_we_own_edited_by_another_manager_is_taken_back_with_a_warning_event(
    api: Api, namespace: str, operator: OperatorProcess
) -> None:
    api.apply(environment("shop"), namespace)
    eventually(lambda: ready(api, namespace, "shop"), timeout=90, what="Ready")
    ours = redis_conf(api, namespace, "shop")
    assert "maxmemory" in ours
    config = ChildNames("shop").redis_config
    api.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": config},
            "data": {"redis.conf": "maxmemory 1\n"},
        },
        namespace,
        manager="helm",
    )
    eventually(lambda: redis_conf(api, namespace, "shop") == ours, what="redis.conf taken back")
    events = eventually(lambda: warnings(api, namespace, "FieldsTakenBack"), what="Warning Event")
    assert config in events[0]["message"] and "helm" in events[0]["message"]
    owners = {
        entry["manager"]
        for entry in (api.get("ConfigMap", namespace, config) or {})["metadata"]["managedFields"]
        if "f:redis.conf" in (entry.get("fieldsV1") or {}).get("f:data", {})
    }
    assert owners == {"tierkeeper"}


def test_fields_only_other_managers_set_survive_a_full_reconcile(
    api: Api, namespace: str, operator: OperatorProcess
) -> None:
    names = ChildNames("shop")
    api.apply(environment("shop"), namespace)
    eventually(lambda: ready(api, namespace, "shop"), timeout=90, what="Ready")
    # A service mesh labels the Service, `kubectl rollout restart` stamps the pod template,
    # and someone adds a second file to the redis ConfigMap.
    api.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": names.app_service, "labels": {"mesh.example/injected": "yes"}},
        },
        namespace,
        manager="mesh",
    )
    restarted = "2026-01-01T00:00:00Z"
    api.patch(
        "StatefulSet",
        namespace,
        names.redis,
        {
            "spec": {
                "template": {
                    "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": restarted}}
                }
            }
        },
    )
    api.patch("ConfigMap", namespace, names.redis_config, {"data": {"extra.conf": "# theirs"}})
    # The API server holds the edits now, so the full reconcile of the new generation
    # applies over them, whether or not the operator's watches have shown them to it yet.
    api.apply(environment("shop", redis={"maxMemory": "256Mi"}), namespace)
    eventually(
        lambda: "maxmemory 268435456" in redis_conf(api, namespace, "shop"),
        what="the change applied",
    )
    eventually(lambda: reconciled(api, namespace, "shop"), what="new generation reconciled")
    service = api.get("Service", namespace, names.app_service) or {}
    assert service["metadata"]["labels"].get("mesh.example/injected") == "yes"
    statefulset = api.get("StatefulSet", namespace, names.redis) or {}
    template = statefulset["spec"]["template"]["metadata"]
    assert (template.get("annotations") or {}).get("kubectl.kubernetes.io/restartedAt") == restarted
    config = api.get("ConfigMap", namespace, names.redis_config) or {}
    assert config["data"].get("extra.conf") == "# theirs"
    assert warnings(api, namespace, "FieldsTakenBack") == []


LONG = "checkout-" + "x" * 60  # its children's names are shortened to a prefix and a hash


@pytest.mark.parametrize(
    ("first", "second", "collided"),
    [
        # An Environment named as "shop"'s redis Service: its app Service is that one.
        ("shop", ChildNames("shop").redis, ("Service", ChildNames("shop").redis)),
        # A name equal to another's shortened one: its app Service is the other's.
        (LONG, ChildNames(LONG).app_service, ("Service", ChildNames(LONG).app_service)),
    ],
    ids=["suffix", "shortened"],
)
def test_environment_whose_children_collide_with_anothers_is_refused_until_they_are_gone(
    api: Api,
    namespace: str,
    operator: OperatorProcess,
    first: str,
    second: str,
    collided: tuple[str, str],
) -> None:
    api.apply(environment(first), namespace)
    eventually(lambda: ready(api, namespace, first), timeout=90, what=f"{first} Ready")
    before = copy.deepcopy(api.get(collided[0], namespace, collided[1]))
    assert before is not None
    api.apply(environment(second), namespace)
    refused = eventually(
        lambda: (
            env
            if refusal(env := api.get("Environment", namespace, second)) == "ChildNameTaken"
            else None
        ),
        what="refusal",
    )
    message = (condition(refused, "Ready") or {})["message"]
    assert collided[1] in message and first in message
    eventually(lambda: warnings(api, namespace, "ChildNameTaken"), what="Warning Event")
    # Refused again for a new generation: the operator has looked at the refused Environment
    # twice, and the refusal is recorded after its decision, so nothing of it was written.
    api.apply(environment(second, app={"replicas": 2}), namespace)
    eventually(
        lambda: (
            reconciled(api, namespace, second)
            and refusal(api.get("Environment", namespace, second)) == "ChildNameTaken"
        ),
        what="the new generation refused",
    )
    after = api.get(collided[0], namespace, collided[1]) or {}
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert [o["name"] for o in after["metadata"]["ownerReferences"]] == [first]
    second_label = ChildNames(second).instance_label
    for kind in (*KINDS, PVC_KIND):
        for item in api.list(kind, namespace):
            owners = [o["name"] for o in item["metadata"].get("ownerReferences") or []]
            labels = item["metadata"].get("labels") or {}
            assert second not in owners, (kind, item["metadata"]["name"])
            assert labels.get("app.kubernetes.io/instance") != second_label or (
                second_label == ChildNames(first).instance_label
            ), (kind, item["metadata"]["name"])
    assert ready(api, namespace, first)

    # The other Environment goes (development: everything with it): the name is free.
    api.delete("Environment", namespace, first)
    eventually(lambda: ready(api, namespace, second), timeout=120, what=f"{second} Ready")


def test_object_of_another_controller_outside_our_labels_is_never_written_over(
    api: Api, namespace: str, operator: OperatorProcess
) -> None:
    """Our watches see only tierkeeper's children: a foreign object with a child's name is
    found by the write itself (a second controller is refused by the API server) and the
    Environment is refused, the object left exactly as it was."""
    owner = api.apply(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "their-owner"}}, namespace
    )
    reference = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "their-owner",
        "uid": owner["metadata"]["uid"],
        "controller": True,
    }
    name = ChildNames("shop").redis_config
    api.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "ownerReferences": [reference]},
            "data": {"theirs": "yes"},
        },
        namespace,
        manager="someone-else",
    )
    before = api.get("ConfigMap", namespace, name) or {}
    api.apply(environment("shop"), namespace)
    refused = eventually(
        lambda: (
            env
            if refusal(env := api.get("Environment", namespace, "shop")) == "ChildNameTaken"
            else None
        ),
        what="refusal",
    )
    message = (condition(refused, "Ready") or {})["message"]
    assert name in message and "their-owner" in message
    after = api.get("ConfigMap", namespace, name) or {}
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert warnings(api, namespace, "FieldsTakenBack") == []
