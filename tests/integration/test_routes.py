"""Routes on the real API server (issue 19), with Gateway API's and cert-manager's own CRDs
installed from the releases pinned in hack/ (route-crds.sh), so that their validation
judges the HTTPRoutes and Certificates the operator writes. No ingress controller or
Gateway runs here: what is checked is what the API server holds.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from kubernetes.dynamic.exceptions import UnprocessibleEntityError

from tests.integration.k8s import Api, condition, eventually
from tests.integration.operator_process import OperatorProcess
from tests.integration.releases import ENV, environment, phase_is, release
from tierkeeper.devcluster import Kubectl
from tierkeeper.models.names import ChildNames

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).parents[2] / "hack" / "route-crds.sh"
NAMES = ChildNames(ENV)


@pytest.fixture(scope="module")
def route_crds(cluster: Kubectl, unavailable: Callable[[str], NoReturn]) -> Iterator[None]:
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        unavailable(f"Gateway API / cert-manager CRDs: {result.stderr.strip()}")
    directories = [Path(line) for line in result.stdout.split()]
    for directory in directories:
        cluster.install_crds(directory)
    yield
    for directory in directories:
        cluster.remove_crds(directory)


def host_of(namespace: str) -> str:
    """A host of the test's own: hosts are unique across the cluster (RouteHostTaken), and
    another test's namespace may still be on its way out."""
    return f"shop.{namespace}.example.com"


def with_route(**route: Any) -> dict[str, Any]:
    doc = environment()
    doc["spec"]["route"] = route
    return doc


def backend_service(ingress: dict[str, Any] | None) -> str | None:
    if ingress is None:
        return None
    name: str = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
    return name


def test_an_httproute_and_its_certificate_are_accepted_by_their_own_crds(
    api: Api, namespace: str, operator: OperatorProcess, route_crds: None
) -> None:
    host = host_of(namespace)
    api.apply(
        with_route(
            kind="HTTPRoute",
            hosts=[host],
            parentRefs=[{"name": "public", "namespace": "gateways", "sectionName": "https"}],
            tls={"issuer": {"name": "letsencrypt", "kind": "ClusterIssuer"}},
        ),
        namespace,
    )

    route = eventually(lambda: api.get("HTTPRoute", namespace, NAMES.route), what="HTTPRoute")
    certificate = eventually(
        lambda: api.get("Certificate", namespace, NAMES.route_certificate), what="Certificate"
    )
    assert route["spec"]["hostnames"] == [host]
    assert route["spec"]["rules"][0]["backendRefs"][0]["name"] == NAMES.app_service
    assert certificate["spec"]["dnsNames"] == [host, f"preview-{host}"]
    env = eventually(
        lambda: (
            (e := api.get("Environment", namespace, ENV))
            and e.get("status", {}).get("endpoints", {}).get("url")
            and e
        ),
        what="status URL",
    )
    assert env["status"]["endpoints"]["url"] == f"https://{host}"

    # Back to an Ingress: the HTTPRoute and Certificate go, the Ingress comes.
    api.apply(with_route(hosts=[host], className="nginx"), namespace)
    eventually(lambda: api.get("Ingress", namespace, NAMES.route), what="Ingress")
    eventually(lambda: api.get("HTTPRoute", namespace, NAMES.route) is None, what="no HTTPRoute")
    eventually(
        lambda: api.get("Certificate", namespace, NAMES.route_certificate) is None,
        what="no Certificate",
    )


def test_the_preview_route_exists_only_before_the_switch_and_points_at_the_preview_service(
    api: Api, namespace: str, operator: OperatorProcess
) -> None:
    host = host_of(namespace)
    api.apply(with_route(hosts=[host], tls={"secretName": "wildcard"}), namespace)
    api.apply(release("shop:1"), namespace)
    eventually(lambda: phase_is(api, namespace, "Promoted", "shop:1"), timeout=120, what="first")
    public = eventually(lambda: api.get("Ingress", namespace, NAMES.route), what="Ingress")
    assert backend_service(public) == NAMES.app_service
    assert api.get("Ingress", namespace, NAMES.preview_route) is None  # a first deploy

    api.apply(release("shop:2", promotion="Manual"), namespace)
    eventually(lambda: phase_is(api, namespace, "AwaitingPromotion"), timeout=120, what="awaiting")
    preview = eventually(
        lambda: api.get("Ingress", namespace, NAMES.preview_route), what="preview Ingress"
    )
    assert preview["spec"]["rules"][0]["host"] == f"preview-{host}"
    assert backend_service(preview) == NAMES.preview_service
    eventually(
        lambda: (
            (api.get("Environment", namespace, ENV) or {})
            .get("status", {})
            .get("endpoints", {})
            .get("previewUrl")
            == f"https://preview-{host}"
        ),
        what="status previewUrl",
    )
    route_before = api.get("Ingress", namespace, NAMES.route)

    api.apply(release("shop:2", promotion="Manual", promote=True), namespace)
    eventually(lambda: phase_is(api, namespace, "Promoted", "shop:2"), timeout=120, what="promoted")
    eventually(
        lambda: api.get("Ingress", namespace, NAMES.preview_route) is None,
        timeout=60,
        what="preview Ingress gone",
    )
    # The switch moved traffic through the Service: the public route was not written.
    route_after = api.get("Ingress", namespace, NAMES.route)
    assert route_before is not None and route_after is not None
    assert route_after["metadata"]["resourceVersion"] == route_before["metadata"]["resourceVersion"]


