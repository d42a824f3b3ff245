"""Environment reconciliation against the real control plane (SPEC §2, issue 4)."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.k8s import Api, condition, eventually, instance_selector, is_true
from tests.integration.operator_process import (
    OperatorProcess,
    child_applies,
    environment_reconciles,
)
from tests.integration.releases import release
from tierkeeper import FINALIZER
from tierkeeper.cli.render import render_documents
from tierkeeper.models.names import ChildNames

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).parents[2] / "examples"
OWNED_KINDS = (
    "Deployment",
    "StatefulSet",
    "Service",
    "ConfigMap",
    "CronJob",
    "PersistentVolumeClaim",
    "Secret",
    "NetworkPolicy",
)


def environment_doc(example: str) -> dict[str, Any]:
    docs = yaml.safe_load_all((EXAMPLES / example).read_text())
    return next(d for d in docs if d and d["kind"] == "Environment")


def expected_children(doc: dict[str, Any], namespace: str) -> set[tuple[str, str]]:
    placed = copy.deepcopy(doc)
    placed["metadata"]["namespace"] = namespace
    return {(m["kind"], m["metadata"]["name"]) for m in render_documents([placed])}


def owned_children(api: Api, namespace: str, env: str) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for kind in OWNED_KINDS:
        for item in api.list(kind, namespace, instance_selector(env)):
            owners = item["metadata"].get("ownerReferences") or []
            if any(o["kind"] == "Environment" and o["name"] == env for o in owners):
                found[(kind, item["metadata"]["name"])] = item
    return found


def ready(api: Api, namespace: str, name: str) -> dict[str, Any] | None:
    env = api.get("Environment", namespace, name)
    return env if is_true(env, "Ready") else None


@pytest.mark.parametrize(
    "example",
    ["environment-development.yaml", "environment-staging.yaml", "environment-production.yaml"],
)
def test_example_converges_with_exactly_the_spec_children(
    api: Api, namespace: str, operator: OperatorProcess, example: str
) -> None:
    doc = environment_doc(example)
    name = doc["metadata"]["name"]
    api.apply(doc, namespace)
    env = eventually(lambda: ready(api, namespace, name), timeout=90, what=f"{name} Ready")
    children = owned_children(api, namespace, name)
    assert set(children) == expected_children(doc, namespace)
    for (kind, child_name), child in children.items():
        labels = child["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "tierkeeper", (kind, child_name)
        assert labels["app.kubernetes.io/component"] in {"app", "postgres", "redis", "backup"}
        managers = {entry["manager"] for entry in child["metadata"]["managedFields"]}
        assert "tierkeeper" in managers, (kind, child_name, managers)
    app_ready = next(c for c in env["status"]["conditions"] if c["type"] == "AppReady")
    assert app_ready["reason"] == "NoRelease"
    assert env["status"]["observedGeneration"] == env["metadata"]["generation"]


def versions(api: Api, namespace: str, env: str) -> dict[tuple[str, str], str]:
    return {
        key: child["metadata"]["resourceVersion"]
        for key, child in owned_children(api, namespace, env).items()
    }


def volume_claim(statefulset: str) -> str:
    """The PersistentVolumeClaim of the StatefulSet's first pod (claim template `data`)."""
    return f"data-{statefulset}-0"


def quiescent(api: Api, namespace: str, env: str) -> dict[tuple[str, str], str]:
    """Versions once controllers have stopped updating the children's status."""

    def unchanged() -> dict[tuple[str, str], str] | None:
        first = versions(api, namespace, env)
        time.sleep(2)
        return first if versions(api, namespace, env) == first else None

    return eventually(unchanged, timeout=60, what="children settle")


def staging_ready(api: Api, namespace: str) -> tuple[dict[str, Any], ChildNames]:
    """The staging example applied and Ready: its document and its children's names."""
    doc = environment_doc("environment-staging.yaml")
    name = doc["metadata"]["name"]
    api.apply(doc, namespace)
    eventually(lambda: ready(api, namespace, name), timeout=90, what="Ready")
    return doc, ChildNames(name)


