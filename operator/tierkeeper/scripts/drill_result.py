"""tierkeeper drill result: writes what drill.sh found where it is read.

Runs on the database image's own python3 with the standard library only (the
image has no Kubernetes client), as the last step of drill.sh.

Input (environment): DRILL_FINISHED_AT (RFC 3339, UTC), DRILL_RESULT (Passed or
Failed), DRILL_RTO_SECONDS (decimal, empty when the restore never finished),
DRILL_MESSAGE.

Output, each when configured:
- DRILL_RESULT_FILE: the result as a JSON object (the data tests read it).
- DRILL_RESULT_CONFIGMAP: the data keys finishedAt, result, rtoSeconds and message of
  the ConfigMap of that name in DRILL_NAMESPACE (else the pod's namespace), with a merge
  patch, as the pod's ServiceAccount, whose Role may get and patch that one ConfigMap
  and nothing else (the operator creates it, without data, with the drill's CronJob).
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

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def result_data() -> dict[str, str]:
    return {
        "finishedAt": os.environ["DRILL_FINISHED_AT"],
        "result": os.environ["DRILL_RESULT"],
        "rtoSeconds": os.environ.get("DRILL_RTO_SECONDS", ""),
        "message": os.environ.get("DRILL_MESSAGE", ""),
    }


def publish(name: str, data: dict[str, str]) -> None:
    """The data of ConfigMap `name`, as the pod's ServiceAccount."""
    account = Path(os.environ.get("DRILL_SERVICE_ACCOUNT_DIR", SERVICE_ACCOUNT_DIR))
    token = (account / "token").read_text().strip()
    namespace = os.environ.get("DRILL_NAMESPACE") or (account / "namespace").read_text().strip()
    server = os.environ.get("DRILL_API_SERVER") or (
        f"https://{os.environ['KUBERNETES_SERVICE_HOST']}:{os.environ['KUBERNETES_SERVICE_PORT']}"
    )
    request = urllib.request.Request(
        f"{server}/api/v1/namespaces/{namespace}/configmaps/{name}",
        data=json.dumps({"data": data}).encode(),
        method="PATCH",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/merge-patch+json",
        },
    )
    context = ssl.create_default_context(cafile=str(account / "ca.crt"))
    with urllib.request.urlopen(request, context=context, timeout=30):
        pass


def main() -> int:
    data = result_data()
    if path := os.environ.get("DRILL_RESULT_FILE"):
        Path(path).write_text(json.dumps(data))
    if name := os.environ.get("DRILL_RESULT_CONFIGMAP"):
        try:
            publish(name, data)
        except (OSError, urllib.error.URLError) as error:
            detail = error.read().decode(errors="replace") if hasattr(error, "read") else ""
            print(
                f"drill_result: writing ConfigMap {name} failed: {error} {detail}", file=sys.stderr
            )
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
