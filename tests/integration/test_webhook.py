"""Deploy on push, end to end on the real control plane (issue 18): signed deliveries to
`tierkeeper webhook` move the bound Release, and the operator rolls it out as if a
person had applied it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.k8s import Api, eventually
from tests.integration.operator_process import OperatorProcess, scrape, total
from tests.integration.releases import (
    ENV,
    active_color,
    deployment_image,
    environment,
    phase_is,
    release,
    release_status,
    rollout_state,
    traffic_guard,
)
from tests.integration.webhook import (
    MANAGER,
    SHA,
    HookProcess,
    deploy_events,
    managers,
    push,
    with_deploy,
    workflow_run,
)

pytestmark = pytest.mark.integration

TEMPLATE = "shop:sha-{sha}"


@pytest.fixture
def hook(cluster: Any, namespace: str, tmp_path: Path) -> Iterator[HookProcess]:
    process = HookProcess(Path(cluster.kubeconfig), namespace, tmp_path)
    process.start()
    yield process
    process.stop()


def test_successful_workflow_run_on_main_rolls_production_out_blue_green(
    api: Api, namespace: str, operator: OperatorProcess, hook: HookProcess
) -> None:
    api.apply(with_deploy(environment(), imageTemplate=TEMPLATE), namespace)
    api.apply(release("shop:1", source={"branch": "main"}), namespace)
    eventually(lambda: phase_is(api, namespace, "Promoted", "shop:1"), timeout=120, what="first")
    assert active_color(api, namespace) == "blue"
    image = f"shop:sha-{SHA}"
    with traffic_guard(api, namespace) as violations:
        status, answer = hook.send("workflow_run", workflow_run("main"), delivery="run-ok")
        assert (status, answer["outcome"]) == (200, "deployed"), answer
        assert answer["releases"] == [f"{namespace}/{ENV}"]
        eventually(
            lambda: phase_is(api, namespace, "Promoted", image),
            timeout=120,
            what="promoted to the templated image",
            explain=lambda: rollout_state(api, namespace),
        )
    assert violations == []
    assert active_color(api, namespace) == "green"
    assert deployment_image(api, namespace, "green") == image
    spec = (api.get("Release", namespace, ENV) or {})["spec"]
    assert spec["source"] == {
        "branch": "main",
        "commit": SHA,
        "url": "https://github.com/acme/shop/actions/runs/1",
    }
    assert MANAGER in managers(api, namespace, ENV)
    history = release_status(api, namespace)["history"]
    assert [(h["image"], h["outcome"]) for h in history][-1] == (image, "Promoted")
    (message,) = deploy_events(api, namespace, ENV)
    assert "workflow_run delivery run-ok of acme/shop main" in message and image in message
    samples = scrape(hook.metrics_port)
    assert total(samples, "tierkeeper_webhook_deliveries_total", outcome="deployed") == 1
    assert total(samples, "tierkeeper_webhook_spec_update_seconds_count") == 1
    # The hook followed the Release until traffic was on the image.
    eventually(
        lambda: (
            total(
                scrape(hook.metrics_port),
                "tierkeeper_webhook_traffic_seconds_count",
                outcome="active",
            )
            == 1
        ),
        timeout=10,
        what="event-to-traffic observed",
    )


def test_failed_workflow_run_deploys_nothing(
    api: Api, namespace: str, operator: OperatorProcess, hook: HookProcess
) -> None:
    api.apply(with_deploy(environment(), imageTemplate=TEMPLATE), namespace)
    api.apply(release("shop:1"), namespace)
    eventually(lambda: phase_is(api, namespace, "Promoted", "shop:1"), timeout=120, what="first")
    before = api.get("Release", namespace, ENV) or {}
    status, answer = hook.send("workflow_run", workflow_run("main", conclusion="failure"))
    assert (status, answer["outcome"]) == (202, "not_successful")
    after = api.get("Release", namespace, ENV) or {}
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"] == before["spec"]
    assert MANAGER not in managers(api, namespace, ENV)
    assert deploy_events(api, namespace, ENV) == []


def development() -> dict[str, Any]:
    return {
        "apiVersion": "tierkeeper.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": ENV},
        "spec": {
            "tier": "development",
            "deploy": {
                "repository": "acme/shop",
                "imageTemplate": "shop:{branch}-{shortSha}",
                "waitForCI": False,
            },
        },
    }


def test_push_to_develop_deploys_development_at_once_without_waiting_for_ci(
    api: Api, namespace: str, operator: OperatorProcess, hook: HookProcess
) -> None:
    api.apply(development(), namespace)
    api.apply(release("shop:1"), namespace)
    eventually(lambda: phase_is(api, namespace, "Promoted", "shop:1"), timeout=120, what="first")
    status, answer = hook.send("push", push("develop"))
    assert (status, answer["outcome"]) == (200, "deployed"), answer
    image = f"shop:develop-{SHA[:7]}"
    eventually(
        lambda: phase_is(api, namespace, "Promoted", image),
        timeout=120,
        what="development rolled to the pushed commit",
        explain=lambda: release_status(api, namespace),
    )
    app = api.get("Deployment", namespace, f"{ENV}-app") or {}
    assert app["spec"]["template"]["spec"]["containers"][0]["image"] == image


def staging() -> dict[str, Any]:
    """A staging Environment with no branch of its own: the tier's, `staging`."""
    return {
        "apiVersion": "tierkeeper.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": ENV},
        "spec": {"tier": "staging", "deploy": {"repository": "acme/shop"}},
    }


def test_generic_call_and_published_image_set_the_image_they_name(
    api: Api, namespace: str, hook: HookProcess
) -> None:
    api.apply(staging(), namespace)
    api.apply(release("shop:1"), namespace)
    call = {
        "repository": "acme/shop",
        "branch": "staging",
        "commit": SHA,
        "image": "registry.example/shop@sha256:" + "a" * 64,
        "timestamp": int(time.time()),
    }
    status, answer = hook.send("", call, path="/deploy")
    assert (status, answer["outcome"]) == (200, "deployed"), answer
    spec = (api.get("Release", namespace, ENV) or {})["spec"]
    assert spec["image"] == call["image"]
    assert spec["source"] == {"branch": "staging", "commit": SHA}

    published = {
        "action": "published",
        "repository": {"full_name": "acme/shop"},
        "package": {
            "package_type": "CONTAINER",
            "package_version": {
                "target_commitish": "staging",
                "package_url": "ghcr.io/Acme/shop:",
                "container_metadata": {"tag": {"name": "sha-abc", "digest": "sha256:00"}},
            },
        },
    }
    status, answer = hook.send("registry_package", published)
    assert (status, answer["outcome"]) == (200, "deployed"), answer
    spec = (api.get("Release", namespace, ENV) or {})["spec"]
    assert spec["image"] == "ghcr.io/acme/shop:sha-abc"
    assert spec["source"] == {"branch": "staging"}, "the commit of the last call is not kept"
