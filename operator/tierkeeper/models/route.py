"""The Environment's front door: hostnames, TLS, and an Ingress or a Gateway API HTTPRoute."""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict, Field

from tierkeeper.models.base import Model


class RouteKind(StrEnum):
    INGRESS = "Ingress"
    HTTP_ROUTE = "HTTPRoute"


class IssuerKind(StrEnum):
    ISSUER = "Issuer"
    CLUSTER_ISSUER = "ClusterIssuer"


# A DNS subdomain (RFC 1123), lowercase: what Ingress and HTTPRoute accept as a host.
HOSTNAME_RULE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
HOSTNAME_MAX = 253
# Room for the preview host's "preview-" in front of the first label.
PREVIEW_PREFIX = "preview-"


class Issuer(Model):
    """A cert-manager issuer that signs the route's certificate."""

    name: str = Field(min_length=1, max_length=253, description="Name of the issuer.")
    kind: IssuerKind = Field(
        IssuerKind.CLUSTER_ISSUER, description="Issuer (this namespace) or ClusterIssuer."
    )


class RouteTls(Model):
    """TLS for the route's hosts: a Secret of the team's, or one cert-manager fills."""

    secret_name: str | None = Field(
        None,
        max_length=253,
        description="kubernetes.io/tls Secret with the certificate; with an issuer, the "
        "Secret cert-manager writes (default NAME-tls).",
    )
    issuer: Issuer | None = Field(None, description="cert-manager issuer of the certificate.")


class ParentRef(Model):
    """A Gateway the HTTPRoute attaches to."""

    name: str = Field(min_length=1, max_length=253, description="Name of the Gateway.")
    namespace: str | None = Field(
        None, max_length=63, description="Namespace of the Gateway (default: this one)."
    )
    section_name: str | None = Field(
        None, max_length=253, description="Listener of the Gateway to attach to."
    )


class Route(Model):
    """How the app is reached from outside the cluster."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.hosts) || self.hosts.all(h, h.matches('"
                    # CEL's string literals take escapes: the regex's backslashes doubled.
                    + HOSTNAME_RULE.replace("\\", "\\\\")
                    + "'))",
                    "message": "route.hosts: every host must be a lowercase DNS name "
                    "(letters, digits, '-' and '.'; no scheme, port, path or wildcard)",
                    "fieldPath": ".hosts",
                },
                {
                    "rule": "!has(self.kind) || self.kind != 'HTTPRoute' || "
                    "(has(self.parentRefs) && size(self.parentRefs) > 0)",
                    "message": "route.parentRefs: an HTTPRoute needs at least one Gateway",
                    "fieldPath": ".parentRefs",
                },
            ]
        }
    )

    enabled: bool = Field(
        True, description="Route traffic from outside to the app (the tier may turn it off)."
    )
    hosts: list[str] = Field(
        default_factory=list,
        max_length=16,
        description="Host names; none: the operator's host template gives one.",
        json_schema_extra={
            "items": {"type": "string", "maxLength": HOSTNAME_MAX - len(PREVIEW_PREFIX)}
        },
    )
    path: str = Field(
        "/", max_length=1024, pattern=r"^/[^\s]*$", description="Path prefix routed to the app."
    )
    kind: RouteKind = Field(RouteKind.INGRESS, description="Ingress or Gateway API HTTPRoute.")
    class_name: str | None = Field(
        None, max_length=253, description="IngressClass of the Ingress (default: the cluster's)."
    )
    parent_refs: list[ParentRef] = Field(
        default_factory=list, max_length=8, description="Gateways of the HTTPRoute."
    )
    tls: RouteTls | None = Field(None, description="TLS for the hosts.")