def test_change_touches_only_affected_children_and_unchanged_reconcile_writes_nothing(
    api: Api, namespace: str, operator: OperatorProcess
) -> None:
    doc, names = staging_ready(api, namespace)
    name = doc["metadata"]["name"]
    before = versions(api, namespace, name)
    changed = copy.deepcopy(doc)
    changed["spec"]["redis"] = {"maxMemory": "256Mi"}
    api.apply(changed, namespace)
    eventually(
        lambda: (
            "maxmemory 268435456"
            in (api.get("ConfigMap", namespace, names.redis_config) or {})
            .get("data", {})
            .get("redis.conf", "")
        ),
        what="redis config updated",
    )
    eventually(lambda: ready(api, namespace, name), timeout=90, what="Ready again")
    after = versions(api, namespace, name)
    changed_keys = {key for key in before if before[key] != after.get(key)}
    assert changed_keys <= {
        ("ConfigMap", names.redis_config),
        ("StatefulSet", names.redis),
        ("PersistentVolumeClaim", volume_claim(names.redis)),
    }, changed_keys
    assert ("ConfigMap", names.redis_config) in changed_keys
    # An unchanged Environment reconciled again (an operator restart forces it) writes nothing.
    settled = quiescent(api, namespace, name)
    env_version = api.get("Environment", namespace, name)["metadata"]["resourceVersion"]  # type: ignore[index]
    operator.stop()
    operator.start()
    # Every child but the password Secrets (created once, never applied) is looked at.
    converged = {key for key in expected_children(doc, namespace) if key[0] != "Secret"}
    eventually(
        lambda: (
            operator.alive()
            and environment_reconciles(operator.metrics_port) >= 1
            and sum(child_applies(operator.metrics_port)) >= len(converged)
        ),
        what="a full reconcile after restart",
    )
    assert versions(api, namespace, name) == settled
    assert api.get("Environment", namespace, name)["metadata"]["resourceVersion"] == env_version  # type: ignore[index]


def test_upgrade_removes_the_backup_script_configmap_earlier_versions_wrote(
    api: Api, namespace: str, operator: OperatorProcess
) -> None:
    doc, names = staging_ready(api, namespace)
    name = doc["metadata"]["name"]
    cronjob = api.get("CronJob", namespace, names.backup_cronjob)
    assert cronjob is not None
    # What an earlier version wrote beside the CronJob: the script in a ConfigMap of its
    # own, with the same labels and owner.
    old = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": names.backup_script,
            "labels": cronjob["metadata"]["labels"],
            "ownerReferences": cronjob["metadata"]["ownerReferences"],
        },
        "data": {"backup.sh": "#!/bin/sh\n"},
    }
    api.apply(old, namespace, manager="tierkeeper")
    operator.stop()  # the upgrade: this version starts over what the earlier one left
    operator.start()
    eventually(
        lambda: api.get("ConfigMap", namespace, names.backup_script) is None,
        what="the old script ConfigMap removed",
    )
    assert api.get("CronJob", namespace, names.backup_cronjob) is not None
    assert ready(api, namespace, name)


def test_hand_deleted_service_and_edited_image_are_put_back_but_hpa_replicas_are_not_fought(
    api: Api, namespace: str, operator: OperatorProcess
) -> None:
    names = ChildNames("shop-staging")
    app = names.rolling_deployment
    api.apply(environment_doc("environment-staging.yaml"), namespace)
    api.apply(release("ghcr.io/acme/shop:1.0.0", name="shop-staging"), namespace)
    eventually(
        lambda: api.get("Deployment", namespace, app),
        timeout=90,
        what="app Deployment",
    )
    api.delete("Service", namespace, names.app_service)
    eventually(lambda: api.get("Service", namespace, names.app_service), what="Service restored")
    api.patch(
        "Deployment",
        namespace,
        app,
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "evil:latest"}]}}}},
    )
    eventually(
        lambda: (
            (api.get("Deployment", namespace, app) or {})["spec"]["template"]["spec"]["containers"][
                0
            ]["image"]
            == "ghcr.io/acme/shop:1.0.0"
        ),
        what="image restored",
    )
    # An HPA-like manager takes spec.replicas; the operator leaves it alone.
    api.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": app},
            "spec": {"replicas": 5},
        },
        namespace,
        manager="hpa-controller",
    )
    # At once, before the operator's watch may have seen the new owner: the apply's
    # conflict on spec.replicas alone tells it too.
    api.patch("Environment", namespace, "shop-staging", {"spec": {"app": {"replicas": 3}}})
    eventually(
        lambda: (
            (api.get("Environment", namespace, "shop-staging") or {})
            .get("status", {})
            .get("observedGeneration")
            == (api.get("Environment", namespace, "shop-staging") or {})["metadata"]["generation"]
        ),
        what="new generation reconciled",
    )
    # The status is written after the children: the reconcile of the new replica count
    # has applied the Deployment by now, and left its replicas to their owner.
    assert (api.get("Deployment", namespace, app) or {})["spec"]["replicas"] == 5


