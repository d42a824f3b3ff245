"""The checked-in CRDs are the generated ones, and structurally sound for the API server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tierkeeper.cli.crds import crd_files
from tierkeeper.models.crdgen import KINDS, crd

CRDS = Path(__file__).parents[2] / "crds"


def test_checked_in_crds_equal_generated_output() -> None:
    generated = crd_files()
    on_disk = {path.name: path.read_text() for path in CRDS.glob("*.yaml")}
    assert on_disk == generated, "crds/ is stale: run `make crds`"


def walk(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    nodes = [(path, schema)]
    for name, sub in schema.get("properties", {}).items():
        nodes += walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        nodes += walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        nodes += walk(schema["additionalProperties"], f"{path}{{}}")
    return nodes


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_schema_is_structural_and_explained(kind: Any) -> None:
    version = crd(kind)["spec"]["versions"][0]
    root = version["schema"]["openAPIV3Schema"]
    for path, node in walk(root["properties"]["spec"], ".spec") + walk(
        root["properties"]["status"], ".status"
    ):
        assert node.get("type") or node.get("x-kubernetes-preserve-unknown-fields"), path
        assert node.get("description") or path.endswith("[]") or path.endswith("}"), path
        for forbidden in ("$ref", "anyOf", "oneOf", "allOf", "default", "title", "propertyNames"):
            assert forbidden not in node, (path, forbidden)
        assert not ("properties" in node and "additionalProperties" in node), path
    assert version["subresources"] == {"status": {}}


def test_kopf_state_is_kept_but_nothing_else_is_open() -> None:
    for kind in KINDS:
        root = crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        open_paths = [
            path
            for path, node in walk(root["properties"]["status"], ".status")
            if node.get("x-kubernetes-preserve-unknown-fields")
        ]
        assert open_paths == [".status.kopf"]


def test_names_columns_and_validations() -> None:
    environment, release = (crd(kind)["spec"] for kind in KINDS)
    assert environment["names"]["shortNames"] == ["tkenv"]
    assert release["names"]["shortNames"] == ["tkrel"]
    columns = environment["versions"][0]["additionalPrinterColumns"]
    default = [c["name"] for c in columns if not c.get("priority")]
    assert default == ["Tier", "Ready", "Color", "Image", "URL", "Age"]
    assert [c["name"] for c in columns if c.get("priority")] == ["Last WAL", "Drill"]
    spec = environment["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    messages = [rule["message"] for rule in spec["x-kubernetes-validations"]]
    assert any("cloudnative-pg" in message for message in messages)
    assert spec["properties"]["tier"]["enum"] == ["development", "staging", "production"]
    assert "x-kubernetes-validations" in spec["properties"]["postgres"]
    route_rules = spec["properties"]["route"]["x-kubernetes-validations"]
    assert {rule.get("fieldPath") for rule in route_rules} == {".hosts", ".parentRefs"}
    release_spec = release["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert release_spec["x-kubernetes-validations"][0]["message"].startswith("image")
    assert set(release_spec["required"]) == {"environment", "image"}


def test_crd_files_parse_as_yaml() -> None:
    for path in CRDS.glob("*.yaml"):
        assert yaml.safe_load(path.read_text())["kind"] == "CustomResourceDefinition"
