"""The whole set of children each example gets, and the `render` command."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from tierkeeper.cli import main
from tierkeeper.cli.render import render_documents
from tierkeeper.render.common import COMPONENT, INSTANCE, MANAGED_BY

EXAMPLES = Path(__file__).parents[2] / "examples"


def kinds(example: str) -> Counter[str]:
    docs = yaml.safe_load_all((EXAMPLES / example).read_text())
    return Counter(manifest["kind"] for manifest in render_documents(docs))


def test_production_example_lists_every_blue_green_child() -> None:
    docs = list(yaml.safe_load_all((EXAMPLES / "environment-production.yaml").read_text()))
    manifests = render_documents(docs)
    names = {(m["kind"], m["metadata"]["name"]) for m in manifests}
    assert {
        ("Deployment", "shop-production-blue"),
        ("Deployment", "shop-production-green"),
        ("Service", "shop-production"),
        ("Service", "shop-production-preview"),
        ("StatefulSet", "shop-production-postgres"),
        ("Service", "shop-production-postgres"),
        ("Secret", "shop-production-postgres-credentials"),
        ("StatefulSet", "shop-production-redis"),
        ("ConfigMap", "shop-production-redis-config"),
        ("Service", "shop-production-redis"),
        ("CronJob", "shop-production-postgres-backup"),
        ("PersistentVolumeClaim", "shop-production-backups"),
    } <= names
    for manifest in manifests:
        labels = manifest["metadata"]["labels"]
        assert labels[MANAGED_BY] == "tierkeeper"
        assert labels[INSTANCE] == "shop-production"
        assert labels[COMPONENT] in {"app", "postgres", "redis", "backup"}


def test_environment_without_release_has_services_but_no_deployment() -> None:
    counts = kinds("environment-development.yaml")
    assert counts["Deployment"] == 0
    assert counts["Service"] == 3


def test_render_command_prints_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(EXAMPLES / "environment-production.yaml")]) == 0
    printed = list(yaml.safe_load_all(capsys.readouterr().out))
    assert sum(1 for m in printed if m["kind"] == "Deployment") == 2


def test_render_command_explains_a_bad_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "kind: Environment\nmetadata: {name: x}\nspec: {tier: staging, postgres: {instances: 3}}\n"
    )
    assert main(["render", str(bad)]) == 1
    assert "cloudnative-pg" in capsys.readouterr().err