def test_a_hostname_that_is_not_a_dns_name_is_refused_at_admission_naming_the_field(
    api: Api, namespace: str
) -> None:
    with pytest.raises(UnprocessibleEntityError) as refused:
        api.apply(with_route(hosts=["https://Shop.example.com/"]), namespace)

    body = (
        refused.value.body if isinstance(refused.value.body, str) else refused.value.body.decode()
    )
    assert "spec.route.hosts" in body
    assert "every host must be a lowercase DNS name" in body
    assert api.get("Environment", namespace, ENV) is None


def test_a_host_a_foreign_ingress_routes_is_refused_and_nothing_is_overwritten(
    api: Api, namespace: str, operator: OperatorProcess
) -> None:
    host = host_of(namespace)
    foreign = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "theirs"},
        "spec": {
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "theirs", "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ]
        },
    }
    before = api.apply(foreign, namespace)

    api.apply(with_route(hosts=[host]), namespace)

    eventually(
        lambda: (
            (condition(api.get("Environment", namespace, ENV), "Ready") or {}).get("reason")
            == "RouteHostTaken"
        ),
        what="RouteHostTaken",
    )
    ready = condition(api.get("Environment", namespace, ENV), "Ready") or {}
    assert f"Ingress {namespace}/theirs" in ready["message"]
    after = api.get("Ingress", namespace, "theirs")
    assert after is not None
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert api.get("Ingress", namespace, NAMES.route) is None


@pytest.mark.parametrize(
    ("tls", "reason", "named"),
    [
        ({"secretName": "no-such-cert"}, "TLSSecretMissing", "Secret no-such-cert"),
        ({"issuer": {"name": "no-such-issuer"}}, "IssuerMissing", "ClusterIssuer no-such-issuer"),
    ],
)
def test_a_missing_tls_secret_or_issuer_is_reported_while_the_plain_route_serves(
    api: Api,
    namespace: str,
    operator: OperatorProcess,
    tls: dict[str, Any],
    reason: str,
    named: str,
) -> None:
    host = host_of(namespace)
    api.apply(with_route(hosts=[host], tls=tls), namespace)

    reported = eventually(
        lambda: condition(api.get("Environment", namespace, ENV), "RouteTLSReady"),
        what="RouteTLSReady",
    )

    assert (reported["status"], reported["reason"]) == ("False", reason)
    assert named in reported["message"]
    ingress = eventually(lambda: api.get("Ingress", namespace, NAMES.route), what="the route")
    assert ingress["spec"]["rules"][0]["host"] == host
    assert backend_service(ingress) == NAMES.app_service


def test_a_host_another_environment_routes_is_refused_and_its_route_is_untouched(
    api: Api, namespace: str, operator: OperatorProcess
) -> None:
    host = host_of(namespace)
    api.apply(with_route(hosts=[host]), namespace)
    first = eventually(lambda: api.get("Ingress", namespace, NAMES.route), what="shop's route")
    second = with_route(hosts=[host])
    second["metadata"]["name"] = "blog"
    api.apply(second, namespace)

    eventually(
        lambda: (
            (condition(api.get("Environment", namespace, "blog"), "Ready") or {}).get("reason")
            == "RouteHostTaken"
        ),
        what="RouteHostTaken",
    )

    ready = condition(api.get("Environment", namespace, "blog"), "Ready") or {}
    assert f"host {host} is routed by Ingress {namespace}/{NAMES.route}" in ready["message"]
    assert api.get("Ingress", namespace, ChildNames("blog").route) is None
    kept = api.get("Ingress", namespace, NAMES.route)
    assert kept is not None
    assert kept["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
