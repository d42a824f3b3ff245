"""The route from outside: an Ingress or a Gateway API HTTPRoute to the active Service, and
while a blue-green rollout is in flight a second one, `preview-HOST`, to the preview Service.

Routes name Services, never colours: a blue-green switch changes what the active Service
selects, so traffic moves without a write here. TLS comes from the team's Secret, or from
cert-manager: its annotation on an Ingress, a Certificate for an HTTPRoute (whose TLS the
Gateway's listener terminates with that Secret).
"""

from __future__ import annotations

from typing import Any

from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.names import DNS_LABEL_MAX, fit_name
from tierkeeper.models.route import PREVIEW_PREFIX, IssuerKind, RouteKind
from tierkeeper.models.site import Site
from tierkeeper.render.common import Component, Manifest, metadata

INGRESS_API_VERSION = "networking.k8s.io/v1"
GATEWAY_API_VERSION = "gateway.networking.k8s.io/v1"
CERT_MANAGER_API_VERSION = "cert-manager.io/v1"
ISSUER_ANNOTATIONS = {
    IssuerKind.ISSUER: "cert-manager.io/issuer",
    IssuerKind.CLUSTER_ISSUER: "cert-manager.io/cluster-issuer",
}


def route_hosts(env: ResolvedEnvironment, site: Site) -> list[str]:
    """The public hosts: the spec's, else the operator's template's; none without either,
    or with routes off."""
    route = env.spec.route
    if not route.enabled:
        return []
    if route.hosts:
        return list(route.hosts)
    if site.route_host_template is None:
        return []
    host = site.route_host_template.format(
        environment=env.names.instance_label, namespace=env.namespace
    )
    return [host.lower()]


def preview_host(host: str) -> str:
    """`preview-` before the first label, shortened (as child names) to stay a DNS label."""
    first, _, rest = host.partition(".")
    label = fit_name(first, limit=DNS_LABEL_MAX - len(PREVIEW_PREFIX))
    return ".".join(part for part in (PREVIEW_PREFIX + label, rest) if part)


def urls(env: ResolvedEnvironment, hosts: list[str]) -> list[str]:
    scheme = "https" if env.spec.route.tls else "http"
    path = env.spec.route.path
    return [f"{scheme}://{host}{'' if path == '/' else path}" for host in hosts]


def _tls_secret(env: ResolvedEnvironment, preview: bool) -> str | None:
    tls = env.spec.route.tls
    if tls is None:
        return None
    if tls.secret_name and not (preview and tls.issuer):
        return tls.secret_name
    return env.names.preview_tls if preview else env.names.route_certificate


def _ingress(
    env: ResolvedEnvironment, name: str, hosts: list[str], service: str, preview: bool
) -> Manifest:
    route = env.spec.route
    backend = {"service": {"name": service, "port": {"number": env.spec.app.port}}}
    path = {"path": route.path, "pathType": "Prefix", "backend": backend}
    spec: dict[str, Any] = {"rules": [{"host": h, "http": {"paths": [path]}} for h in hosts]}
    if route.class_name:
        spec["ingressClassName"] = route.class_name
    meta = metadata(env, name, Component.APP)
    secret = _tls_secret(env, preview)
    if secret is not None:
        spec["tls"] = [{"hosts": hosts, "secretName": secret}]
    if route.tls is not None and route.tls.issuer is not None:
        meta["annotations"] = {ISSUER_ANNOTATIONS[route.tls.issuer.kind]: route.tls.issuer.name}
    return {"apiVersion": INGRESS_API_VERSION, "kind": "Ingress", "metadata": meta, "spec": spec}


def _http_route(env: ResolvedEnvironment, name: str, hosts: list[str], service: str) -> Manifest:
    route = env.spec.route
    parents = [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": ref.name,
            **({"namespace": ref.namespace} if ref.namespace else {}),
            **({"sectionName": ref.section_name} if ref.section_name else {}),
        }
        for ref in route.parent_refs
    ]
    rule = {
        "matches": [{"path": {"type": "PathPrefix", "value": route.path}}],
        "backendRefs": [{"name": service, "port": env.spec.app.port}],
    }
    return {
        "apiVersion": GATEWAY_API_VERSION,
        "kind": "HTTPRoute",
        "metadata": metadata(env, name, Component.APP),
        "spec": {"parentRefs": parents, "hostnames": hosts, "rules": [rule]},
    }


def _render(
    env: ResolvedEnvironment,
    kind: RouteKind,
    name: str,
    hosts: list[str],
    service: str,
    preview: bool,
) -> Manifest | None:
    if not hosts or env.spec.route.kind is not kind:
        return None
    if kind is RouteKind.INGRESS:
        return _ingress(env, name, hosts, service, preview)
    return _http_route(env, name, hosts, service)


def render_route(env: ResolvedEnvironment, site: Site, kind: RouteKind) -> Manifest | None:
    """The route of `kind` to the active Service (None: the Environment has none of it)."""
    return _render(env, kind, env.names.route, route_hosts(env, site), env.names.app_service, False)


def render_preview_route(
    env: ResolvedEnvironment, site: Site, kind: RouteKind, in_flight: bool
) -> Manifest | None:
    """The route of `kind` to the preview Service, only while a blue-green rollout is in
    flight (`in_flight`): before the switch, the preview is what a person checks."""
    if not (env.blue_green and in_flight):
        return None
    hosts = [preview_host(h) for h in route_hosts(env, site)]
    return _render(env, kind, env.names.preview_route, hosts, env.names.preview_service, True)


def render_certificate(env: ResolvedEnvironment, site: Site) -> Manifest | None:
    """For an HTTPRoute with a cert-manager issuer: the Certificate its Gateway's listener
    serves, covering the preview host too so that it is ready before a rollout needs it."""
    route, hosts = env.spec.route, route_hosts(env, site)
    if route.kind is not RouteKind.HTTP_ROUTE or not hosts or route.tls is None:
        return None
    issuer = route.tls.issuer
    if issuer is None:
        return None
    previews = [preview_host(h) for h in hosts] if env.blue_green else []
    return {
        "apiVersion": CERT_MANAGER_API_VERSION,
        "kind": "Certificate",
        "metadata": metadata(env, env.names.route_certificate, Component.APP),
        "spec": {
            "secretName": route.tls.secret_name or env.names.route_certificate,
            "dnsNames": [*hosts, *previews],
            "issuerRef": {
                "group": "cert-manager.io",
                "kind": issuer.kind.value,
                "name": issuer.name,
            },
        },
    }
