"""The backup before a production switch (issue 17), on the real control plane: a rollout
waits for its backup Job, switches once the Job completes, and holds with the reason when
it fails, traffic on the serving colour throughout.

KWOK completes a Job's pods as soon as they are scheduled. To see the wait, a
ResourceQuota leaves the namespace no room for another pod while the backup is asked for:
the Job controller cannot start the Job's pod (its FailedCreate Event is the signal). Then
either the quota goes, and the real Job controller completes the Job once KWOK has run its
pod, or the test writes the Failed status the Job controller writes when a Job's pods fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.k8s import Api, condition, eventually
from tests.integration.operator_process import HealthServer, OperatorProcess
from tests.integration.releases import (
    ENV,
    active_color,
    deployment_image,
    first_release,
    phase_is,
    release,
    release_status,
    rollout_state,
    traffic_guard,
)
from tests.integration.test_cloudnative_pg import cloudnative_pg_crds  # noqa: F401 (fixture)
from tests.unit.test_render_objectstore import STORE
from tierkeeper.devcluster import Kubectl
from tierkeeper.models import resolve_document
from tierkeeper.render.preswitch import render_pre_switch_backup

pytestmark = pytest.mark.integration

QUOTA = "no-new-pods"


def hold_new_pods(api: Api, namespace: str) -> None:
    """No pod can be created in the namespace until `release_new_pods`."""
    running = [
        pod
        for pod in api.list("Pod", namespace)
        if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    ]
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": QUOTA},
        "spec": {"hard": {"pods": str(len(running))}},
    }
    api.apply(quota, namespace)
    # Admission enforces a quota once its controller has counted what is used.
    eventually(
        lambda: ((api.get("ResourceQuota", namespace, QUOTA) or {}).get("status") or {}).get(
            "used"
        ),
        timeout=60,
        what="the quota counted",
    )


def waiting_backup(api: Api, namespace: str, image: str) -> dict[str, Any]:
    """The Release's pre-switch backup once its Job exists and could not start a pod."""
    record: dict[str, Any] = eventually(
        lambda: (
            release_status(api, namespace).get("preSwitchBackup")
            if phase_is(api, namespace, "BackingUp", image)
            else None
        ),
        timeout=60,
        what=f"the backup before {image} asked for",
        explain=lambda: rollout_state(api, namespace),
    )
    job = eventually(
        lambda: api.get("Job", namespace, record["name"]), timeout=30, what="the backup Job"
    )
    assert job["metadata"]["ownerReferences"][0]["kind"] == "Environment"
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    eventually(
        lambda: any(
            event["reason"] == "FailedCreate"
            and event["involvedObject"]["kind"] == "Job"
            and event["involvedObject"]["name"] == record["name"]
            for event in api.list("Event", namespace)
        ),
        timeout=60,
        what="the Job controller refused a pod by the quota",
    )
    return record


def still_before_the_switch(api: Api, namespace: str, image: str) -> None:
    assert phase_is(api, namespace, "BackingUp", image)
    ready = condition(api.get("Release", namespace, ENV), "Ready") or {}
    assert ready.get("reason") == "BackingUp"
    assert deployment_image(api, namespace, "green") != image, "no pod of the new image yet"
    assert active_color(api, namespace) == "blue"


@contextmanager
def backing_up(api: Api, namespace: str, image: str) -> Iterator[tuple[dict[str, Any], list[str]]]:
    """shop:1 live on blue, then `image` waiting for its backup Job, under the traffic
    guard: (the Release's record of the backup, the guard's violations)."""
    first_release(api, namespace)
    hold_new_pods(api, namespace)
    with traffic_guard(api, namespace) as violations:
        api.apply(release(image), namespace)
        record = waiting_backup(api, namespace, image)
        still_before_the_switch(api, namespace, image)
        yield record, violations


def test_a_production_rollout_waits_for_its_backup_job_and_switches_once_it_completes(
    api: Api, namespace: str, operator: OperatorProcess, health: HealthServer
) -> None:
    with backing_up(api, namespace, "shop:2") as (record, violations):
        api.delete("ResourceQuota", namespace, QUOTA)
        eventually(
            lambda: (
                phase_is(api, namespace, "Promoted", "shop:2")
                and active_color(api, namespace) == "green"
            ),
            timeout=240,
            what="shop:2 promoted on green after its backup",
            explain=lambda: rollout_state(api, namespace),
        )
    assert violations == []
    job = api.get("Job", namespace, record["name"]) or {}
    assert condition(job, "Complete") is not None, "the Job controller completed the backup"
    backup = release_status(api, namespace)["preSwitchBackup"]
    assert (backup["name"], backup["outcome"]) == (record["name"], "Succeeded")


def test_a_failed_backup_holds_the_rollout_with_its_reason_and_traffic_stays(
    api: Api, namespace: str, operator: OperatorProcess, health: HealthServer
) -> None:
    with backing_up(api, namespace, "shop:2") as (record, violations):
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        job = api.get("Job", namespace, record["name"]) or {}
        failed = {
            "status": "True",
            "reason": "BackoffLimitExceeded",
            "message": "Job has reached the specified backoff limit",
            "lastProbeTime": now,
            "lastTransitionTime": now,
        }
        api.patch_status(
            "Job",
            namespace,
            record["name"],
            {
                "status": {
                    # Set by the Job controller when it first synced the Job; immutable.
                    "startTime": (job.get("status") or {}).get("startTime") or now,
                    "failed": 3,
                    "conditions": [
                        {"type": "FailureTarget", **failed},
                        {"type": "Failed", **failed},
                    ],
                }
            },
            manager="job-controller",
        )
        eventually(
            lambda: phase_is(api, namespace, "Failed", "shop:2"),
            timeout=60,
            what="the rollout held by its failed backup",
            explain=lambda: rollout_state(api, namespace),
        )
        release_now = api.get("Release", namespace, ENV)
        ready = condition(release_now, "Ready") or {}
        assert ready.get("reason") == "PreSwitchBackupFailed"
        assert "BackoffLimitExceeded" in ready["message"]
        assert "tierkeeper.dev/retry" in ready["message"]
        assert any(
            event["reason"] == "PreSwitchBackupFailed" and event["type"] == "Warning"
            for event in api.list("Event", namespace)
            if event["involvedObject"]["kind"] == "Release"
        )
        assert active_color(api, namespace) == "blue"
        assert deployment_image(api, namespace, "green") != "shop:2"
    assert violations == []


@pytest.mark.parametrize("backup", [{}, {"objectStore": STORE}], ids=["snapshot", "store"])
def test_the_cloudnative_pg_backup_passes_the_real_crd_as_rendered(
    namespace: str,
    cluster: Kubectl,
    cloudnative_pg_crds: Path,  # noqa: F811 (fixture)
    backup: dict[str, Any],
) -> None:
    env = resolve_document(
        {"tier": "production", "postgres": {"backup": backup}}, name=ENV, namespace=namespace
    )
    manifest = render_pre_switch_backup(env, env.names.pre_switch_backup("shop:2", 1))
    assert manifest is not None and manifest["kind"] == "Backup"
    cluster.install_crds(cloudnative_pg_crds)
    # A new client: the fixture's discovery predates the CRD.
    stored = Api(cluster.kubeconfig).apply(manifest, namespace)
    assert stored["spec"] == manifest["spec"], "the CRD kept every field (none pruned)"
