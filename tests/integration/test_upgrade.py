"""An Environment made by the operator as it was before Redis had a password gains one (and
its NetworkPolicies) from the current operator, keeping its Redis volume and its traffic
(issue 19).

"Before" is the operator's own code at `BEFORE_REDIS_PASSWORD`, the last commit without the
Redis password, taken from this repository's history and run as a real process: the
children it leaves are the ones a cluster really holds, not a hand-made imitation.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.integration.fixtures import operator_process
from tests.integration.k8s import Api, eventually
from tests.integration.operator_process import HealthServer, OperatorProcess
from tests.integration.releases import ENV, active_color, first_release, traffic_guard
from tierkeeper.models.names import ChildNames

pytestmark = pytest.mark.integration

BEFORE_REDIS_PASSWORD = "9be6a6f"
REPO = Path(__file__).parents[2]
NAMES = ChildNames(ENV)


def operator_source_at(commit: str, into: Path, unavailable: Callable[[str], NoReturn]) -> Path:
    """The `operator/` tree of `commit`, unpacked under `into`; its import root."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit, "operator"], capture_output=True
    )
    if archive.returncode != 0:
        unavailable(f"commit {commit} is not in this clone: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "operator"


def container(deployment: dict[str, Any] | None, name: str) -> dict[str, Any]:
    assert deployment is not None
    containers = deployment["spec"]["template"]["spec"]["containers"]
    found: dict[str, Any] = next(c for c in containers if c["name"] == name)
    return found


def redis_url_var(api: Api, namespace: str) -> dict[str, Any]:
    deployment = api.get(
        "Deployment", namespace, NAMES.color_deployment(active_color(api, namespace) or "")
    )
    var: dict[str, Any] = next(
        v for v in container(deployment, "app")["env"] if v["name"] == "REDIS_URL"
    )
    return var


def rolled(api: Api, namespace: str, name: str) -> bool:
    body = api.get("Deployment", namespace, name) or {}
    spec, status = body.get("spec") or {}, body.get("status") or {}
    wanted = spec.get("replicas")
    return (
        status.get("observedGeneration") == body["metadata"]["generation"]
        and status.get("updatedReplicas") == wanted
        and status.get("readyReplicas") == wanted
        and status.get("replicas") == wanted
    )


def test_an_environment_from_before_redis_passwords_gains_one_keeping_volume_and_traffic(
    api: Api,
    cluster: Any,
    namespace: str,
    health: HealthServer,
    tmp_path: Path,
    unavailable: Callable[[str], NoReturn],
) -> None:
    old_source = operator_source_at(BEFORE_REDIS_PASSWORD, tmp_path, unavailable)

    def operator(source: Path | None, log: str) -> OperatorProcess:
        imports = {"PYTHONPATH": str(source)} if source else {}
        process = operator_process(cluster, namespace, health, tmp_path / log, **imports)
        process.debug = source is None
        return process

    before = operator(old_source, "before.log")
    before.start()
    try:
        first_release(api, namespace)
    finally:
        before.stop()
    # What the old operator left: Redis without a Secret, a plain REDIS_URL, a volume,
    # no NetworkPolicy.
    assert api.list("NetworkPolicy", namespace) == []
    assert api.get("Secret", namespace, NAMES.redis_credentials) is None
    assert redis_url_var(api, namespace)["value"].startswith("redis://")
    redis = api.get("StatefulSet", namespace, NAMES.redis)
    assert redis is not None and "--requirepass" not in container(redis, "redis")["args"]
    claims = {
        c["metadata"]["name"]: c["metadata"]["uid"]
        for c in api.list("PersistentVolumeClaim", namespace, "app.kubernetes.io/component=redis")
    }
    assert claims, "the production tier's Redis persists to a volume"
    color = active_color(api, namespace)

    after = operator(None, "after.log")
    with traffic_guard(api, namespace) as violations:
        after.start()
        try:
            secret = eventually(
                lambda: api.get("Secret", namespace, NAMES.redis_credentials),
                timeout=60,
                what="the Redis password Secret",
            )
            eventually(
                lambda: (
                    "valueFrom" in redis_url_var(api, namespace)
                    and rolled(api, namespace, NAMES.color_deployment(color or ""))
                ),
                timeout=120,
                what="the app rolled onto the Secret's REDIS_URL",
            )
        finally:
            after.stop()

    assert violations == []
    assert redis_url_var(api, namespace)["valueFrom"]["secretKeyRef"] == {
        "name": NAMES.redis_credentials,
        "key": "url",
    }
    assert set(secret["data"]) == {"password", "url"}
    redis = api.get("StatefulSet", namespace, NAMES.redis)
    assert redis is not None
    args = container(redis, "redis")["args"]
    assert args[1:] == ["--requirepass", "$(REDIS_PASSWORD)"]
    # The same claims, not new ones: the data volume survives the password's arrival.
    assert {
        c["metadata"]["name"]: c["metadata"]["uid"]
        for c in api.list("PersistentVolumeClaim", namespace, "app.kubernetes.io/component=redis")
    } == claims
    assert active_color(api, namespace) == color
    # ...and its private network: the data servers' policies (the app's needs an ingress
    # namespace, which this operator is not given).
    policies = {p["metadata"]["name"] for p in api.list("NetworkPolicy", namespace)}
    assert policies == {NAMES.network_policy("postgres"), NAMES.network_policy("redis")}
