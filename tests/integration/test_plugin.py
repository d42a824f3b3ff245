"""The kubectl plugin, as installed (`kubectl-tierkeeper`), against the local control plane
and the operator: what `get` draws during a rollout, and what each command changes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.k8s import Api, eventually
from tests.integration.operator_process import OperatorProcess
from tests.integration.releases import (
    ENV,
    active_color,
    first_release,
    phase_is,
    release,
    release_status,
    traffic_guard,
)

pytestmark = pytest.mark.integration

PLUGIN = Path(sys.executable).parent / "kubectl-tierkeeper"


def run_plugin(cluster: Any, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the plugin as kubectl would (`kubectl tierkeeper ARGS`), at a width wide enough
    that no line of the view wraps."""
    return subprocess.run(
        [str(PLUGIN), *args, "-n", namespace, "--kubeconfig", str(cluster.kubeconfig)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )


def plugin(cluster: Any, namespace: str, *args: str) -> str:
    result = run_plugin(cluster, namespace, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def line_of(frame: str, deployment: str) -> str:
    return next(line for line in frame.splitlines() if line.startswith(deployment + " "))


def awaiting_promotion(api: Api, namespace: str) -> None:
    """shop:1 serves from blue, shop:2 is on green, Manual, its gate passed."""
    first_release(api, namespace)
    api.apply(release("shop:2", promotion="Manual"), namespace)
    eventually(
        lambda: phase_is(api, namespace, "AwaitingPromotion", "shop:2"),
        timeout=120,
        what="awaiting promotion",
    )


def test_get_draws_the_colours_and_step_then_promote_and_rollback_move_traffic(
    api: Api, namespace: str, operator: OperatorProcess, cluster: Any
) -> None:
    awaiting_promotion(api, namespace)
    frame = plugin(cluster, namespace, "get", ENV)
    blue, green = line_of(frame, "blue"), line_of(frame, "green")
    assert blue.split()[:4] == ["blue", "active", "shop:1", "2/2"], frame
    assert blue.endswith("<- Service"), frame
    assert green.split()[:4] == ["green", "preview", "shop:2", "2/2"], frame
    assert "<- Service" not in green, frame
    assert "phase AwaitingPromotion" in frame
    assert "Step:      green passed its gate; waiting for promote" in frame
    assert "Gate:      Healthy=True HealthGatePassed" in frame

    said = plugin(cluster, namespace, "promote", ENV)
    assert "spec.promote set to true" in said
    eventually(lambda: phase_is(api, namespace, "Promoted", "shop:2"), timeout=60, what="promoted")
    assert active_color(api, namespace) == "green"
    frame = plugin(cluster, namespace, "get", ENV)
    assert line_of(frame, "green").endswith("<- Service"), frame
    assert "Standby:   blue kept for instant rollback" in frame

    plugin(cluster, namespace, "rollback", ENV)
    eventually(lambda: active_color(api, namespace) == "blue", timeout=30, what="rolled back")
    eventually(lambda: phase_is(api, namespace, "RolledBack"), what="RolledBack")
    assert release_status(api, namespace)["history"][-1]["outcome"] == "RolledBack"


def test_abort_before_the_switch_keeps_traffic_on_blue_and_scales_green_to_zero(
    api: Api, namespace: str, operator: OperatorProcess, cluster: Any
) -> None:
    awaiting_promotion(api, namespace)
    with traffic_guard(api, namespace) as violations:
        said = plugin(cluster, namespace, "abort", ENV)
        assert "abort asked for" in said
        eventually(lambda: phase_is(api, namespace, "Failed", "shop:2"), timeout=60, what="Failed")
        eventually(
            lambda: (
                (api.get("Deployment", namespace, f"{ENV}-green") or {})["spec"]["replicas"] == 0
            ),
            timeout=60,
            what="green scaled to zero",
        )
    assert violations == []
    assert active_color(api, namespace) == "blue"
    status = release_status(api, namespace)
    assert status["history"][-1]["outcome"] == "Aborted"
    annotations = (api.get("Release", namespace, ENV) or {})["metadata"].get("annotations") or {}
    assert "tierkeeper.dev/abort" not in annotations, "the operator acted on it once"


def test_pause_and_resume_set_the_environments_suspend(
    api: Api, namespace: str, cluster: Any
) -> None:
    api.apply(
        {
            "apiVersion": "tierkeeper.dev/v1alpha1",
            "kind": "Environment",
            "metadata": {"name": ENV},
            "spec": {"tier": "development"},
        },
        namespace,
    )
    plugin(cluster, namespace, "pause", ENV)
    assert (api.get("Environment", namespace, ENV) or {})["spec"]["suspend"] is True
    plugin(cluster, namespace, "resume", ENV)
    assert (api.get("Environment", namespace, ENV) or {})["spec"]["suspend"] is False


def test_a_command_is_the_users_write_and_their_rbac_decides(
    api: Api, namespace: str, cluster: Any
) -> None:
    api.apply(release("shop:1"), namespace)
    user = "jane"
    refused = run_plugin(cluster, namespace, "promote", ENV, "--as", user)
    assert refused.returncode == 1
    assert "forbidden" in refused.stderr
    assert not (api.get("Release", namespace, ENV) or {})["spec"].get("promote")
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "release-steering"},
        "rules": [
            {
                "apiGroups": ["tierkeeper.dev"],
                "resources": ["releases", "environments"],
                "verbs": ["get", "list", "patch"],
            }
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "jane-steers"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "release-steering",
        },
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all([role, binding]))
    eventually(
        lambda: run_plugin(cluster, namespace, "promote", ENV, "--as", user).returncode == 0,
        timeout=30,
        what="promote allowed once the Role is bound",
    )
    assert (api.get("Release", namespace, ENV) or {})["spec"]["promote"] is True
    fields = (api.get("Release", namespace, ENV) or {})["metadata"]["managedFields"]
    assert any(f["manager"] == "kubectl-tierkeeper" for f in fields)
