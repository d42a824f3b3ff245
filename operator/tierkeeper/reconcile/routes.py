"""The routes from outside: what the Environment reconcile does beyond applying them.

- The preview route follows the rollout, not the spec: it exists while a blue-green
  rollout is in flight before its switch. A Release step changes no Environment spec, so
  every reconcile of the Environment (not only a converge) checks whether the preview
  route's presence must change, and writes only then.
- A host another Environment's route, or an Ingress that is not ours, already serves is
  refused (RouteHostTaken) and no route is written: nothing of theirs is overwritten.
- HTTPRoutes and Certificates are not watched (their CRDs may be missing), so an unwanted
  one is deleted by name, and the preview HTTPRoute's presence is read from the server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from tierkeeper.apply.children import Owner, converge
from tierkeeper.apply.client import ApiClient
from tierkeeper.apply.errors import NotFound
from tierkeeper.models import Phase, ResolvedEnvironment
from tierkeeper.models.child import LiveChildren
from tierkeeper.models.endpoints import Endpoints
from tierkeeper.models.rollout import AppRollout
from tierkeeper.models.route import IssuerKind, RouteKind
from tierkeeper.models.site import Site
from tierkeeper.render import Child, route_children
from tierkeeper.render.route import (
    CERT_MANAGER_API_VERSION,
    GATEWAY_API_VERSION,
    INGRESS_API_VERSION,
    preview_host,
    route_hosts,
    urls,
)
from tierkeeper.status.conditions import Observation, observe

ROUTE_HOST_TAKEN = "RouteHostTaken"
WATCHED_ROUTE_KINDS = ("Ingress",)
_BEFORE_SWITCH = {Phase.DEPLOYING, Phase.VERIFYING, Phase.AWAITING_PROMOTION}


def in_flight(
    env: ResolvedEnvironment, release_status: Mapping[str, Any], rollout: AppRollout
) -> bool:
    """A blue-green rollout before its switch: the Release deploys, verifies or waits for
    promotion, and the active Service does not serve its target image yet."""
    if not env.blue_green or release_status.get("phase") not in _BEFORE_SWITCH:
        return False
    target = release_status.get("targetImage")
    return target is not None and rollout.active_image(env) != target


def all_hosts(env: ResolvedEnvironment, site: Site) -> list[str]:
    hosts = route_hosts(env, site)
    return hosts + ([preview_host(h) for h in hosts] if env.blue_green else [])


async def hosts_taken(
    kube: ApiClient, env: ResolvedEnvironment, site: Site, owner: Owner
) -> list[str]:
    """Hosts of this Environment's routes that a route of another owner already serves:
    any Ingress, and for an HTTPRoute Environment any HTTPRoute (a listing of each, in every
    namespace, on a converge only)."""
    wanted = set(all_hosts(env, site))
    if not wanted:
        return []
    taken = []
    for ingress in await kube.list(INGRESS_API_VERSION, "Ingress", None, ""):
        rules = (ingress.get("spec") or {}).get("rules") or []
        taken += _foreign("Ingress", ingress, owner, wanted & {r.get("host") for r in rules})
    if env.spec.route.kind is RouteKind.HTTP_ROUTE:
        with contextlib.suppress(NotFound):  # Gateway API not installed: nothing routes
            for route in await kube.list(GATEWAY_API_VERSION, "HTTPRoute", None, ""):
                hostnames = (route.get("spec") or {}).get("hostnames") or []
                taken += _foreign("HTTPRoute", route, owner, wanted & set(hostnames))
    return taken


def _foreign(kind: str, route: Mapping[str, Any], owner: Owner, hosts: set[str]) -> list[str]:
    """A listing's items carry no kind: the caller names it."""
    meta = route["metadata"]
    if owner.uid in {ref.get("uid") for ref in meta.get("ownerReferences") or []}:
        return []
    where = f"{kind} {meta['namespace']}/{meta['name']}"
    return [f"host {host} is routed by {where}" for host in sorted(hosts)]


def routed(env: ResolvedEnvironment, site: Site, previous: Endpoints | None) -> bool:
    """Whether the Environment has, or had when its status was last written, a route: only
    then can an HTTPRoute or Certificate of its exist, and need deleting by name."""
    return bool(route_hosts(env, site)) or bool(previous and previous.urls)


