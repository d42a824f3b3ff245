"""Operator-wide settings that shape an Environment's children: the cluster around it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Site:
    """What the operator knows of the cluster, from its settings (config.py).

    `ingress_namespace`: where the ingress controller runs; None lets every pod reach the
    apps. `operator_namespace`: where the operator runs; its health gate must reach the
    apps when only the ingress controller may. `route_host_template`: the host an
    Environment's route gets when it names none, from `{environment}` (its name, shortened
    to a DNS label like child names) and `{namespace}`; None: no default host.
    """

    ingress_namespace: str | None = None
    operator_namespace: str | None = None
    route_host_template: str | None = None
