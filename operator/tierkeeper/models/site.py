"""Operator-wide settings that shape an Environment's children: the cluster around it."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from tierkeeper.models.environment import EnvironmentSpec

NO_DEFAULTS: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class Site:
    """What the operator knows of the cluster, from its settings (config.py).

    `ingress_namespace`: where the ingress controller runs; None lets every pod reach the
    apps. `operator_namespace`: where the operator runs; its health gate must reach the
    apps when only the ingress controller may. `route_host_template`: the host an
    Environment's route gets when it names none, from `{environment}` (its name, shortened
    to a DNS label like child names) and `{namespace}`; None: no default host.
    `environment_defaults`: spec fields every Environment gets where it sets none, over
    its tier's defaults (DEFAULTABLE says which fields, and why only those).
    """

    ingress_namespace: str | None = None
    operator_namespace: str | None = None
    route_host_template: str | None = None
    environment_defaults: Mapping[str, Any] = field(default_factory=lambda: NO_DEFAULTS)


# The fields an operator-wide default may set: those whose answer a platform team gives
# once for every Environment (where backups go, which registry serves the database image).
# Fields that other processes resolve too (the deploy hook reads `branch`) or that decide
# what a deletion keeps stay with each Environment, so every reader resolves them alike.
DEFAULTABLE: tuple[tuple[str, ...], ...] = (
    ("postgres", "image"),
    ("postgres", "backup", "objectStore"),
    ("postgres", "backup", "offsiteObjectStore"),
)


def environment_defaults(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """The operator's defaults file, checked: DEFAULTABLE fields only, each valid as an
    Environment's own. Raises ValueError with what to fix."""
    leaves = list(_leaves(document, ()))
    stray = [".".join(path) for path in leaves if path not in DEFAULTABLE]
    if stray:
        allowed = ", ".join(".".join(path) for path in DEFAULTABLE)
        raise ValueError(f"Environment defaults may set only {allowed}; not {', '.join(stray)}")
    try:
        EnvironmentSpec.model_validate({"tier": "production", **document})
    except ValidationError as error:
        raise ValueError(f"Environment defaults: {error}") from error
    return MappingProxyType(dict(document))


def _leaves(document: Mapping[str, Any], at: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """Paths down to a DEFAULTABLE field or to a value that is not a mapping."""
    for key, value in document.items():
        path = (*at, str(key))
        if isinstance(value, Mapping) and path not in DEFAULTABLE:
            yield from _leaves(value, path)
        else:
            yield path


STORES = (("postgres", "backup", "objectStore"), ("postgres", "backup", "offsiteObjectStore"))


def defaults_for(
    defaults: Mapping[str, Any], explicit: Mapping[str, Any], namespace: str
) -> dict[str, Any]:
    """The operator's defaults one Environment gets. A field the Environment sets is its own
    whole (a bucket of its own never takes the default store's credentials). A defaulted
    store's path gets the namespace: every Environment of the cluster shares that store,
    and its folder is named after the Environment alone, which is unique only per namespace."""
    mine = copy.deepcopy(dict(defaults))
    for path in DEFAULTABLE:
        parent = _at(mine, path[:-1])
        if parent is None or path[-1] not in parent:
            continue
        if _at(explicit, path) is not None:
            del parent[path[-1]]
        elif path in STORES:
            store = parent[path[-1]]
            store["path"] = "/".join(p for p in (store.get("path", "").rstrip("/"), namespace) if p)
    return mine


def _at(document: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(document, Mapping) or key not in document:
            return None
        document = document[key]
    return document
