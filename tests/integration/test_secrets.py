"""No password, token or Secret value leaks into logs, Events, status, children or metrics (issue 9).

One test drives the paths that handle credentials and external Secrets — creation of the
generated password, wiring of external Secrets, a refusal that names a Secret, a blue-green
rollout, a hand rotation of the password, deletion with retained credentials — with the
operator logging at debug level, then scans everything the run produced.
"""

from __future__ import annotations

import base64
import json
import secrets
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.fixtures import operator_process
from tests.integration.k8s import Api, condition, eventually, is_true
from tests.integration.operator_process import HealthServer
from tests.integration.releases import HEALTH_CHECK, phase, release
from tierkeeper.models.names import ChildNames

pytestmark = pytest.mark.integration

ENV = "vault"
# Every kind a value could be copied into, Secrets aside.
SCANNED_KINDS = (
    "Event",
    "Environment",
    "Release",
    "Deployment",
    "StatefulSet",
    "Service",
    "ConfigMap",
    "CronJob",
    "Pod",
    "PersistentVolumeClaim",
)


def forms(value: str) -> set[str]:
    """The value as it could appear: raw, and base64 (as in a Secret's data)."""
    encoded = base64.b64encode(value.encode()).decode()
    return {value, encoded.rstrip("=")}


def leaks(haystacks: dict[str, str], values: dict[str, str]) -> list[str]:
    return [
        f"{what} found in {where}"
        for what, value in values.items()
        for form in forms(value)
        for where, text in haystacks.items()
        if form in text
    ]


def secret_doc(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "stringData": data,
    }


# The backup object store's credentials: they reach the postgres pod as secretKeyRefs.
OBJECT_STORE = {
    "bucket": "shop-backups",
    "endpoint": "https://s3.example.net",
    "credentials": {
        "accessKeyId": {"name": "s3", "key": "id"},
        "secretAccessKey": {"name": "s3", "key": "secret"},
    },
}


def environment(external: dict[str, tuple[str, str]]) -> dict[str, Any]:
    return {
        "apiVersion": "tierkeeper.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": ENV},
        "spec": {
            "tier": "production",
            "postgres": {
                "provider": "builtin",
                "instances": 1,
                "backup": {"objectStore": OBJECT_STORE},
            },
            "app": {"healthCheck": HEALTH_CHECK},
            "strategy": {"blueGreen": {"postPromotionSeconds": 2}},
            "external": {
                key: {"secretRef": {"name": name, "key": item}}
                for key, (name, item) in external.items()
            },
        },
    }


