"""postgres.bootstrap.recovery on the local control plane: the StatefulSet with its
recover init container and the CloudNativePG Cluster with `bootstrap.recovery` pass the
real API server (CloudNativePG's pinned CRDs, strict validation); a source that cannot
serve is refused as a condition and an Event with nothing written, and a bootstrap change
of a live database is refused."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.k8s import Api, condition, eventually, server_dry_run
from tests.integration.operator_process import OperatorProcess
from tests.integration.test_cloudnative_pg import cloudnative_pg_crds  # noqa: F401 (fixture)
from tests.integration.test_controlplane import environment
from tests.unit.test_render_recovery import OWN_STORE, SOURCE_STORE
from tierkeeper.cli import main
from tierkeeper.devcluster import Kubectl
from tierkeeper.models import resolve_document
from tierkeeper.models.names import ChildNames
from tierkeeper.render.postgres import render_cnpg_cluster, render_postgres_statefulset

pytestmark = pytest.mark.integration

T = "2026-12-03T10:15:00Z"


def restored_spec(target: str = T, **postgres: Any) -> dict[str, Any]:
    recovery = {"from": "shop", "targetTime": target}
    return {"tier": "staging", "postgres": {"bootstrap": {"recovery": recovery}, **postgres}}


def test_recovered_statefulset_and_cluster_pass_the_real_api_server(
    namespace: str,
    cluster: Kubectl,
    cloudnative_pg_crds: Path,  # noqa: F811 (fixture)
) -> None:
    manifests = []
    for provider in ("builtin", "cloudnative-pg"):
        source = resolve_document(
            {
                "tier": "staging",
                "postgres": {"provider": provider, "backup": {"objectStore": SOURCE_STORE}},
            },
            name="shop",
            namespace=namespace,
        )
        env = resolve_document(
            restored_spec(provider=provider, backup={"objectStore": OWN_STORE}),
            name="shop-restored",
            namespace=namespace,
        )
        env = dataclasses.replace(env, recovery_source=source)
        manifests.append(
            render_postgres_statefulset(env) if provider == "builtin" else render_cnpg_cluster(env)
        )
    assert all(m is not None for m in manifests)
    cluster.install_crds(cloudnative_pg_crds)
    result = server_dry_run(cluster, namespace, manifests)
    assert result.returncode == 0, result.stderr
    assert "statefulset.apps/shop-restored-postgres serverside-applied" in result.stdout
    assert "cluster.postgresql.cnpg.io/shop-restored-postgres serverside-applied" in result.stdout


def ready_reason(api: Api, namespace: str, name: str, reason: str) -> dict[str, Any] | None:
    found = condition(api.get("Environment", namespace, name), "Ready")
    return found if found and found["status"] == "False" and found["reason"] == reason else None


def test_a_recovery_waits_for_a_source_with_a_store_then_its_bootstrap_is_fixed(
    api: Api,
    namespace: str,
    cluster: Kubectl,
    operator: OperatorProcess,
    capsys: pytest.CaptureFixture[str],
) -> None:
    names = ChildNames("shop-restored")
    api.apply(environment("shop-restored", restored_spec()), namespace)
    missing = eventually(
        lambda: ready_reason(api, namespace, "shop-restored", "RecoverySourceNotFound"),
        what="RecoverySourceNotFound",
    )
    assert "no Environment shop in namespace" in missing["message"]
    events = eventually(
        lambda: [
            e for e in api.list("Event", namespace) if e["reason"] == "RecoverySourceNotFound"
        ],
        what="Warning Event",
    )
    assert events[0]["type"] == "Warning"

    # The source comes, without a store: still nothing to start from.
    api.apply(environment("shop", {"tier": "staging"}), namespace)
    no_store = eventually(
        lambda: ready_reason(api, namespace, "shop-restored", "RecoverySourceHasNoStore"),
        timeout=90,
        what="RecoverySourceHasNoStore",
    )
    assert "Set postgres.backup.objectStore on shop" in no_store["message"]
    assert api.get("StatefulSet", namespace, names.postgres) is None

    # Given a store, the recovery starts: the init container reads the source's.
    source = {"tier": "staging", "postgres": {"backup": {"objectStore": SOURCE_STORE}}}
    api.apply(environment("shop", source), namespace)
    statefulset = eventually(
        lambda: api.get("StatefulSet", namespace, names.postgres), timeout=90, what="StatefulSet"
    )
    [recover] = statefulset["spec"]["template"]["spec"]["initContainers"]
    variables = {v["name"]: v.get("value") for v in recover["env"]}
    assert variables["BACKUP_SERVER_NAME"] == "shop"
    assert variables["RECOVERY_TARGET_TIME"] == "2026-12-03T10:15:00+00:00"

    # A live database keeps the bootstrap it was made with.
    api.apply(environment("shop-restored", restored_spec("2026-12-03T11:00:00Z")), namespace)
    changed = eventually(
        lambda: ready_reason(api, namespace, "shop-restored", "ChangeNotAllowed"),
        what="ChangeNotAllowed",
    )
    assert "applies only when the database is created" in changed["message"]
    after = api.get("StatefulSet", namespace, names.postgres)
    assert after is not None
    assert after["metadata"]["generation"] == statefulset["metadata"]["generation"]

    # The CLI's in-cluster restore: a new Environment from the source's latest backups;
    # the source is only read.
    before = api.get("Environment", namespace, "shop")
    assert before is not None
    command = ["restore", "shop", "--latest", "--into", "shop-again", "--namespace", namespace]
    command += ["--kubeconfig", str(cluster.kubeconfig)]
    assert main(command) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["metadata"] == {"name": "shop-again", "namespace": namespace}
    assert api.get("Environment", namespace, "shop-again") is None
    assert main([*command, "--apply"]) == 0
    again = api.get("Environment", namespace, "shop-again")
    assert again is not None
    assert again["spec"] == printed["spec"]
    # NEW exists now: another --apply refuses rather than replace it.
    assert main([*command, "--apply"]) == 1
    assert "exists already" in capsys.readouterr().err
    assert again["spec"]["postgres"]["bootstrap"] == {"recovery": {"from": "shop"}}
    assert again["spec"]["postgres"]["backup"]["objectStore"] == SOURCE_STORE
    again_statefulset = eventually(
        lambda: api.get("StatefulSet", namespace, ChildNames("shop-again").postgres),
        timeout=90,
        what="StatefulSet of shop-again",
    )
    [recover] = again_statefulset["spec"]["template"]["spec"]["initContainers"]
    variables = {v["name"]: v.get("value") for v in recover["env"]}
    assert variables["BACKUP_SERVER_NAME"] == "shop"
    assert "RECOVERY_TARGET_TIME" not in variables
    server = next(
        c
        for c in again_statefulset["spec"]["template"]["spec"]["containers"]
        if c["name"] == "postgres"
    )
    assert {v["name"]: v.get("value") for v in server["env"]}["BACKUP_SERVER_NAME"] == (
        "shop-again"
    )
    after_source = api.get("Environment", namespace, "shop")
    assert after_source is not None
    assert after_source["metadata"]["generation"] == before["metadata"]["generation"]
