"""The private network: one NetworkPolicy per component that accepts connections.

A pod that some policy selects for Ingress accepts only what one of those policies lets
in; so PostgreSQL and Redis, once selected here, deny every other pod of the cluster.

- PostgreSQL: this Environment's app and backup pods (the backup CronJob, and restore or
  dump-drill pods run with the backup component's labels); a CloudNativePG cluster also its
  own instances (replication) and, on its status port, CloudNativePG's operator, wherever
  that runs. The object-store drill's pods (component `drill`) are not among them: they
  restore from the store into a scratch instance and never need the live database.
- A CloudNativePG drill's scratch Cluster: the drill's check pods only (and its
  instance's status port for CloudNativePG's operator). The check pods carry the drill
  component's labels, so they reach the scratch copy and never the live database.
- No policy limits egress: backup and drill pods reach the object store, the off-site
  mirror's pods (component `offsite`, admitted nowhere) both stores, and the drill pods
  the API server (their result ConfigMap).
- Redis: this Environment's app pods.
- The app: everyone, unless the operator names the ingress controller's namespace; then
  that namespace and the operator's own (its health gate).
"""

from __future__ import annotations

from typing import Any

from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.endpoints import POSTGRES_PORT, REDIS_PORT
from tierkeeper.models.site import Site
from tierkeeper.render.common import COMPONENT, INSTANCE, Component, Manifest, metadata, selector
from tierkeeper.render.drill import cnpg_drilled

NETWORK_API_VERSION = "networking.k8s.io/v1"
NAMESPACE_NAME = "kubernetes.io/metadata.name"
# Labels CloudNativePG gives the pods of a Cluster, and the port its operator asks them on.
CNPG_CLUSTER = "cnpg.io/cluster"
CNPG_STATUS_PORT = 8000


def _peers(env: ResolvedEnvironment, *components: Component) -> dict[str, Any]:
    """Pods of these components of this Environment, in its namespace."""
    return {
        "podSelector": {
            "matchLabels": {INSTANCE: env.names.instance_label},
            "matchExpressions": [
                {"key": COMPONENT, "operator": "In", "values": [c.value for c in components]}
            ],
        }
    }


def _namespace_peer(namespace: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME: namespace}}}


def _tcp(port: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port}]


def _cnpg_operator() -> dict[str, Any]:
    """CloudNativePG's operator asks each instance on its status port, from wherever it
    runs."""
    return {"from": [{"namespaceSelector": {}}], "ports": _tcp(CNPG_STATUS_PORT)}


def _policy(
    env: ResolvedEnvironment,
    component: Component,
    pods: dict[str, str],
    ingress: list[dict[str, Any]],
) -> Manifest:
    return {
        "apiVersion": NETWORK_API_VERSION,
        "kind": "NetworkPolicy",
        "metadata": metadata(env, env.names.network_policy(component.value), component),
        "spec": {
            "podSelector": {"matchLabels": pods},
            "policyTypes": ["Ingress"],
            "ingress": ingress,
        },
    }


def render_postgres_policy(env: ResolvedEnvironment) -> Manifest | None:
    if not (env.spec.network.policies and env.spec.postgres.enabled):
        return None
    clients = _peers(env, Component.APP, Component.BACKUP)
    if not env.cloudnative_pg:
        pods = selector(env, Component.POSTGRES)
        return _policy(
            env, Component.POSTGRES, pods, [{"from": [clients], "ports": _tcp(POSTGRES_PORT)}]
        )
    pods = {CNPG_CLUSTER: env.names.postgres}
    instances = {"podSelector": {"matchLabels": pods}}
    return _policy(
        env,
        Component.POSTGRES,
        pods,
        [
            {"from": [clients, instances], "ports": _tcp(POSTGRES_PORT)},
            _cnpg_operator(),
        ],
    )


def render_drill_policy(env: ResolvedEnvironment) -> Manifest | None:
    """The scratch Cluster of a CloudNativePG drill (render/cnpg_drill.py) admits the
    drill's check pods; it exists only during a drill, its policy always."""
    if not (env.spec.network.policies and cnpg_drilled(env)):
        return None
    pods = {CNPG_CLUSTER: env.names.drill_cluster}
    return _policy(
        env,
        Component.DRILL,
        pods,
        [
            {"from": [_peers(env, Component.DRILL)], "ports": _tcp(POSTGRES_PORT)},
            _cnpg_operator(),
        ],
    )


def render_redis_policy(env: ResolvedEnvironment) -> Manifest | None:
    if not (env.spec.network.policies and env.spec.redis.enabled):
        return None
    rule = {"from": [_peers(env, Component.APP)], "ports": _tcp(REDIS_PORT)}
    return _policy(env, Component.REDIS, selector(env, Component.REDIS), [rule])


def render_app_policy(env: ResolvedEnvironment, site: Site) -> Manifest | None:
    """Only with an ingress namespace: without one every pod may reach the app, which is
    what no policy at all means."""
    if not (env.spec.network.policies and site.ingress_namespace):
        return None
    namespaces = sorted({site.ingress_namespace, site.operator_namespace or site.ingress_namespace})
    rule = {
        "from": [_namespace_peer(namespace) for namespace in namespaces],
        "ports": _tcp(env.spec.app.port),
    }
    return _policy(env, Component.APP, selector(env, Component.APP), [rule])