def written(
    api: Api,
    namespace: str,
    operator: Any,
    metrics_port: int,
    kinds: tuple[str, ...] = SCANNED_KINDS,
) -> dict[str, str]:
    """What a run wrote, by where: the operator's metrics, its log (the operator is stopped
    first, so that the log is whole) and every object of `kinds` in the namespace."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics") as response:
        metrics_text = response.read().decode()
    operator.stop()
    return {
        "operator log": operator.log.read_text(errors="replace"),
        "metrics": metrics_text,
        **{
            f"{kind} {item['metadata']['name']}": json.dumps(item)
            for kind in kinds
            for item in api.list(kind, namespace)
        },
    }


def kubeconfig_key(kubeconfig: Path) -> str:
    """A stretch of the client key the operator authenticates with."""
    users = yaml.safe_load(kubeconfig.read_text())["users"]
    pem = base64.b64decode(users[0]["user"]["client-key-data"]).decode()
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    return body[20:60]


@pytest.fixture
def debug_operator(cluster: Any, namespace: str, health: HealthServer, tmp_path: Path) -> Any:
    process = operator_process(
        cluster, namespace, health, tmp_path / "operator.log", args=("--verbose",)
    )
    process.start()
    yield process, process.metrics_port
    process.stop()


def test_no_secret_value_reaches_logs_events_status_children_or_metrics(
    api: Api, namespace: str, cluster: Any, debug_operator: Any
) -> None:
    operator, metrics_port = debug_operator
    values = {
        "sentry dsn": f"https://{secrets.token_hex(12)}@sentry.example/1",
        "mongo uri": f"mongodb+srv://shop:{secrets.token_urlsafe(18)}@atlas.example/shop",
    }
    api.apply(secret_doc("sentry", {"dsn": values["sentry dsn"]}), namespace)
    api.apply(secret_doc("mongo", {"uri": values["mongo uri"]}), namespace)
    values["s3 access key id"] = "AK" + secrets.token_hex(8).upper()
    values["s3 secret access key"] = secrets.token_urlsafe(30)
    store = {"id": values["s3 access key id"], "secret": values["s3 secret access key"]}
    api.apply(secret_doc("s3", store), namespace)

    # A refusal that names a Secret (the key is missing) says so without its contents.
    refused = environment({"sentry": ("sentry", "dsn"), "mongodb": ("mongo", "nope")})
    refused["metadata"]["name"] = "refused"
    api.apply(refused, namespace)
    eventually(
        lambda: (
            (condition(api.get("Environment", namespace, "refused"), "Ready") or {}).get("reason")
            == "ExternalSecretMissing"
        ),
        what="refusal naming the Secret",
    )

    api.apply(environment({"sentry": ("sentry", "dsn"), "mongodb": ("mongo", "uri")}), namespace)
    api.apply(release("shop:1", name=ENV), namespace)
    eventually(lambda: phase(api, namespace, ENV) == ("Promoted", "shop:1"), timeout=120, what="1")
    api.apply(release("shop:2", name=ENV), namespace)
    eventually(lambda: phase(api, namespace, ENV) == ("Promoted", "shop:2"), timeout=120, what="2")
    eventually(lambda: is_true(api.get("Environment", namespace, ENV), "Ready"), what="Ready")
    # The store's credentials are wired into the database pod, by reference only.
    database = api.get("StatefulSet", namespace, ChildNames(ENV).postgres)
    assert database is not None
    wired = {
        var["name"]: var.get("valueFrom", {}).get("secretKeyRef")
        for container in database["spec"]["template"]["spec"]["containers"]
        for var in container["env"]
    }
    assert wired["BACKUP_PRIMARY_SECRET_ACCESS_KEY"] == {"name": "s3", "key": "secret"}

    credentials = ChildNames(ENV).postgres_credentials
    stored = api.get("Secret", namespace, credentials)
    assert stored is not None
    for key in ("password", "uri"):
        values[f"generated {key}"] = base64.b64decode(stored["data"][key]).decode()
    redis_secret = api.get("Secret", namespace, ChildNames(ENV).redis_credentials)
    assert redis_secret is not None
    values["generated Redis password"] = base64.b64decode(redis_secret["data"]["password"]).decode()
    # Someone rotates the password by hand: the operator neither rewrites nor reports it.
    rotated = secrets.token_urlsafe(24)
    values["rotated password"] = rotated
    api.patch("Secret", namespace, credentials, {"stringData": {"password": rotated}})
    values["client key"] = kubeconfig_key(Path(cluster.kubeconfig))

    api.delete("Environment", namespace, ENV)  # production retains its credentials
    eventually(lambda: api.get("Environment", namespace, ENV) is None, timeout=60, what="gone")

    haystacks = written(api, namespace, operator, metrics_port)
    # What is scanned is real: metrics, a debug log that saw the Secrets, Events.
    assert "tierkeeper_" in haystacks["metrics"]
    assert f"Secret {namespace}/{credentials}: upsert" in haystacks["operator log"]
    assert any(key.startswith("Event ") for key in haystacks)
    # The scan would see a value were it there: it finds them all in the Secrets themselves.
    in_secrets = {
        name: json.dumps(api.get("Secret", namespace, name))
        for name in ("sentry", "mongo", "s3", credentials, ChildNames(ENV).redis_credentials)
    }
    found = {leak.split(" found in ")[0] for leak in leaks(in_secrets, values)}
    assert found == set(values) - {"client key", "generated password"}, found
    assert leaks(haystacks, values) == []
