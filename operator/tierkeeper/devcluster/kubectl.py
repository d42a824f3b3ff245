"""kubectl against one cluster: a local DevCluster's, or any kubeconfig's."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml


class KubectlError(Exception):
    def __init__(self, args: Sequence[str], result: subprocess.CompletedProcess[str]) -> None:
        self.result = result
        super().__init__(
            f"kubectl {' '.join(args)} exited with {result.returncode}: {result.stderr.strip()}"
        )


@dataclass(frozen=True)
class Kubectl:
    """A cluster reached through `kubeconfig` with the kubectl binary `kubectl_path`.

    `cache_dir` is kubectl's discovery cache (default ~/.kube/cache, which would
    collect one entry per port of every throwaway cluster).
    """

    kubeconfig: Path
    kubectl_path: Path
    cache_dir: Path | None = None

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl ARGS; raise KubectlError when it fails, unless `check` is False."""
        argv = [str(self.kubectl_path), f"--kubeconfig={self.kubeconfig}"]
        if self.cache_dir is not None:
            argv.append(f"--cache-dir={self.cache_dir}")
        result = subprocess.run(
            [*argv, *args], input=input, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise KubectlError(args, result)
        return result

    def install_crds(self, crds: Path, timeout: float = 60) -> None:
        """Apply the CRDs in `crds` (a file, or a directory of them) and wait until the API
        server serves them.

        Established is not enough: discovery and the OpenAPI document (which `kubectl
        explain` reads) follow a moment later; and `kubectl wait --for=condition=Established`
        on a CRD whose status has no conditions yet fails outright instead of waiting.
        """
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crds))
        deadline = time.monotonic() + timeout
        for resource in _crd_resources(crds):
            while self.kubectl("explain", resource, check=False).returncode != 0:
                if time.monotonic() > deadline:
                    raise KubectlError(
                        ("explain", resource), self.kubectl("explain", resource, check=False)
                    )
                time.sleep(0.2)

    def remove_crds(self, crds: Path, timeout: float = 300) -> None:
        """Delete the CRDs in `crds` (a file, or a directory of them) and wait until they
        are gone.

        The API server's CRD finalizer deletes a CRD's objects before the CRD itself. Its
        list of them fails while the CRD's storage is being re-created, which every change
        of the CRD does (its status right after it was installed, its deletion), and then it
        does not try again until the CRD changes once more: a CRD deleted a moment after it
        was installed can stay Terminating for minutes. So one still here is touched (an
        annotation) every few seconds, which hands it to the finalizer again.
        """
        names = [f"customresourcedefinition/{name}" for name in _crd_resources(crds)]
        self.kubectl("delete", "--ignore-not-found", "--wait=false", *names)
        deadline = time.monotonic() + timeout
        touched = time.monotonic()
        while left := self.kubectl(
            "get", "--ignore-not-found", "-o", "name", *names
        ).stdout.split():
            if time.monotonic() > deadline:
                raise KubectlError(("get", *left), self.kubectl("get", *left, check=False))
            if time.monotonic() - touched > 5:
                touched = time.monotonic()
                stamp = f"tierkeeper.dev/finalize-again={time.time_ns()}"
                self.kubectl("annotate", "--overwrite", *left, stamp, check=False)
            time.sleep(0.5)


def _crd_resources(crds: Path) -> list[str]:
    """`plural.group` of every CRD in `crds`."""
    return [
        f"{doc['spec']['names']['plural']}.{doc['spec']['group']}"
        for path in (sorted(crds.glob("*.yaml")) if crds.is_dir() else [crds])
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc.get("kind") == "CustomResourceDefinition"
    ]
