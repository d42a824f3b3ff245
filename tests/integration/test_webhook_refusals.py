"""What the deploy hook refuses, on the real control plane (issue 18): each bad delivery
gets its status and outcome and nothing changes in the cluster; then a good one does
change it, which shows the hook was able to write all along."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.k8s import Api, eventually
from tests.integration.operator_process import scrape, total
from tests.integration.releases import ENV, environment, release
from tests.integration.webhook import (
    SHA,
    HookProcess,
    push,
    with_deploy,
    workflow_run,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def hook(cluster: Any, namespace: str, tmp_path: Path) -> Iterator[HookProcess]:
    process = HookProcess(
        Path(cluster.kubeconfig), namespace, tmp_path, ("--max-body-bytes=65536",)
    )
    process.start()
    yield process
    process.stop()


def versions(api: Api, namespace: str) -> dict[str, str]:
    return {
        kind: (api.get(kind, namespace, ENV) or {})["metadata"]["resourceVersion"]
        for kind in ("Environment", "Release")
    }


def test_bad_deliveries_get_their_status_and_change_nothing(
    api: Api, namespace: str, hook: HookProcess
) -> None:
    # No operator: nothing but the hook could change these objects.
    api.apply(with_deploy(environment(), imageTemplate="shop:sha-{sha}"), namespace)
    api.apply(release("shop:1"), namespace)
    before = versions(api, namespace)
    body = json.dumps(workflow_run("main")).encode()
    outcomes = {
        "bad signature": hook.send("workflow_run", None, body=body, secret=b"wrong"),
        "missing signature": hook.send("workflow_run", None, body=body, secret=None),
        "oversized body": hook.send("workflow_run", {"pad": "x" * 70_000}),
        "malformed JSON": hook.send("workflow_run", None, body=b'{"action": "completed",'),
        "unknown repository": hook.send("push", push("main", repository="acme/other")),
        "failed run": hook.send("workflow_run", workflow_run("main", conclusion="failure")),
        "push to another branch": hook.send("push", push("feature-x")),
        "push while production waits for CI": hook.send("push", push("main")),
        "run of another branch": hook.send("workflow_run", workflow_run("develop")),
    }
    answered = {what: (status, answer["outcome"]) for what, (status, answer) in outcomes.items()}
    assert answered == {
        "bad signature": (401, "bad_signature"),
        "missing signature": (401, "missing_signature"),
        "oversized body": (413, "too_large"),
        "malformed JSON": (400, "malformed"),
        "unknown repository": (404, "unknown_repository"),
        "failed run": (202, "not_successful"),
        "push to another branch": (202, "nothing_to_deploy"),
        "push while production waits for CI": (202, "nothing_to_deploy"),
        "run of another branch": (202, "nothing_to_deploy"),
    }
    assert versions(api, namespace) == before

    # The positive signal: a good delivery is applied; its replay is refused and changes
    # nothing more.
    status, answer = hook.send("workflow_run", workflow_run("main"), delivery="same")
    assert (status, answer["outcome"]) == (200, "deployed"), answer
    image = eventually(
        lambda: (api.get("Release", namespace, ENV) or {})["spec"]["image"] == f"shop:sha-{SHA}",
        what="Release image",
    )
    assert image
    deployed = versions(api, namespace)
    assert deployed["Release"] != before["Release"]
    replay = workflow_run("main", sha="0" * 40)
    status, answer = hook.send("workflow_run", replay, delivery="same")
    assert (status, answer["outcome"]) == (409, "replayed")
    assert versions(api, namespace) == deployed

    samples = scrape(hook.metrics_port)
    for outcome in ("bad_signature", "missing_signature", "too_large", "malformed", "replayed"):
        assert total(samples, "tierkeeper_webhook_deliveries_total", outcome=outcome) == 1
    log = hook.log.read_text()
    assert "Traceback" not in log
    assert "integration-secret" not in log and "sha256=" not in log
