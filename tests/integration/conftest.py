"""The control plane the integration tests run against.

`cluster` (session): a `tierkeeper.devcluster.Kubectl` with `.kubeconfig` (a Path)
and `.kubectl(*args, input=None, check=True)`. By default it is a local control
plane started once per session (see tierkeeper.devcluster); with
TIERKEEPER_KUBECONFIG=PATH, or TIERKEEPER_EXISTING_CLUSTER=1 and the usual
KUBECONFIG, an existing cluster (`make e2e-kind`). The CRDs in crds/ are
installed in either case.

`namespace`: a fresh namespace of the test's own, deleted afterwards.

For a Python client: `kubernetes.config.new_client_from_config(config_file=str(cluster.kubeconfig))`.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from tests.integration.fixtures import api, health, operator  # noqa: F401  (fixtures)
from tierkeeper.devcluster import DevCluster, Kubectl, Toolchain, ToolchainMissing

CRDS = Path(__file__).parents[2] / "crds"


def _existing_kubeconfig() -> Path | None:
    """TIERKEEPER_KUBECONFIG, or under TIERKEEPER_EXISTING_CLUSTER=1 the usual KUBECONFIG."""
    if explicit := os.environ.get("TIERKEEPER_KUBECONFIG"):
        return Path(explicit)
    if os.environ.get("TIERKEEPER_EXISTING_CLUSTER") == "1":
        return Path(os.environ.get("KUBECONFIG", Path.home() / ".kube" / "config"))
    return None


def _toolchain(unavailable: Callable[[str], NoReturn]) -> Toolchain:
    try:
        return Toolchain.built()
    except ToolchainMissing as error:
        unavailable(str(error))


def _kubectl(unavailable: Callable[[str], NoReturn]) -> Path:
    """The built kubectl, else one on PATH (an existing cluster needs no control plane)."""
    try:
        return Toolchain.built().path("kubectl")
    except ToolchainMissing:
        found = shutil.which("kubectl")
        if found is None:
            unavailable("no kubectl: build it with `make controlplane` or put one on PATH")
        return Path(found)


@pytest.fixture(scope="session")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, unavailable: Callable[[str], NoReturn]
) -> Iterator[Kubectl]:
    if (kubeconfig := _existing_kubeconfig()) is not None:
        kube = Kubectl(kubeconfig, _kubectl(unavailable))
        if any(CRDS.glob("*.yaml")):
            kube.install_crds(CRDS)
        yield kube
        return
    toolchain = _toolchain(unavailable)
    with DevCluster(tmp_path_factory.mktemp("cluster"), toolchain, name="tierkeeper-test") as dev:
        if any(CRDS.glob("*.yaml")):
            dev.kube.install_crds(CRDS)
        yield dev.kube
        dev.check()  # a component that died mid-session is an error, not a silent flake


@pytest.fixture(scope="session")
def local_toolchain(unavailable: Callable[[str], NoReturn]) -> Toolchain:
    """The built control plane, for tests of the local cluster itself (skipped on an existing one)."""
    if _existing_kubeconfig() is not None:
        pytest.skip("tests the local control plane, and an existing cluster is in use")
    return _toolchain(unavailable)


@pytest.fixture
def namespace(cluster: Kubectl, request: pytest.FixtureRequest) -> Iterator[str]:
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"t-{slug}-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    # Pods are admitted only once the namespace's `default` ServiceAccount exists.
    cluster.kubectl("wait", "--for=create", "--timeout=60s", "-n", name, "serviceaccount/default")
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")
