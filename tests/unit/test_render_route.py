"""Routes from outside: Ingress or HTTPRoute to the active Service, the preview route while a
blue-green rollout is in flight, TLS, the default host, and names at the longest names."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.unit.helpers import env_of
from tierkeeper.cli.render import render_documents
from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.rollout import AppRollout, Color, ColorRollout
from tierkeeper.models.site import Site
from tierkeeper.reconcile.routes import in_flight, route_endpoints
from tierkeeper.render import route_children, wanted
from tierkeeper.render.app import render_active_service
from tierkeeper.render.common import Manifest
from tierkeeper.render.route import preview_host, route_hosts

SITE = Site(route_host_template="{environment}.{namespace}.apps.example.com")
DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def children(
    env: ResolvedEnvironment, site: Site = SITE, flight: bool = False
) -> dict[str, Manifest]:
    return {
        f"{m['kind']}/{m['metadata']['name']}": m for m in wanted(route_children(env, site, flight))
    }


def production(**route: Any) -> ResolvedEnvironment:
    spec = {"tier": "production", "postgres": {"provider": "builtin", "instances": 1}}
    return env_of({**spec, "route": route} if route else spec)


def test_the_operators_template_gives_a_default_host_routed_to_the_active_service() -> None:
    env = env_of({"tier": "staging"})

    (ingress,) = children(env).values()

    rule = ingress["spec"]["rules"][0]
    assert rule["host"] == "shop.team.apps.example.com"
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "shop", "port": {"number": 8080}}
    assert children(env, Site()) == {}  # no template, no hosts: no route


def test_a_blue_green_switch_moves_traffic_without_touching_the_route() -> None:
    env = production(hosts=["shop.example.com"])
    blue = AppRollout(colors={c: ColorRollout(image="shop:1", replicas=2) for c in Color})
    green = blue.model_copy(update={"active": Color.GREEN})

    assert children(env) == children(env)  # the route takes no rollout at all
    route = children(env)["Ingress/shop"]
    service = route["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
    before, after = render_active_service(env, blue), render_active_service(env, green)
    assert service == before["metadata"]["name"] == after["metadata"]["name"]
    assert before["spec"]["selector"] != after["spec"]["selector"]


def test_preview_route_exists_only_while_a_rollout_is_in_flight() -> None:
    env = production(hosts=["shop.example.com"])

    settled, flying = children(env), children(env, flight=True)

    assert set(flying) - set(settled) == {"Ingress/shop-preview"}
    preview = flying["Ingress/shop-preview"]["spec"]["rules"][0]
    assert preview["host"] == "preview-shop.example.com"
    assert preview["http"]["paths"][0]["backend"]["service"]["name"] == "shop-preview"
    rolling = env_of({"tier": "staging", "route": {"hosts": ["s.example.com"]}})
    assert children(rolling, flight=True) == children(rolling)


@pytest.mark.parametrize(
    ("phase", "active_image", "expected"),
    [
        ("Deploying", "shop:1", True),
        ("Verifying", "shop:1", True),
        ("AwaitingPromotion", "shop:1", True),
        ("Verifying", "shop:2", False),  # switched: post-promotion checks on live traffic
        ("Promoted", "shop:1", False),
        ("Deploying", "shop:2", False),  # a first deploy: nothing to preview
        ("Failed", "shop:1", False),
    ],
)
def test_in_flight_means_before_the_switch(phase: str, active_image: str, expected: bool) -> None:
    env = production()
    rollout = AppRollout(
        colors={
            Color.BLUE: ColorRollout(image=active_image, replicas=2),
            Color.GREEN: ColorRollout(image="shop:2", replicas=2),
        }
    )
    status = {"phase": phase, "targetImage": "shop:2"}
    assert in_flight(env, status, rollout) is expected


def test_status_lists_the_public_and_preview_urls() -> None:
    env = production(hosts=["shop.example.com"], tls={"secretName": "shop-cert"})
    assert env.endpoints is not None

    settled = route_endpoints(env.endpoints, env, SITE, False)
    flying = route_endpoints(env.endpoints, env, SITE, True)

    assert settled is not None and flying is not None
    assert (settled.url, settled.preview_url) == ("https://shop.example.com", None)
    assert flying.preview_url == "https://preview-shop.example.com"


def test_tls_from_a_secret_or_from_cert_manager_on_an_ingress() -> None:
    secret = children(production(hosts=["a.example.com"], tls={"secretName": "wild"}), flight=True)
    assert secret["Ingress/shop"]["spec"]["tls"] == [
        {"hosts": ["a.example.com"], "secretName": "wild"}
    ]
    assert secret["Ingress/shop-preview"]["spec"]["tls"][0]["secretName"] == "wild"

    issued = children(
        production(hosts=["a.example.com"], tls={"issuer": {"name": "letsencrypt"}}), flight=True
    )
    for name, secret_name in (("shop", "shop-tls"), ("shop-preview", "shop-preview-tls")):
        ingress = issued[f"Ingress/{name}"]
        assert ingress["metadata"]["annotations"] == {
            "cert-manager.io/cluster-issuer": "letsencrypt"
        }
        assert ingress["spec"]["tls"][0]["secretName"] == secret_name


def test_an_httproute_attaches_to_its_gateways_with_a_certificate_for_its_hosts() -> None:
    env = production(
        kind="HTTPRoute",
        hosts=["shop.example.com"],
        parentRefs=[{"name": "public", "namespace": "gateways", "sectionName": "https"}],
        tls={"issuer": {"name": "ca", "kind": "Issuer"}},
    )

    found = children(env, flight=True)

    assert set(found) == {"HTTPRoute/shop", "HTTPRoute/shop-preview", "Certificate/shop-tls"}
    route = found["HTTPRoute/shop"]["spec"]
    assert route["parentRefs"] == [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": "public",
            "namespace": "gateways",
            "sectionName": "https",
        }
    ]
    assert route["rules"][0]["backendRefs"] == [{"name": "shop", "port": 8080}]
    certificate = found["Certificate/shop-tls"]["spec"]
    assert certificate["dnsNames"] == ["shop.example.com", "preview-shop.example.com"]
    assert certificate["issuerRef"] == {"group": "cert-manager.io", "kind": "Issuer", "name": "ca"}


def test_routes_turned_off_render_none_even_with_a_template() -> None:
    env = env_of({"tier": "staging", "route": {"enabled": False, "hosts": ["a.example.com"]}})
    assert route_hosts(env, SITE) == []
    assert children(env, flight=True) == {}


@pytest.mark.parametrize("name", ["a" * 253, "shop.example.team-" + "x" * 200, "a" * 63, "9lives"])
def test_default_and_preview_hosts_are_dns_names_at_the_longest_environment_names(
    name: str,
) -> None:
    env = env_of(
        {"tier": "production", "postgres": {"provider": "builtin", "instances": 1}},
        name=name,
        namespace="n" * 63,
    )

    (host,) = route_hosts(env, SITE)
    preview = preview_host(host)

    for candidate in (host, preview):
        assert DNS_NAME.match(candidate) and len(candidate) <= 253, candidate
        assert all(len(label) <= 63 for label in candidate.split(".")), candidate
    assert all(
        len(n) <= 63 for n in (env.names.route, env.names.preview_route, env.names.preview_tls)
    )
    assert preview_host("a" * 63 + ".example.com") != preview_host("a" * 62 + "b.example.com")


def test_the_render_command_shows_the_route_of_an_environment_with_hosts() -> None:
    document = {
        "apiVersion": "tierkeeper.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": "shop", "namespace": "team"},
        "spec": {"tier": "staging", "route": {"hosts": ["shop.example.com"]}},
    }

    kinds = {(m["kind"], m["metadata"]["name"]) for m in render_documents([document])}

    assert ("Ingress", "shop") in kinds