def test_deleting_production_keeps_volumes_and_credentials(
    api: Api, namespace: str, operator: OperatorProcess
) -> None:
    names = ChildNames("shop-production")
    doc = environment_doc("environment-production.yaml")
    api.apply(doc, namespace)
    eventually(lambda: ready(api, namespace, "shop-production"), timeout=90, what="Ready")
    credentials = ("shop-production-postgres-credentials", "shop-production-redis-credentials")
    secrets = {name: api.get("Secret", namespace, name) for name in credentials}
    api.delete("Environment", namespace, "shop-production")
    eventually(
        lambda: api.get("Environment", namespace, "shop-production") is None,
        timeout=60,
        what="gone",
    )
    eventually(
        lambda: api.get("Service", namespace, names.app_service) is None,
        timeout=60,
        what="children collected",
    )
    for name, secret in secrets.items():
        kept = api.get("Secret", namespace, name)
        assert secret is not None and kept is not None, name
        assert not kept["metadata"].get("ownerReferences"), name
        assert kept["metadata"]["labels"]["tierkeeper.dev/retained-from"] == "shop-production"
        assert kept["data"] == secret["data"], name
    claims = {c["metadata"]["name"] for c in api.list("PersistentVolumeClaim", namespace)}
    assert {
        names.backups_pvc,
        volume_claim(names.postgres),
        volume_claim(names.redis),
    } <= claims


def test_deleting_development_removes_everything(
    api: Api, namespace: str, operator: OperatorProcess
) -> None:
    api.apply(environment_doc("environment-development.yaml"), namespace)
    eventually(lambda: ready(api, namespace, "shop-dev"), timeout=90, what="Ready")
    api.delete("Environment", namespace, "shop-dev")
    eventually(
        lambda: (
            not any(
                api.list(kind, namespace, instance_selector("shop-dev")) for kind in OWNED_KINDS
            )
        ),
        timeout=90,
        what="everything collected",
    )


def finalizers(api: Api, namespace: str, name: str) -> list[str]:
    found: list[str] = ((api.get("Environment", namespace, name) or {}).get("metadata") or {}).get(
        "finalizers"
    ) or []
    return found


def test_only_an_environment_that_keeps_its_data_carries_the_finalizer(
    api: Api, namespace: str, operator: OperatorProcess
) -> None:
    """Deletion has work for the operator only under Retain: a development Environment is
    collected without it, and the finalizer comes and goes with the policy."""
    doc = environment_doc("environment-development.yaml")
    api.apply(doc, namespace)
    eventually(lambda: ready(api, namespace, "shop-dev"), timeout=90, what="Ready")
    assert FINALIZER not in finalizers(api, namespace, "shop-dev")

    retained = copy.deepcopy(doc)
    retained["spec"]["deletionPolicy"] = "Retain"
    api.apply(retained, namespace)
    eventually(lambda: FINALIZER in finalizers(api, namespace, "shop-dev"), what="finalizer added")
    api.apply(doc, namespace)
    eventually(
        lambda: FINALIZER not in finalizers(api, namespace, "shop-dev"), what="finalizer removed"
    )


def test_restart_mid_reconcile_converges_without_duplicates(
    api: Api, namespace: str, operator: OperatorProcess
) -> None:
    api.apply(environment_doc("environment-staging.yaml"), namespace)
    eventually(
        lambda: api.get("StatefulSet", namespace, ChildNames("shop-staging").postgres),
        what="first children",
    )
    operator.kill()
    operator.start()
    eventually(
        lambda: ready(api, namespace, "shop-staging"), timeout=90, what="Ready after restart"
    )
    secrets = api.list("Secret", namespace, instance_selector("shop-staging"))
    # One of each password Secret (PostgreSQL's, Redis's), never a second of either.
    assert sorted(s["metadata"]["name"] for s in secrets) == [
        "shop-staging-postgres-credentials",
        "shop-staging-redis-credentials",
    ]
    assert set(owned_children(api, namespace, "shop-staging")) == expected_children(
        environment_doc("environment-staging.yaml"), namespace
    )