async def remove_unwatched(
    kube: ApiClient, env: ResolvedEnvironment, children: list[Child]
) -> None:
    """Delete the unwanted routes and Certificates of kinds no watch reports, by name: a
    request each on a converge (not on other reconciles); a missing one, or a missing CRD,
    is already the goal."""

    async def remove(child: Child) -> None:
        with contextlib.suppress(NotFound):
            await kube.delete(child.api_version, child.kind, env.namespace, child.name)

    unwanted = [c for c in children if c.manifest is None and c.kind not in WATCHED_ROUTE_KINDS]
    await asyncio.gather(*(remove(c) for c in unwanted))


async def sync_preview_route(
    kube: ApiClient,
    env: ResolvedEnvironment,
    site: Site,
    live: LiveChildren,
    owner: Owner,
    flight: bool,
) -> None:
    """Create or delete the preview route when the rollout's phase asks for a change."""
    names = env.names
    (preview,) = [
        c
        for c in route_children(env, site, flight)
        if c.name == names.preview_route and c.kind == env.spec.route.kind.value
    ]
    if not route_hosts(env, site):
        return
    exists = await _exists(kube, env, preview, live)
    if exists == (preview.manifest is not None):
        return
    await converge(kube, env, [preview], live, owner)
    if preview.manifest is None and preview.kind not in WATCHED_ROUTE_KINDS:
        await remove_unwatched(kube, env, [preview])


async def _exists(
    kube: ApiClient, env: ResolvedEnvironment, child: Child, live: LiveChildren
) -> bool:
    if child.kind in WATCHED_ROUTE_KINDS:
        return (child.kind, child.name) in live
    try:
        await kube.get(child.api_version, child.kind, env.namespace, child.name)
    except NotFound:
        return False
    return True


def route_endpoints(
    endpoints: Endpoints | None, env: ResolvedEnvironment, site: Site, flight: bool
) -> Endpoints | None:
    """The status's endpoints with the public URLs, and the preview's while in flight."""
    if endpoints is None:
        return None
    hosts = route_hosts(env, site)
    public = urls(env, hosts)
    preview = urls(env, [preview_host(h) for h in hosts]) if flight and env.blue_green else []
    return endpoints.model_copy(
        update={
            "url": public[0] if public else None,
            "urls": public or None,
            "preview_url": preview[0] if preview else None,
        }
    )


ROUTE_TLS_READY = "RouteTLSReady"


async def route_tls(kube: ApiClient, env: ResolvedEnvironment, site: Site) -> Observation | None:
    """Whether the route's TLS source exists: the team's Secret, or the cert-manager issuer.
    None for a route without TLS. The route is written either way: without its certificate
    the ingress controller or Gateway still serves the host (plain, or with its default
    certificate), and the condition says what is missing."""
    tls = env.spec.route.tls
    if tls is None or not route_hosts(env, site):
        return None
    if tls.issuer is not None:
        issuer = tls.issuer
        namespace = env.namespace if issuer.kind is IssuerKind.ISSUER else None
        try:
            await kube.get(CERT_MANAGER_API_VERSION, issuer.kind.value, namespace, issuer.name)
        except NotFound:
            return observe(
                ROUTE_TLS_READY,
                False,
                "IssuerMissing",
                f"{issuer.kind.value} {issuer.name} does not exist (or cert-manager is not "
                "installed): the route serves without its certificate until it does; create "
                "it or change spec.route.tls.issuer",
            )
        return observe(ROUTE_TLS_READY, True, "IssuerFound", f"{issuer.kind.value} {issuer.name}")
    name = tls.secret_name or env.names.route_certificate
    try:
        await kube.get("v1", "Secret", env.namespace, name)
    except NotFound:
        return observe(
            ROUTE_TLS_READY,
            False,
            "TLSSecretMissing",
            f"Secret {name} does not exist: the route serves without its certificate until "
            "it does; create it or change spec.route.tls.secretName",
        )
    return observe(ROUTE_TLS_READY, True, "TLSSecretFound", f"Secret {name}")
