"""Operator-wide Environment defaults on the local control plane: an Environment that names
no object store archives into the platform's, in a folder of its namespace, with the
platform's database image."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.fixtures import HealthServer, operator_process
from tests.integration.k8s import Api, eventually
from tests.integration.operator_process import OperatorProcess
from tierkeeper.models.names import ChildNames

pytestmark = pytest.mark.integration

ENV = "shop"
DEFAULTS = {
    "postgres": {
        "image": "registry.internal/postgres-barman:{version}",
        "backup": {
            "objectStore": {
                "bucket": "platform-backups",
                "path": "clusters/eu",
                "endpoint": "https://s3.internal.example",
                "credentials": {
                    "accessKeyId": {"name": "platform-s3", "key": "id"},
                    "secretAccessKey": {"name": "platform-s3", "key": "secret"},
                },
            }
        },
    }
}


@pytest.fixture
def operator_with_defaults(
    cluster: Any, namespace: str, health: HealthServer, tmp_path: Path
) -> Iterator[OperatorProcess]:
    defaults = tmp_path / "defaults.yaml"
    defaults.write_text(yaml.safe_dump(DEFAULTS))
    process = operator_process(
        cluster,
        namespace,
        health,
        tmp_path / "operator.log",
        TIERKEEPER_ENVIRONMENT_DEFAULTS=str(defaults),
    )
    process.start()
    yield process
    process.stop()


def postgres_container(api: Api, namespace: str) -> dict[str, Any] | None:
    statefulset = api.get("StatefulSet", namespace, ChildNames(ENV).postgres)
    if statefulset is None:
        return None
    first: dict[str, Any] = statefulset["spec"]["template"]["spec"]["containers"][0]
    return first


def test_an_environment_without_a_store_archives_into_the_platforms(
    api: Api, namespace: str, operator_with_defaults: OperatorProcess
) -> None:
    api.apply(
        {
            "apiVersion": "tierkeeper.dev/v1alpha1",
            "kind": "Environment",
            "metadata": {"name": ENV},
            "spec": {
                "tier": "production",
                "postgres": {"provider": "builtin", "instances": 1, "version": "15"},
                "redis": {"enabled": False},
            },
        },
        namespace,
    )
    container = eventually(lambda: postgres_container(api, namespace), what="the StatefulSet")
    assert container["image"] == "registry.internal/postgres-barman:15"
    env = {var["name"]: var for var in container["env"]}
    assert env["BACKUP_PRIMARY_URL"]["value"] == f"s3://platform-backups/clusters/eu/{namespace}"
    assert env["BACKUP_PRIMARY_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == (
        "platform-s3"
    )
