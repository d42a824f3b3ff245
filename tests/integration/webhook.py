"""The deploy hook as a real process against the test cluster, and signed deliveries to it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.integration.k8s import Api, eventually
from tests.integration.operator_process import stop_process
from tierkeeper.devcluster.cluster import free_ports
from tierkeeper.webhook.guard import sign

SECRET = b"integration-secret"
REPOSITORY = "acme/shop"
SHA = "4f2a9c1e0b7d35a86f3c2e1d9b8a7f6e5d4c3b2a"
MANAGER = "tierkeeper-deploy"


@dataclass
class HookProcess:
    """`tierkeeper webhook` for one namespace, its default secret SECRET."""

    kubeconfig: Path
    namespace: str
    workdir: Path
    extra_args: tuple[str, ...] = ()
    ports: list[int] = field(default_factory=lambda: free_ports(2))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports[0]}"

    @property
    def metrics_port(self) -> int:
        return self.ports[1]

    @property
    def log(self) -> Path:
        return self.workdir / "webhook.log"

    def start(self) -> None:
        secrets = self.workdir / "secrets"
        secrets.mkdir(exist_ok=True)
        (secrets / "default").write_bytes(SECRET)
        command = [
            sys.executable,
            "-m",
            "tierkeeper",
            "webhook",
            "--host=127.0.0.1",
            f"--port={self.ports[0]}",
            f"--metrics-port={self.ports[1]}",
            f"--secrets-dir={secrets}",
            f"--namespace={self.namespace}",
            "--log-format=plain",
            *self.extra_args,
        ]
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
        eventually(self._healthy, timeout=30, what="webhook /healthz", explain=self.tail)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None

    def send(
        self,
        event: str,
        payload: Any,
        *,
        delivery: str | None = None,
        secret: bytes | None = SECRET,
        body: bytes | None = None,
        path: str = "/github",
    ) -> tuple[int, dict[str, Any]]:
        """POST a delivery; the status and the JSON answer."""
        raw = body if body is not None else json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        }
        if secret is not None:
            headers["X-Hub-Signature-256"] = sign(secret, raw)
        request = urllib.request.Request(self.url + path, data=raw, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


def workflow_run(branch: str, conclusion: str = "success", sha: str = SHA) -> dict[str, Any]:
    """The fields of GitHub's `workflow_run` delivery the hook reads (the full payloads are
    tested in tests/unit/test_webhook_examples.py)."""
    return {
        "action": "completed",
        "workflow_run": {
            "head_branch": branch,
            "head_sha": sha,
            "conclusion": conclusion,
            "html_url": f"https://github.com/{REPOSITORY}/actions/runs/1",
        },
        "repository": {"full_name": REPOSITORY},
    }


def push(branch: str, sha: str = SHA, repository: str = REPOSITORY) -> dict[str, Any]:
    return {
        "ref": f"refs/heads/{branch}",
        "after": sha,
        "deleted": False,
        "repository": {"full_name": repository},
        "head_commit": {"url": f"https://github.com/{repository}/commit/{sha}"},
    }


def with_deploy(document: dict[str, Any], **deploy: Any) -> dict[str, Any]:
    """An Environment document with `spec.deploy` for REPOSITORY."""
    spec = {**document["spec"], "deploy": {"repository": REPOSITORY, **deploy}}
    return {**document, "spec": spec}


def managers(api: Api, namespace: str, name: str) -> set[str]:
    release = api.get("Release", namespace, name) or {}
    return {entry["manager"] for entry in release["metadata"].get("managedFields") or []}


def deploy_events(api: Api, namespace: str, release: str) -> list[str]:
    return [
        event["message"]
        for event in api.list("Event", namespace)
        if event["reason"] == "DeployRequested" and event["involvedObject"]["name"] == release
    ]


def token_kubeconfig(cluster: Any, namespace: str, account: str, path: Path) -> Path:
    """A kubeconfig at `path` that authenticates as the ServiceAccount `account`, with a
    token the API server issues for it (as a Pod's would be)."""
    token = cluster.kubectl(
        "create", "token", account, "-n", namespace, "--duration=1h"
    ).stdout.strip()
    admin = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
    server = next(c for c in admin["clusters"] if c["name"] == context["context"]["cluster"])
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": server["cluster"]}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": account, "context": {"cluster": "test", "user": account}}],
        "current-context": account,
    }
    path.write_text(yaml.safe_dump(config))
    return path
