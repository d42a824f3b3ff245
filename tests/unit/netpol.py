"""A small evaluator of NetworkPolicy ingress, as the Kubernetes API documents it.

Enough for the policies tierkeeper renders, and strict about the rest: a peer it cannot
judge (ipBlock) raises rather than guess.

- A pod that no policy of its namespace selects with policy type Ingress accepts everyone.
- A selected pod accepts a connection if one rule of one selecting policy allows it: the
  port is among the rule's ports (none listed: every port) and the source matches one of
  its peers (no `from`, or an empty one: every source).
- A peer with only `podSelector` matches pods of the policy's own namespace; with only
  `namespaceSelector`, every pod of the matching namespaces; with both, pods matching
  the first in namespaces matching the second.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Labels = Mapping[str, str]


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    labels: Labels
    namespace_labels: Labels = field(default_factory=dict)

    def __post_init__(self) -> None:
        # What the API server puts on every namespace.
        if not self.namespace_labels:
            object.__setattr__(
                self, "namespace_labels", {"kubernetes.io/metadata.name": self.namespace}
            )


def matches(selector: Mapping[str, Any], labels: Labels) -> bool:
    """A LabelSelector against a set of labels; `{}` selects everything."""
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        present = key in labels
        ok = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[operator]
        if not ok:
            return False
    return True


def _selects_for_ingress(policy: Mapping[str, Any], pod: Pod) -> bool:
    spec = policy["spec"]
    types = spec.get("policyTypes") or ["Ingress"]
    return (
        policy["metadata"]["namespace"] == pod.namespace
        and "Ingress" in types
        and matches(spec.get("podSelector") or {}, pod.labels)
    )


def _peer_matches(peer: Mapping[str, Any], policy_namespace: str, source: Pod) -> bool:
    if "ipBlock" in peer:
        raise NotImplementedError("ipBlock peers are not evaluated")
    pods, namespaces = peer.get("podSelector"), peer.get("namespaceSelector")
    if namespaces is None:
        in_namespace = source.namespace == policy_namespace
    else:
        in_namespace = matches(namespaces, source.namespace_labels)
    return in_namespace and (pods is None or matches(pods, source.labels))


def _port_matches(rule: Mapping[str, Any], port: int) -> bool:
    ports = rule.get("ports") or []
    return not ports or any(
        p.get("protocol", "TCP") == "TCP" and p.get("port") in (None, port) for p in ports
    )


def allowed(policies: Iterable[Mapping[str, Any]], source: Pod, target: Pod, port: int) -> bool:
    """May `source` open a TCP connection to `target` on `port`?"""
    selecting = [p for p in policies if _selects_for_ingress(p, target)]
    if not selecting:
        return True
    return any(
        _port_matches(rule, port)
        and (
            not rule.get("from")
            or any(
                _peer_matches(peer, policy["metadata"]["namespace"], source)
                for peer in rule["from"]
            )
        )
        for policy in selecting
        for rule in policy["spec"].get("ingress") or []
    )