def test_missing_external_secret_is_refused_until_it_is_created(
    api: Api, namespace: str, operator: OperatorProcess
) -> None:
    """Refused with a condition and an Event, nothing written; converges once the team
    creates the Secret, though the operator does not watch the team's Secrets."""
    doc = environment_doc("environment-development.yaml")
    doc["spec"]["external"] = {"sentry": {"secretRef": {"name": "sentry", "key": "dsn"}}}
    api.apply(doc, namespace)

    def refused() -> dict[str, Any] | None:
        env = api.get("Environment", namespace, "shop-dev")
        ready_condition = [
            c for c in (env or {}).get("status", {}).get("conditions", []) if c["type"] == "Ready"
        ]
        return (
            env
            if ready_condition and ready_condition[0]["reason"] == "ExternalSecretMissing"
            else None
        )

    env = eventually(refused, timeout=60, what="ExternalSecretMissing")
    assert (
        "sentry" in next(c for c in env["status"]["conditions"] if c["type"] == "Ready")["message"]
    )
    events = eventually(
        lambda: [e for e in api.list("Event", namespace) if e["reason"] == "ExternalSecretMissing"],
        what="Warning Event",
    )
    assert events[0]["type"] == "Warning"
    assert not owned_children(api, namespace, "shop-dev")

    api.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "sentry"},
            "stringData": {"dsn": "https://key@sentry.invalid/1"},
        },
        namespace,
    )
    eventually(lambda: ready(api, namespace, "shop-dev"), timeout=120, what="Ready once created")


def test_a_child_the_api_server_refuses_is_reported_and_retried(
    api: Api, namespace: str, operator: OperatorProcess
) -> None:
    """A quota that allows no CronJob: the Environment says so, and converges once it goes."""
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "no-cronjobs"},
        "spec": {"hard": {"count/cronjobs.batch": "0"}},
    }
    api.apply(quota, namespace)
    eventually(
        lambda: (api.get("ResourceQuota", namespace, "no-cronjobs") or {}).get("status"),
        what="quota enforced",
    )
    api.apply(environment_doc("environment-development.yaml"), namespace)
    refused = eventually(
        lambda: (
            (found := condition(api.get("Environment", namespace, "shop-dev"), "Ready"))
            and found["reason"] == "ChildRejected"
            and found
        ),
        what="ChildRejected",
    )
    assert "exceeded quota" in refused["message"]
    eventually(
        lambda: any(
            e["reason"] == "ChildRejected" and e["type"] == "Warning"
            for e in api.list("Event", namespace)
        ),
        what="Warning Event",
    )
    api.delete("ResourceQuota", namespace, "no-cronjobs")
    eventually(lambda: ready(api, namespace, "shop-dev"), timeout=90, what="Ready once allowed")
    assert api.list("CronJob", namespace, instance_selector("shop-dev"))


def test_env_values_beyond_the_basic_multilingual_plane_reach_the_deployment(
    api: Api, namespace: str, operator: OperatorProcess
) -> None:
    """Server-side apply of an emoji: JSON escapes it as a surrogate pair, which the API
    server's YAML decoder refuses, so the operator must send it as UTF-8."""
    doc = environment_doc("environment-development.yaml")
    doc["spec"]["app"] = {"env": [{"name": "GREETING", "value": "grüße 名前 💥"}]}
    api.apply(doc, namespace)
    api.apply(release("shop:1", name="shop-dev"), namespace)
    deployment = eventually(
        lambda: api.get("Deployment", namespace, ChildNames("shop-dev").rolling_deployment),
        timeout=90,
        what="app",
    )
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "GREETING", "value": "grüße 名前 💥"} in env


def test_an_operator_watching_many_namespaces_still_reconciles(
    cluster: Any, api: Api, namespace: str, tmp_path: Path
) -> None:
    """Each namespace costs a watch per kind of child, each holding a connection: they
    must not take the connections the reconciles write with."""
    others = [f"{namespace[:50]}-x{i}" for i in range(6)]
    process = OperatorProcess(
        kubeconfig=Path(cluster.kubeconfig),
        namespace=namespace,
        log=tmp_path / "operator.log",
        extra_args=tuple(arg for other in others for arg in ("--namespace", other)),
    )
    process.start()
    try:
        api.apply(environment_doc("environment-development.yaml"), namespace)
        eventually(lambda: ready(api, namespace, "shop-dev"), timeout=90, what="Ready")
    finally:
        process.stop()
