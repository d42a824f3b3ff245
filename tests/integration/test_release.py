"""Releases against the real control plane: blue-green with gates, standby, rollbacks (issue 5)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.integration.k8s import Api, condition, eventually, instance_selector, is_true
from tests.integration.operator_process import (
    HealthServer,
    OperatorProcess,
    child_applies,
    scrape,
    total,
)
from tests.integration.releases import (
    COLOR,
    ENV,
    NAMES,
    active_color,
    deployment_image,
    environment,
    first_release,
    phase_is,
    release,
    release_status,
    rollout_state,
    traffic_guard,
)

pytestmark = pytest.mark.integration


def replicas(api: Api, namespace: str, color: str) -> int | None:
    deployment = api.get("Deployment", namespace, NAMES.color_deployment(color)) or {}
    wanted: int | None = (deployment.get("spec") or {}).get("replicas")
    return wanted


def observed_current(api: Api, namespace: str) -> dict[str, Any]:
    """The Release once the operator has recorded its current generation: it has looked at
    the latest spec (a status write, made even when the spec starts nothing)."""
    return eventually(
        lambda: (
            found
            if (found := api.get("Release", namespace, ENV))
            and (found.get("status") or {}).get("observedGeneration")
            == found["metadata"]["generation"]
            else None
        ),
        timeout=60,
        what="Release's generation observed",
    )


def test_blue_green_switches_only_after_green_is_available_and_healthy(
    api: Api, namespace: str, operator: OperatorProcess, health: HealthServer
) -> None:
    first_release(api, namespace)
    assert active_color(api, namespace) == "blue"
    with traffic_guard(api, namespace) as violations:
        api.apply(release("shop:2"), namespace)
        eventually(
            lambda: phase_is(api, namespace, "Promoted", "shop:2"), timeout=120, what="promoted"
        )
    assert violations == []
    assert active_color(api, namespace) == "green"
    assert deployment_image(api, namespace, "green") == "shop:2"
    assert health.hits.get(NAMES.preview_service, 0) >= 3, "the gate probed the preview Service"
    status = release_status(api, namespace)
    assert (status["activeColor"], status["activeImage"], status["previousImage"]) == (
        "green",
        "shop:2",
        "shop:1",
    )
    assert status["standbyUntil"]
    assert [h["outcome"] for h in status["history"]] == ["Promoted", "Promoted"]
    env = api.get("Environment", namespace, ENV)
    assert env is not None and env["status"]["activeColor"] == "green"


def test_failing_health_gate_keeps_traffic_on_blue_and_fails(
    api: Api, namespace: str, operator: OperatorProcess, health: HealthServer
) -> None:
    first_release(api, namespace)
    health.codes[NAMES.preview_service] = 503
    api.apply(release("shop:2"), namespace)
    eventually(lambda: phase_is(api, namespace, "Failed", "shop:2"), timeout=120, what="Failed")
    assert active_color(api, namespace) == "blue"
    release_obj = api.get("Release", namespace, ENV)
    assert condition(release_obj, "Ready")["reason"] == "RolloutFailed"  # type: ignore[index]
    assert condition(release_obj, "Healthy")["status"] == "False"  # type: ignore[index]
    eventually(
        lambda: replicas(api, namespace, "green") == 0,
        what="failed colour scaled to zero",
    )


def test_post_promotion_failure_switches_back_to_blue(
    api: Api, namespace: str, operator: OperatorProcess, health: HealthServer
) -> None:
    first_release(api, namespace)
    health.codes[NAMES.app_service] = 500  # only post-promotion checks probe the active Service
    api.apply(release("shop:2"), namespace)
    eventually(lambda: phase_is(api, namespace, "RolledBack"), timeout=120, what="RolledBack")
    # The decision is recorded in the status before the Service is switched back.
    eventually(lambda: active_color(api, namespace) == "blue", timeout=10, what="switched back")
    status = release_status(api, namespace)
    assert status["refusedImage"] == "shop:2"
    assert status["history"][-1]["outcome"] == "RolledBack"
    # The refused image asked for again (new provenance): looked at, and not retried.
    api.apply(release("shop:2", source={"commit": "c0ffee"}), namespace)
    observed_current(api, namespace)
    assert phase_is(api, namespace, "RolledBack", "shop:2"), "a rolled-back image is not retried"
    assert active_color(api, namespace) == "blue"
    assert replicas(api, namespace, "green") == 0


def test_manual_promotion_waits_for_promote(
    api: Api, namespace: str, operator: OperatorProcess
) -> None:
    first_release(api, namespace)
    api.apply(release("shop:2", promotion="Manual"), namespace)
    eventually(lambda: phase_is(api, namespace, "AwaitingPromotion"), timeout=120, what="awaiting")
    assert active_color(api, namespace) == "blue"
    # A spec change that does not promote: looked at, and still waiting.
    api.apply(release("shop:2", promotion="Manual", source={"commit": "c0ffee"}), namespace)
    observed_current(api, namespace)
    assert phase_is(api, namespace, "AwaitingPromotion", "shop:2")
    assert active_color(api, namespace) == "blue"
    api.apply(release("shop:2", promotion="Manual", promote=True), namespace)
    eventually(lambda: active_color(api, namespace) == "green", timeout=60, what="switched")
    eventually(lambda: phase_is(api, namespace, "Promoted", "shop:2"), timeout=60, what="promoted")


def pod_uids(api: Api, namespace: str) -> set[str]:
    return {
        p["metadata"]["uid"]
        for p in api.list(
            "Pod", namespace, f"{instance_selector(ENV)},app.kubernetes.io/component=app"
        )
    }


def test_revert_inside_window_switches_back_without_new_pods_and_standby_expires(
    api: Api, namespace: str, operator: OperatorProcess
) -> None:
    first_release(api, namespace, rollbackWindow="40s")
    api.apply(release("shop:2"), namespace)
    eventually(lambda: phase_is(api, namespace, "Promoted", "shop:2"), timeout=120, what="promoted")
    pods = pod_uids(api, namespace)
    with traffic_guard(api, namespace) as violations:
        api.apply(release("shop:1"), namespace)
        eventually(
            lambda: active_color(api, namespace) == "blue", timeout=10, what="instant switch back"
        )
    assert violations == []
    assert pod_uids(api, namespace) == pods, "no pod was started or stopped for the rollback"
    assert phase_is(api, namespace, "Promoted", "shop:1")
    eventually(
        lambda: replicas(api, namespace, "green") == 0,
        timeout=90,
        what="standby scaled to zero after the window",
    )


def test_rollback_annotation_switches_to_standby(
    api: Api, namespace: str, operator: OperatorProcess
) -> None:
    first_release(api, namespace)
    api.apply(release("shop:2"), namespace)
    eventually(lambda: phase_is(api, namespace, "Promoted", "shop:2"), timeout=120, what="promoted")
    api.patch(
        "Release",
        namespace,
        ENV,
        {"metadata": {"annotations": {"tierkeeper.dev/rollback": "true"}}},
    )
    eventually(
        lambda: active_color(api, namespace) == "blue", timeout=30, what="emergency rollback"
    )
    eventually(lambda: phase_is(api, namespace, "RolledBack"), what="RolledBack")
    annotations = (api.get("Release", namespace, ENV) or {})["metadata"].get("annotations") or {}
    assert "tierkeeper.dev/rollback" not in annotations


STEPS = ["BackingUp", "Deploying", "Verifying", "Switched"]


@pytest.mark.parametrize("step", STEPS)
def test_operator_killed_at_a_step_resumes_and_finishes(
    api: Api, namespace: str, operator: OperatorProcess, step: str
) -> None:
    first_release(api, namespace)
    with traffic_guard(api, namespace) as violations:
        api.apply(release("shop:2"), namespace)
        if step == "Switched":
            eventually(
                lambda: active_color(api, namespace) == "green",
                timeout=120,
                what=step,
                explain=lambda: rollout_state(api, namespace),
            )
        else:
            api.watch_until(
                "Release",
                namespace,
                ENV,
                lambda obj: (
                    (obj.get("status") or {}).get("phase") == step
                    and (obj.get("status") or {}).get("targetImage") == "shop:2"
                ),
            )
        operator.kill()
        operator.start()
        eventually(
            lambda: phase_is(api, namespace, "Promoted", "shop:2"), timeout=120, what="finished"
        )
    assert violations == []
    assert active_color(api, namespace) == "green"
    green = [d for d in api.list("Deployment", namespace, instance_selector(ENV))]
    assert sorted(d["metadata"]["name"] for d in green) == [
        NAMES.color_deployment("blue"),
        NAMES.color_deployment("green"),
    ]
    # The backup before the switch: one Job, the one the status names, killed or not.
    backup = release_status(api, namespace)["preSwitchBackup"]
    jobs = [j["metadata"]["name"] for j in api.list("Job", namespace, instance_selector(ENV))]
    assert [name for name in jobs if "-preswitch-" in name] == [backup["name"]]
    assert backup["outcome"] == "Succeeded"


def app_children(api: Api, namespace: str) -> dict[str, tuple[str, Any]]:
    """Each app Service and Deployment: its resourceVersion and managedFields."""
    return {
        f"{kind} {item['metadata']['name']}": (
            item["metadata"]["resourceVersion"],
            item["metadata"]["managedFields"],
        )
        for kind in ("Service", "Deployment")
        for item in api.list(kind, namespace, instance_selector(ENV))
    }


def settled_app(api: Api, namespace: str) -> dict[str, tuple[str, Any]]:
    """The app children once the controllers have stopped writing their status."""

    def unchanged() -> dict[str, tuple[str, Any]] | None:
        first = app_children(api, namespace)
        time.sleep(2)
        return first if app_children(api, namespace) == first else None

    return eventually(unchanged, timeout=60, what="app children settle")


def first_converge(port: int) -> dict[str, float] | None:
    """What the operator serving /metrics on `port` has done, once its first converge of
    the Environment has looked at the four app children and its Release has stepped."""
    try:
        samples = scrape(port)
    except OSError:
        return None
    held, applied = child_applies(port)
    done = {
        "held": held,
        "applied": applied,
        "patches": total(samples, "tierkeeper_api_requests_total", method="PATCH"),
        "environments": total(samples, "tierkeeper_reconcile_total", kind="Environment"),
        "releases": total(samples, "tierkeeper_reconcile_total", kind="Release"),
    }
    return done if held + applied >= 4 and done["environments"] and done["releases"] else None


def test_restart_over_a_promoted_release_writes_nothing_and_drift_after_it_is_put_back(
    api: Api, namespace: str, operator: OperatorProcess, health: HealthServer
) -> None:
    # The data services off: the app's two Services and two Deployments are all its
    # children, so that any write a restart sends is one of theirs or a status write.
    doc = environment()
    doc["spec"] |= {"postgres": {"enabled": False}, "redis": {"enabled": False}}
    api.apply(doc, namespace)
    api.apply(release("shop:1"), namespace)
    eventually(lambda: phase_is(api, namespace, "Promoted", "shop:1"), timeout=120, what="shop:1")
    # A second Release: green serves shop:2, blue stands by with shop:1.
    api.apply(release("shop:2"), namespace)
    eventually(lambda: phase_is(api, namespace, "Promoted", "shop:2"), timeout=120, what="shop:2")
    eventually(lambda: is_true(api.get("Environment", namespace, ENV), "Ready"), what="Ready")
    before = settled_app(api, namespace)
    assert len(before) == 4, before
    objects = {kind: api.get(kind, namespace, ENV) for kind in ("Environment", "Release")}
    operator.stop()
    operator.start()
    done = eventually(
        lambda: first_converge(operator.metrics_port), timeout=60, what="the first converge"
    )
    assert done["held"] == 4 and done["applied"] == 0 and done["patches"] == 0, done
    assert app_children(api, namespace) == before
    for kind, body in objects.items():
        now = api.get(kind, namespace, ENV)
        assert (
            now
            and body
            and now["metadata"]["resourceVersion"] == body["metadata"]["resourceVersion"]
        ), kind
    # Drift after the restart: the active Service pointed at the standby by hand, the
    # serving colour's image changed by another manager. Both are put back.
    api.patch("Service", namespace, NAMES.app_service, {"spec": {"selector": {COLOR: "blue"}}})
    green = NAMES.color_deployment("green")
    api.set_image("Deployment", namespace, green, "app", "shop:drifted", manager="someone")
    eventually(
        lambda: (
            active_color(api, namespace) == "green"
            and deployment_image(api, namespace, "green") == "shop:2"
        ),
        what="the drift put back",
        explain=lambda: rollout_state(api, namespace),
    )


def refusal_reason(api: Api, namespace: str, name: str) -> str | None:
    found = condition(api.get("Release", namespace, name), "Ready")
    return found["reason"] if found else None


def test_refusals_touch_nothing(api: Api, namespace: str, operator: OperatorProcess) -> None:
    orphan = release("shop:1")
    orphan["metadata"]["name"] = "orphan"
    orphan["spec"]["environment"] = "nowhere"
    api.apply(orphan, namespace)
    eventually(
        lambda: refusal_reason(api, namespace, "orphan") == "EnvironmentNotFound", what="not found"
    )
    first_release(api, namespace)
    second = release("shop:9")
    second["metadata"]["name"] = "second"
    api.apply(second, namespace)
    eventually(
        lambda: refusal_reason(api, namespace, "second") == "EnvironmentAlreadyBound", what="bound"
    )
    api.apply(release("shop:3", source={"branch": "feature-x"}), namespace)
    eventually(lambda: refusal_reason(api, namespace, ENV) == "BranchMismatch", what="branch")
    assert deployment_image(api, namespace, "blue") == "shop:1"
    assert deployment_image(api, namespace, "green") == "shop:1"
    events = {e["reason"] for e in api.list("Event", namespace) if e["type"] == "Warning"}
    assert {"EnvironmentNotFound", "EnvironmentAlreadyBound", "BranchMismatch"} <= events
    assert not is_true(api.get("Release", namespace, "second"), "Ready")


def rolling_environment() -> dict[str, Any]:
    """A development Environment whose rollouts fail fast (10 s progress deadline)."""
    return {
        "apiVersion": "tierkeeper.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": ENV},
        "spec": {
            "tier": "development",
            "branch": "main",
            "app": {"replicas": 2},
            "strategy": {"blueGreen": {"progressDeadlineSeconds": 10}},
        },
    }


def app_pods_ready(api: Api, namespace: str, image: str) -> bool:
    """`E-app` serves `image` only: every replica updated, available and Ready."""
    deployment = api.get("Deployment", namespace, NAMES.rolling_deployment) or {}
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    wanted = spec.get("replicas", 0)
    return bool(
        spec["template"]["spec"]["containers"][0]["image"] == image
        and status.get("observedGeneration") == deployment["metadata"]["generation"]
        and status.get("replicas") == wanted
        and status.get("updatedReplicas") == wanted
        and status.get("availableReplicas") == wanted
    )


def app_rollout(api: Api, namespace: str) -> dict[str, Any]:
    """What the Deployment and its ReplicaSets say, for a failure message."""
    deployment = api.get("Deployment", namespace, NAMES.rolling_deployment) or {}
    return {
        "image": deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "generation": deployment["metadata"]["generation"],
        "status": deployment.get("status"),
        "replicaSets": {
            rs["metadata"]["name"]: (
                rs["spec"]["template"]["spec"]["containers"][0]["image"],
                rs["spec"].get("replicas"),
                (rs.get("status") or {}).get("readyReplicas"),
            )
            for rs in api.list("ReplicaSet", namespace)
        },
    }


def replica_set_images(api: Api, namespace: str) -> set[str]:
    return {
        rs["spec"]["template"]["spec"]["containers"][0]["image"]
        for rs in api.list("ReplicaSet", namespace)
    }


# KWOK stages of the local cluster: `:never-ready` pods run but never become Ready,
# `:crash-loop` ones also report 10 container restarts (over the tier's budget of 3).
@pytest.mark.parametrize(
    ("bad_image", "reason"),
    [
        ("shop:never-ready", "ProgressDeadlineExceeded"),
        ("shop:crash-loop", "RestartBudgetExceeded"),
    ],
)
def test_rolling_bad_image_fails_and_reapplies_previous_image(
    api: Api, namespace: str, operator: OperatorProcess, bad_image: str, reason: str
) -> None:
    api.apply(rolling_environment(), namespace)
    api.apply(release("shop:1"), namespace)
    eventually(lambda: phase_is(api, namespace, "Promoted", "shop:1"), timeout=120, what="shop:1")
    api.apply(release(bad_image), namespace)
    # A ReplicaSet of the bad image: it was rolled out (failing fast, it may be undone already).
    eventually(lambda: replica_set_images(api, namespace) >= {"shop:1", bad_image}, what="rolled")
    eventually(
        lambda: phase_is(api, namespace, "Failed", bad_image), timeout=120, what="Release Failed"
    )
    status = release_status(api, namespace)
    assert status["activeImage"] == "shop:1"
    assert not is_true(api.get("Release", namespace, ENV), "Ready")
    eventually(
        lambda: app_pods_ready(api, namespace, "shop:1"),
        timeout=120,
        what="shop:1 serving again",
        explain=lambda: app_rollout(api, namespace),
    )
    warnings = {e["reason"] for e in api.list("Event", namespace) if e["type"] == "Warning"}
    assert reason in warnings
