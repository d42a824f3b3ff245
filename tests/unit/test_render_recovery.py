"""postgres.bootstrap.recovery: the init container and the Cluster's bootstrap start from
the source's stores and archive to their own folder; a source that cannot serve, and a
bootstrap change of a live database, are refused with what to do."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.unit.fake_api import FakeApi
from tests.unit.helpers import env_of
from tests.unit.test_render_objectstore import OFFSITE, STORE
from tierkeeper import API_VERSION
from tierkeeper.cli import main
from tierkeeper.cli.render import render_documents
from tierkeeper.cli.restore_into import recovery_environment
from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.child import summarize
from tierkeeper.reconcile.recovery import bootstrap_change, with_recovery_source
from tierkeeper.render import data_children
from tierkeeper.render.common import Manifest
from tierkeeper.render.objectstore import RECOVER_SCRIPT_NAME, render_object_store_script
from tierkeeper.render.postgres import render_cnpg_cluster, render_postgres_statefulset
from tierkeeper.render.recovery import BOOTSTRAP_ANNOTATION

# The source archives to the one store, the restored database to the other.
SOURCE_STORE, OWN_STORE = STORE, OFFSITE
T = "2026-12-03T10:15:00+00:00"


def source_spec(**postgres: Any) -> dict[str, Any]:
    return {"tier": "staging", "postgres": {"backup": {"objectStore": SOURCE_STORE}, **postgres}}


def restored_spec(target: str | None = T, **postgres: Any) -> dict[str, Any]:
    recovery = {"from": "shop", **({"targetTime": target} if target else {})}
    return {"tier": "staging", "postgres": {"bootstrap": {"recovery": recovery}, **postgres}}


def with_source(spec: dict[str, Any], source: dict[str, Any] | None = None) -> Any:
    env = env_of(spec, name="shop-restored")
    return dataclasses.replace(env, recovery_source=env_of(source or source_spec()))


def pod(statefulset: Manifest | None) -> dict[str, Any]:
    assert statefulset is not None
    spec: dict[str, Any] = statefulset["spec"]["template"]["spec"]
    return spec


def env_map(container: dict[str, Any]) -> dict[str, Any]:
    return {v["name"]: v.get("value", v.get("valueFrom")) for v in container["env"]}


def test_the_init_container_restores_from_the_sources_stores_and_the_server_archives_to_its_own() -> (
    None
):
    env = with_source(restored_spec(backup={"objectStore": OWN_STORE}))
    statefulset = render_postgres_statefulset(env)
    spec = pod(statefulset)
    [recover] = spec["initContainers"]
    assert recover["command"] == ["sh", f"/opt/tierkeeper/object-store/{RECOVER_SCRIPT_NAME}"]
    assert recover["image"] == "ghcr.io/tierkeeper/postgres:16"
    variables = env_map(recover)
    assert variables["BACKUP_SERVER_NAME"] == "shop"
    assert variables["BACKUP_PRIMARY_URL"] == "s3://shop-backups/eu/shop"
    assert variables["BACKUP_PRIMARY_SECRET_ACCESS_KEY"] == {
        "secretKeyRef": {"name": "s3-eu", "key": "secret"}
    }
    assert variables["RECOVERY_TARGET_TIME"] == T
    assert variables["PGDATA"] == "/var/lib/postgresql/data/pgdata"
    assert variables["POSTGRES_PASSWORD"] == {
        "secretKeyRef": {"name": "shop-restored-postgres-credentials", "key": "password"}
    }
    # The source's CA bundle, mounted where the source's store settings point.
    mounts = {m["name"]: m["mountPath"] for m in recover["volumeMounts"]}
    assert mounts["recovery-source-ca"] == "/etc/tierkeeper/object-store-ca"
    assert variables["BACKUP_PRIMARY_CA_BUNDLE"] == "/etc/tierkeeper/object-store-ca/primary.pem"
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["recovery-source-ca"]["projected"]["sources"][0]["secret"]["name"] == "s3-eu-ca"
    # The server itself knows only its own store, under its own name.
    server = env_map(next(c for c in spec["containers"] if c["name"] == "postgres"))
    assert server["BACKUP_SERVER_NAME"] == "shop-restored"
    assert server["BACKUP_PRIMARY_URL"] == "s3://shop-backups-us"
    assert "RECOVERY_TARGET_TIME" not in server
    assert statefulset is not None
    annotations = statefulset["metadata"]["annotations"]
    assert annotations == {BOOTSTRAP_ANNOTATION: f"recovery from shop at {T}"}
    script = render_object_store_script(env)
    assert script is not None and RECOVER_SCRIPT_NAME in script["data"]


def test_a_recovery_without_a_store_of_its_own_still_gets_the_scripts_and_no_target_is_latest() -> (
    None
):
    env = with_source(restored_spec(target=None))
    spec = pod(render_postgres_statefulset(env))
    [recover] = spec["initContainers"]
    assert "RECOVERY_TARGET_TIME" not in env_map(recover)
    assert [c["name"] for c in spec["containers"]] == ["postgres"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["object-store-script"]["configMap"]["name"] == "shop-restored-object-store"
    script = render_object_store_script(env)
    assert script is not None and set(script["data"]) == {"object-store.sh", "recover.sh"}


def test_without_a_bootstrap_nothing_changes() -> None:
    env = env_of(source_spec())
    statefulset = render_postgres_statefulset(env)
    assert statefulset is not None
    assert "initContainers" not in pod(statefulset)
    assert "annotations" not in statefulset["metadata"]
    script = render_object_store_script(env)
    assert script is not None and set(script["data"]) == {"object-store.sh"}


def test_the_cluster_recovers_from_an_external_cluster_holding_the_sources_store() -> None:
    env = with_source(
        restored_spec(provider="cloudnative-pg", backup={"objectStore": OWN_STORE}),
        source_spec(provider="cloudnative-pg"),
    )
    cluster = render_cnpg_cluster(env)
    assert cluster is not None
    spec = cluster["spec"]
    assert spec["bootstrap"] == {
        "recovery": {
            "source": "shop",
            "database": "app",
            "owner": "app",
            "secret": {"name": "shop-restored-postgres-credentials"},
            "recoveryTarget": {"targetTime": T},
        }
    }
    [external] = spec["externalClusters"]
    assert external["name"] == "shop"
    store = external["barmanObjectStore"]
    assert store["destinationPath"] == "s3://shop-backups/eu/shop"
    assert store["serverName"] == "shop"
    assert store["s3Credentials"]["secretAccessKey"] == {"name": "s3-eu", "key": "secret"}
    assert store["endpointCA"] == {"name": "s3-eu-ca", "key": "ca.pem"}
    # Its own archive: its own store, its own server name.
    own = spec["backup"]["barmanObjectStore"]
    assert own["serverName"] == "shop-restored"
    assert own["destinationPath"] == "s3://shop-backups-us"
    assert cluster["metadata"]["annotations"][BOOTSTRAP_ANNOTATION].startswith("recovery")


def test_a_cluster_without_a_bootstrap_runs_initdb() -> None:
    cluster = render_cnpg_cluster(env_of(source_spec(provider="cloudnative-pg")))
    assert cluster is not None
    assert set(cluster["spec"]["bootstrap"]) == {"initdb"}
    assert "externalClusters" not in cluster["spec"]


def refusal(api: FakeApi, spec: dict[str, Any]) -> tuple[ResolvedEnvironment, Any]:
    env = env_of(spec, name="shop-restored")
    return asyncio.run(with_recovery_source(api.client(), env, {}))


def put_source(api: FakeApi, spec: dict[str, Any]) -> None:
    api.put(
        {
            "apiVersion": API_VERSION,
            "kind": "Environment",
            "metadata": {"name": "shop", "namespace": "team"},
            "spec": spec,
        }
    )


def test_a_missing_source_is_refused_with_what_to_do() -> None:
    env, refused = refusal(FakeApi(), restored_spec())
    assert refused is not None
    assert refused.reason == "RecoverySourceNotFound"
    assert "no Environment shop in namespace team" in refused.message
    assert env.recovery_source is None


def test_a_source_without_a_store_is_refused_with_what_to_do() -> None:
    api = FakeApi()
    put_source(api, {"tier": "staging"})
    _, refused = refusal(api, restored_spec())
    assert refused is not None
    assert refused.reason == "RecoverySourceHasNoStore"
    assert "Set postgres.backup.objectStore on shop" in refused.message


def test_a_source_of_another_major_version_is_refused() -> None:
    api = FakeApi()
    put_source(api, source_spec(version="15"))
    _, refused = refusal(api, restored_spec())
    assert refused is not None and refused.reason == "RecoveryVersionMismatch"


def test_a_source_with_a_store_is_read_and_rendered_from() -> None:
    api = FakeApi()
    put_source(api, source_spec())
    env, refused = refusal(api, restored_spec())
    assert refused is None
    assert env.recovery_source is not None and env.recovery_source.name == "shop"
    children = {(c.kind, c.name): c.manifest for c in data_children(env)}
    statefulset = children[("StatefulSet", "shop-restored-postgres")]
    assert pod(statefulset)["initContainers"][0]["name"] == "recover"


def live_statefulset(api: FakeApi, annotation: str | None, ready: int = 1) -> None:
    meta: dict[str, Any] = {"name": "shop-restored-postgres", "namespace": "team"}
    if annotation is not None:
        meta["annotations"] = {BOOTSTRAP_ANNOTATION: annotation}
    api.put({"kind": "StatefulSet", "metadata": meta, "status": {"readyReplicas": ready}})


def change(api: FakeApi, spec: dict[str, Any]) -> Any:
    """bootstrap_change, with the StatefulSet (if any) as the watches summarize it."""
    stored = api.stored("StatefulSet", "team", "shop-restored-postgres")
    live = (
        {}
        if stored is None
        else {("StatefulSet", "shop-restored-postgres"): summarize("StatefulSet", stored)}
    )
    env = env_of(spec, name="shop-restored")
    return asyncio.run(bootstrap_change(api.client(), env, live))


@pytest.mark.parametrize(
    ("made_with", "spec"),
    [
        (None, restored_spec()),
        (f"recovery from shop at {T}", restored_spec(target="2026-12-03T11:00:00Z")),
    ],
    ids=["added", "changed"],
)
def test_a_bootstrap_added_to_or_changed_on_a_live_database_is_refused(
    made_with: str | None, spec: dict[str, Any]
) -> None:
    api = FakeApi()
    live_statefulset(api, made_with)
    refused = change(api, spec)
    assert refused is not None and refused.reason == "ChangeNotAllowed"
    assert "applies only when the database is created" in refused.message
    assert "--into NEW" in refused.message


def test_a_bootstrap_may_be_removed_once_the_database_is_up_and_not_before() -> None:
    api = FakeApi()
    live_statefulset(api, f"recovery from shop at {T}", ready=0)
    refused = change(api, {"tier": "staging"})
    assert refused is not None and refused.reason == "ChangeNotAllowed"
    assert "cannot be removed while the database is not up" in refused.message
    live_statefulset(api, f"recovery from shop at {T}", ready=1)
    assert change(api, {"tier": "staging"}) is None


def test_the_same_bootstrap_and_a_new_database_are_not_a_change() -> None:
    api = FakeApi()
    assert change(api, restored_spec()) is None
    live_statefulset(api, f"recovery from shop at {T}")
    assert change(api, restored_spec()) is None


def test_a_change_without_a_bootstrap_costs_no_request_while_the_database_is_up() -> None:
    api = FakeApi()
    live_statefulset(api, None, ready=1)
    assert change(api, {"tier": "staging"}) is None
    assert api.calls == []
    cluster = {"tier": "staging", "postgres": {"provider": "cloudnative-pg"}}
    assert change(api, cluster) is None
    assert api.calls == []


def test_the_in_cluster_restore_carries_the_database_and_names_its_source_not_its_traffic() -> None:
    source = {
        "metadata": {"name": "shop", "namespace": "team"},
        "spec": {
            "tier": "staging",
            "branch": "staging",
            "route": {"hosts": ["shop.example.com"]},
            "postgres": {
                "provider": "cloudnative-pg",
                "backup": {"objectStore": SOURCE_STORE},
                "bootstrap": {"recovery": {"from": "older"}},
            },
            "redis": {"maxMemory": "256Mi"},
        },
    }
    at = datetime(2026, 12, 3, 10, 15, tzinfo=UTC)
    manifest = recovery_environment(source, "shop-restored", at)
    assert manifest["metadata"] == {"name": "shop-restored", "namespace": "team"}
    assert manifest["spec"] == {
        "tier": "staging",
        "postgres": {
            "provider": "cloudnative-pg",
            "backup": {"objectStore": SOURCE_STORE},
            "bootstrap": {"recovery": {"from": "shop", "targetTime": T}},
        },
        "redis": {"maxMemory": "256Mi"},
    }
    latest = recovery_environment(source, "shop-restored", None)
    assert latest["spec"]["postgres"]["bootstrap"] == {"recovery": {"from": "shop"}}


@pytest.mark.parametrize(
    "args",
    [
        ["shop", "--latest"],
        ["--into", "shop-restored", "--latest"],
        ["shop", "--into", "shop-restored"],
        ["shop", "--into", "shop-restored", "--latest", "--to-time", T],
        ["shop", "--into", "shop-restored", "--to-time", "2026-12-03T10:15:00"],
    ],
    ids=["no-into", "no-env", "no-target", "two-targets", "no-zone"],
)
def test_the_in_cluster_restore_refuses_an_incomplete_command(args: list[str]) -> None:
    assert main(["restore", *args]) == 2


def test_an_offline_render_takes_the_source_from_the_same_documents_or_says_it_needs_it() -> None:
    restored = {
        "apiVersion": API_VERSION,
        "kind": "Environment",
        "metadata": {"name": "shop-restored", "namespace": "team"},
        "spec": restored_spec(),
    }
    source = {**restored, "metadata": {"name": "shop", "namespace": "team"}, "spec": source_spec()}
    manifests = render_documents([source, restored])
    [statefulset] = [
        m
        for m in manifests
        if m["kind"] == "StatefulSet" and m["metadata"]["name"] == "shop-restored-postgres"
    ]
    assert env_map(pod(statefulset)["initContainers"][0])["BACKUP_SERVER_NAME"] == "shop"
    with pytest.raises(ValueError, match="needs its source Environment shop"):
        render_documents([restored])
