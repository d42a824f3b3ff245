"""What Release tests share: the documents, readings of the cluster, the traffic guard."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.integration.k8s import Api, eventually
from tests.integration.serving import guarding
from tierkeeper.models.names import ChildNames

ENV = "shop"
NAMES = ChildNames(ENV)
COLOR = "tierkeeper.dev/color"
# The apps' health check in tests: a probe a second. The stand-in that answers it is a
# thread of the test process, and a loaded machine can hold its answer past a second;
# production's strict check would take that one slow answer for a failure and roll back.
HEALTH_CHECK = {"intervalSeconds": 1, "timeoutSeconds": 5}


def environment(**blue_green: Any) -> dict[str, Any]:
    return {
        "apiVersion": "tierkeeper.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": ENV},
        "spec": {
            "tier": "production",
            "branch": "main",
            "postgres": {"provider": "builtin", "instances": 1},
            "app": {"healthCheck": HEALTH_CHECK},
            "strategy": {
                "blueGreen": {
                    "postPromotionSeconds": 3,
                    "progressDeadlineSeconds": 120,
                    **blue_green,
                }
            },
        },
    }


def release(image: str, *, name: str = ENV, **spec: Any) -> dict[str, Any]:
    """The Release `name` of the Environment of the same name."""
    return {
        "apiVersion": "tierkeeper.dev/v1alpha1",
        "kind": "Release",
        "metadata": {"name": name},
        "spec": {"environment": name, "image": image, **spec},
    }


def release_status(api: Api, namespace: str, name: str = ENV) -> dict[str, Any]:
    return (api.get("Release", namespace, name) or {}).get("status") or {}


def phase(api: Api, namespace: str, name: str = ENV) -> tuple[str | None, str | None]:
    status = release_status(api, namespace, name)
    return status.get("phase"), status.get("targetImage")


def phase_is(api: Api, namespace: str, phase: str, image: str | None = None) -> bool:
    status = release_status(api, namespace)
    return status.get("phase") == phase and (image is None or status.get("targetImage") == image)


def active_color(api: Api, namespace: str) -> str | None:
    service = api.get("Service", namespace, NAMES.app_service)
    color: str | None = ((service or {}).get("spec") or {}).get("selector", {}).get(COLOR)
    return color


def rollout_state(api: Api, namespace: str) -> dict[str, Any]:
    """The Release's phase and each colour's Deployment, for a failure message."""
    colors = {}
    for color in ("blue", "green"):
        body = api.get("Deployment", namespace, NAMES.color_deployment(color)) or {}
        spec, status = body.get("spec") or {}, body.get("status") or {}
        colors[color] = {
            "image": spec.get("template", {})
            .get("spec", {})
            .get("containers", [{}])[0]
            .get("image"),
            "replicas": spec.get("replicas"),
            "generation": body.get("metadata", {}).get("generation"),
            "status": status,
        }
    status = release_status(api, namespace)
    return {
        "phase": status.get("phase"),
        "targetImage": status.get("targetImage"),
        "conditions": [
            (c.get("type"), c.get("status"), c.get("reason"), c.get("message"))
            for c in status.get("conditions") or []
        ],
        "rollout": status.get("rollout"),
        "colors": colors,
    }


def deployment_image(api: Api, namespace: str, color: str) -> str | None:
    deployment = api.get("Deployment", namespace, NAMES.color_deployment(color))
    return deployment["spec"]["template"]["spec"]["containers"][0]["image"] if deployment else None


def first_release(api: Api, namespace: str, image: str = "shop:1", **bg: Any) -> None:
    api.apply(environment(**bg), namespace)
    api.apply(release(image), namespace)
    eventually(
        lambda: phase_is(api, namespace, "Promoted", image), timeout=120, what="first release"
    )


@contextmanager
def traffic_guard(api: Api, namespace: str) -> Iterator[list[str]]:
    """Watch the active Service the whole time: never an empty selector, never a colour
    whose pods are not all Ready."""

    def look() -> str | None:
        color = active_color(api, namespace)
        if not color:
            return "active Service selects no colour"
        deployment = api.get("Deployment", namespace, NAMES.color_deployment(color)) or {}
        wanted = (deployment.get("spec") or {}).get("replicas", 0)
        ready = (deployment.get("status") or {}).get("readyReplicas") or 0
        if wanted == 0 or ready < wanted:
            return f"active Service selects {color} with {ready}/{wanted} Ready"
        return None

    with guarding(look) as violations:
        yield violations
