"""Who may reach whom: the rendered NetworkPolicies judged against the pods' labels.

Two Environments share a namespace (one with the builtin PostgreSQL, one with
CloudNativePG), beside a stranger pod, an ingress controller and the operator. Every pod's
labels come from the rendered manifests (CloudNativePG's from the labels it documents for
its instances); tests/unit/netpol.py evaluates the policies. Nothing here enforces them:
no network plugin of the local test cluster does (README, "Private network").
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.helpers import env_of
from tests.unit.netpol import Pod, allowed, matches
from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.endpoints import POSTGRES_PORT, REDIS_PORT
from tierkeeper.models.names import ChildNames
from tierkeeper.models.rollout import AppRollout
from tierkeeper.models.site import Site
from tierkeeper.render import network_children, render_children, wanted
from tierkeeper.render.common import Manifest

NAMESPACE = "team"
INGRESS = Pod("ingress-controller", "ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
OPERATOR = Pod("operator", "tierkeeper-system", {"app.kubernetes.io/name": "tierkeeper"})
STRANGER = Pod("stranger", NAMESPACE, {"run": "stranger"})
SITE = Site(ingress_namespace="ingress-nginx", operator_namespace="tierkeeper-system")


def environments() -> list[ResolvedEnvironment]:
    return [
        env_of({"tier": "staging"}, name="shop", namespace=NAMESPACE),
        env_of({"tier": "production"}, name="blog", namespace=NAMESPACE),  # CloudNativePG
    ]


def _template_labels(manifest: Manifest) -> dict[str, str]:
    spec = manifest["spec"]
    pod_spec = spec["jobTemplate"]["spec"] if "jobTemplate" in spec else spec
    labels: dict[str, str] = pod_spec["template"]["metadata"]["labels"]
    return labels


def pods_of(env: ResolvedEnvironment) -> dict[str, Pod]:
    """Every pod the Environment runs, by role, with the labels its controller gives it."""
    manifests = wanted(render_children(env, AppRollout.first(env, "shop:1"), SITE))
    pods: dict[str, Pod] = {}
    for manifest in manifests:
        if manifest["kind"] not in ("Deployment", "StatefulSet", "CronJob"):
            continue
        labels = _template_labels(manifest)
        role = labels["app.kubernetes.io/component"]
        pods[f"{env.name}/{role}"] = Pod(manifest["metadata"]["name"], NAMESPACE, labels)
    if env.cloudnative_pg:
        cluster = env.names.postgres
        labels = {"cnpg.io/cluster": cluster, "cnpg.io/instanceName": cluster + "-1"}
        pods[f"{env.name}/postgres"] = Pod(cluster + "-1", NAMESPACE, labels)
        replica = {**labels, "cnpg.io/instanceName": cluster + "-2"}
        pods[f"{env.name}/postgres-replica"] = Pod(cluster + "-2", NAMESPACE, replica)
    # A restore drill (or a restore) runs with the backup component's labels.
    backup = {**pods[f"{env.name}/app"].labels, "app.kubernetes.io/component": "backup"}
    backup.pop("tierkeeper.dev/color", None)
    pods[f"{env.name}/drill"] = Pod("drill", NAMESPACE, backup)
    return pods


def reach_table(site: Site) -> dict[str, set[str]]:
    """For each data server and app: every pod that may connect to it."""
    envs = environments()
    policies = [m for env in envs for m in wanted(network_children(env, site))]
    everyone: dict[str, Pod] = {"stranger": STRANGER, "ingress": INGRESS, "operator": OPERATOR}
    for env in envs:
        everyone.update(pods_of(env))
    table: dict[str, set[str]] = {}
    for env in envs:
        ports = {"postgres": POSTGRES_PORT, "redis": REDIS_PORT, "app": env.spec.app.port}
        for role, port in ports.items():
            target = everyone[f"{env.name}/{role}"]
            table[f"{env.name}/{role}"] = {
                name
                for name, source in everyone.items()
                if source is not target and allowed(policies, source, target, port)
            }
    return table


def test_each_database_and_redis_is_reachable_only_from_its_own_app_backup_and_drill() -> None:
    table = reach_table(SITE)

    assert table["shop/postgres"] == {"shop/app", "shop/backup", "shop/drill"}
    # CloudNativePG: no backup CronJob of ours; its replica streams from the primary.
    assert table["blog/postgres"] == {"blog/app", "blog/drill", "blog/postgres-replica"}
    assert table["shop/redis"] == {"shop/app"}
    assert table["blog/redis"] == {"blog/app"}


def test_nothing_crosses_between_the_two_environments() -> None:
    table = reach_table(SITE)

    for target, sources in table.items():
        other = "blog/" if target.startswith("shop/") else "shop/"
        assert not {s for s in sources if s.startswith(other)}, (target, sources)
        assert "stranger" not in sources, target


def test_the_app_accepts_the_ingress_namespace_and_the_operator_or_everyone() -> None:
    assert reach_table(SITE)["shop/app"] == {"ingress", "operator"}
    open_table = reach_table(Site())
    every_pod = set().union(*open_table.values()) | set(open_table)
    assert open_table["shop/app"] == every_pod - {"shop/app"}
    # Opening the app opens nothing else.
    assert open_table["shop/redis"] == {"shop/app"}


def test_cloudnative_pg_status_port_stays_open_to_its_operator() -> None:
    (blog,) = [env for env in environments() if env.cloudnative_pg]
    policies = wanted(network_children(blog, SITE))
    instance = pods_of(blog)["blog/postgres"]
    cnpg_operator = Pod("cnpg", "cnpg-system", {"app.kubernetes.io/name": "cloudnative-pg"})

    assert allowed(policies, cnpg_operator, instance, 8000)
    assert not allowed(policies, cnpg_operator, instance, POSTGRES_PORT)


def test_policies_turned_off_render_none() -> None:
    env = env_of({"tier": "staging", "network": {"policies": False}}, namespace=NAMESPACE)
    assert wanted(network_children(env, SITE)) == []


@pytest.mark.parametrize("name", ["a" * 253, "shop.example.team-" + "x" * 200, "a" * 63])
def test_policy_names_are_dns_labels_and_select_the_right_pods_at_the_longest_names(
    name: str,
) -> None:
    env = env_of({"tier": "staging"}, name=name, namespace=NAMESPACE)
    policies = {m["metadata"]["name"]: m for m in wanted(network_children(env, SITE))}
    names = ChildNames(name)
    assert set(policies) == {names.network_policy(c) for c in ("app", "postgres", "redis")}
    assert all(len(n) <= 63 for n in policies)
    pods = pods_of(env)
    redis_policy = policies[names.network_policy("redis")]
    assert matches(redis_policy["spec"]["podSelector"], pods[f"{name}/redis"].labels)


# The evaluator itself, on cases whose answer the Kubernetes documentation states.


def _policy(spec: dict[str, Any], namespace: str = NAMESPACE) -> Manifest:
    return {"metadata": {"name": "p", "namespace": namespace}, "spec": spec}


def test_evaluator_follows_the_documented_semantics() -> None:
    web = Pod("web", NAMESPACE, {"role": "web"})
    db = Pod("db", NAMESPACE, {"role": "db"})
    elsewhere = Pod("web", "other", {"role": "web"})
    only_web = _policy(
        {
            "podSelector": {"matchLabels": {"role": "db"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "web"}}}]}],
        }
    )
    deny_all = _policy({"podSelector": {}, "policyTypes": ["Ingress"]})
    allow_all = _policy({"podSelector": {}, "ingress": [{}]})
    any_namespace = _policy({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]})

    assert allowed([], elsewhere, db, 1)  # nothing selects db: open
    assert allowed([only_web], web, db, 1)
    assert not allowed([only_web], elsewhere, db, 1)  # podSelector alone: own namespace
    assert not allowed([deny_all], web, db, 1)
    assert allowed([deny_all, allow_all], elsewhere, db, 1)  # policies add up
    assert allowed([any_namespace], elsewhere, db, 1)
    assert allowed([only_web], db, web, 1)  # only_web does not select web
