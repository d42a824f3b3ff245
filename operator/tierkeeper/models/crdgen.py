"""CustomResourceDefinitions generated from the pydantic models.

Pydantic's JSON schema is close to a structural OpenAPI v3 schema; this module
closes the gap: references inlined, `anyOf [X, null]` reduced to X (optional
fields are simply not required), titles and defaults dropped (tier defaults are
applied by the operator, never by the API server), and a description demanded on
every property so `kubectl explain` always has something to say.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from tierkeeper import GROUP, VERSION
from tierkeeper.models import EnvironmentSpec, EnvironmentStatus, ReleaseSpec, ReleaseStatus

_DROPPED_KEYS = {"title", "default", "$defs"}


class SchemaError(ValueError):
    """The models would produce a CRD schema the API server rejects or cannot explain."""


@dataclass(frozen=True)
class Kind:
    kind: str
    plural: str
    short_name: str
    description: str
    spec: type[BaseModel]
    status: type[BaseModel]
    columns: tuple[dict[str, str | int], ...]


def _ready_column() -> dict[str, str | int]:
    return {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
    }


KINDS = (
    Kind(
        kind="Environment",
        plural="environments",
        short_name="tkenv",
        description="An application environment: app replicas, PostgreSQL, Redis and backups.",
        spec=EnvironmentSpec,
        status=EnvironmentStatus,
        columns=(
            {"name": "Tier", "type": "string", "jsonPath": ".spec.tier"},
            _ready_column(),
            {"name": "Color", "type": "string", "jsonPath": ".status.activeColor"},
            {"name": "Image", "type": "string", "jsonPath": ".status.activeImage"},
            {"name": "URL", "type": "string", "jsonPath": ".status.endpoints.url"},
            # Backups, with -o wide: how old the newest archived WAL is, the last drill.
            {
                "name": "Last WAL",
                "type": "date",
                "jsonPath": ".status.backup.lastArchivedWal.time",
                "priority": 1,
            },
            {
                "name": "Drill",
                "type": "string",
                "jsonPath": ".status.backup.lastDrill.result",
                "priority": 1,
            },
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ),
    ),
    Kind(
        kind="Release",
        plural="releases",
        short_name="tkrel",
        description="The desired image of one Environment; changing it starts a rollout.",
        spec=ReleaseSpec,
        status=ReleaseStatus,
        columns=(
            {"name": "Environment", "type": "string", "jsonPath": ".spec.environment"},
            {"name": "Image", "type": "string", "jsonPath": ".spec.image"},
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Color", "type": "string", "jsonPath": ".status.activeColor"},
            _ready_column(),
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ),
    ),
)


def _structural(node: Any, defs: dict[str, Any], path: str) -> Any:
    """Rewrite one pydantic JSON-schema node into its structural OpenAPI form."""
    if isinstance(node, list):
        return [_structural(item, defs, path) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs, path)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o != {"type": "null"}]
        if len(options) != 1:
            raise SchemaError(f"{path}: unions other than optional are not structural")
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        return _structural({**options[0], **rest}, defs, path)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS:
            continue
        if key == "properties":
            out[key] = {
                name: _structural(sub, defs, f"{path}.{name}") for name, sub in value.items()
            }
            for name, sub in out[key].items():
                if not sub.get("description"):
                    raise SchemaError(f"{path}.{name} has no description")
        elif key == "additionalProperties" and value is True:
            out["x-kubernetes-preserve-unknown-fields"] = True
        elif key == "additionalProperties" and value is False:
            # Structural schemas forbid it; the API server prunes unknown fields instead.
            continue
        elif key == "propertyNames":
            # Not allowed in CRD schemas; the same rule as CEL on the map's keys.
            names = _structural(value, defs, path).get("enum", [])
            allowed = ", ".join(f"'{name}'" for name in names)
            if allowed:
                rule = {
                    "rule": f"self.all(k, k in [{allowed}])",
                    "message": f"keys must be one of {allowed}",
                }
                out.setdefault("x-kubernetes-validations", []).append(rule)
        elif key == "const":
            out["enum"] = [value]
        else:
            out[key] = _structural(value, defs, path)
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if out.get("x-kubernetes-preserve-unknown-fields"):
        out.pop("additionalProperties", None)
        out.setdefault("type", "object")
    return out


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural schema of one model, as the API server wants it."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    schema: dict[str, Any] = _structural(raw, raw.get("$defs", {}), model.__name__)
    return schema


def crd(kind: Kind) -> dict[str, Any]:
    """The CustomResourceDefinition of one kind."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.kind.lower(),
                "shortNames": [kind.short_name],
                "categories": ["tierkeeper"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": list(kind.columns),
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": kind.description,
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string", "description": "API version."},
                                "kind": {"type": "string", "description": "Kind."},
                                "metadata": {"type": "object"},
                                "spec": openapi_schema(kind.spec),
                                "status": openapi_schema(kind.status),
                            },
                        }
                    },
                }
            ],
        },
    }


def all_crds() -> list[dict[str, Any]]:
    return [crd(kind) for kind in KINDS]
