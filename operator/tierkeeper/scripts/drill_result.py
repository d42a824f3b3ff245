"""tierkeeper drill result: writes what drill.sh found where it is read.

Runs on the database image's own python3 with the standard library only (the
image has no Kubernetes client), as the last step of drill.sh.

Input (environment): DRILL_FINISHED_AT (RFC 3339, UTC), DRILL_RESULT (Passed or
Failed), DRILL_RTO_SECONDS (decimal, empty when the restore never finished),
DRILL_MESSAGE.

Output, each when configured:
- DRILL_RESULT_FILE: the result as a JSON object (the data tests read it).
- DRILL_RESULT_CONFIGMAP: the ConfigMap of that name in DRILL_NAMESPACE (else the
  pod's namespace), with the data keys finishedAt, result, rtoSeconds, message and
  the labels of DRILL_RESULT_LABELS (a JSON object). It is written with the pod's
  ServiceAccount token, whose Role may get and patch that one ConfigMap and
  create it: a merge patch first, a create when it does not exist yet.
  DRILL_API_SERVER and DRILL_SERVICE_ACCOUNT_DIR override the in-cluster defaults.

Exit codes: 0 written; 1 a write failed.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def result_data() -> dict[str, str]:
    return {
        "finishedAt": os.environ["DRILL_FINISHED_AT"],
        "result": os.environ["DRILL_RESULT"],
        "rtoSeconds": os.environ.get("DRILL_RTO_SECONDS", ""),
        "message": os.environ.get("DRILL_MESSAGE", ""),
    }


class Api:
    """The API server, as the pod's ServiceAccount."""

    def __init__(self) -> None:
        account = Path(os.environ.get("DRILL_SERVICE_ACCOUNT_DIR", SERVICE_ACCOUNT_DIR))
        self.token = (account / "token").read_text().strip()
        self.namespace = os.environ.get("DRILL_NAMESPACE") or (
            (account / "namespace").read_text().strip()
        )
        self.server = os.environ.get("DRILL_API_SERVER") or (
            f"https://{os.environ['KUBERNETES_SERVICE_HOST']}:"
            f"{os.environ['KUBERNETES_SERVICE_PORT']}"
        )
        self.context = ssl.create_default_context(cafile=str(account / "ca.crt"))

    def send(self, method: str, path: str, body: dict[str, Any], content_type: str) -> None:
        request = urllib.request.Request(
            self.server + path,
            data=json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": content_type},
        )
        with urllib.request.urlopen(request, context=self.context, timeout=30):
            pass


def publish(name: str, data: dict[str, str]) -> None:
    api = Api()
    labels = json.loads(os.environ.get("DRILL_RESULT_LABELS") or "{}")
    collection = f"/api/v1/namespaces/{api.namespace}/configmaps"
    patch = {"metadata": {"labels": labels}, "data": data}
    # A create can lose a race with another drill's: then the patch is tried again.
    for _ in range(2):
        try:
            api.send("PATCH", f"{collection}/{name}", patch, "application/merge-patch+json")
            return
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise
        try:
            created = {"apiVersion": "v1", "kind": "ConfigMap", **patch}
            created["metadata"] = {"name": name, "labels": labels}
            api.send("POST", collection, created, "application/json")
            return
        except urllib.error.HTTPError as error:
            if error.code != 409:
                raise
    raise RuntimeError(f"ConfigMap {name} was neither patched nor created")


def main() -> int:
    data = result_data()
    if path := os.environ.get("DRILL_RESULT_FILE"):
        Path(path).write_text(json.dumps(data))
    if name := os.environ.get("DRILL_RESULT_CONFIGMAP"):
        try:
            publish(name, data)
        except (OSError, RuntimeError, urllib.error.URLError) as error:
            detail = error.read().decode(errors="replace") if hasattr(error, "read") else ""
            print(
                f"drill_result: writing ConfigMap {name} failed: {error} {detail}", file=sys.stderr
            )
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
