"""The control plane the integration tests run against.

`cluster` (session): a `tierkeeper.devcluster.Kube` with `.kubeconfig` (a Path)
and `.kubectl(*args, input=None, check=True)`. By default it is a local control
plane started once per session (see tierkeeper.devcluster); with
TIERKEEPER_EXISTING_CLUSTER=1 it is whatever KUBECONFIG points at (`make
e2e-kind`). The CRDs in crds/ are installed in either case.

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
from tierkeeper.devcluster import DevCluster, Kube, Toolchain, ToolchainMissing

CRDS = Path(__file__).parents[2] / "crds"


def _existing_cluster(unavailable: Callable[[str], NoReturn]) -> Kube:
    kubeconfig = Path(os.environ.get("KUBECONFIG", Path.home() / ".kube" / "config"))
    try:
        kubectl = Toolchain.built().path("kubectl")
    except ToolchainMissing:
        found = shutil.which("kubectl")
        if found is None:
            unavailable("TIERKEEPER_EXISTING_CLUSTER=1 but no kubectl (built or on PATH)")
        kubectl = Path(found)
    return Kube(kubeconfig, kubectl)


@pytest.fixture(scope="session")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, unavailable: Callable[[str], NoReturn]
) -> Iterator[Kube]:
    if os.environ.get("TIERKEEPER_EXISTING_CLUSTER") == "1":
        kube = _existing_cluster(unavailable)
        if any(CRDS.glob("*.yaml")):
            kube.install_crds(CRDS)
        yield kube
        return
    try:
        toolchain = Toolchain.built()
    except ToolchainMissing as error:
        unavailable(str(error))
    with DevCluster(tmp_path_factory.mktemp("cluster"), toolchain, name="tierkeeper-test") as dev:
        if any(CRDS.glob("*.yaml")):
            dev.kube.install_crds(CRDS)
        yield dev.kube
        dev.check()  # a component that died mid-session is an error, not a silent flake


@pytest.fixture
def namespace(cluster: Kube, request: pytest.FixtureRequest) -> Iterator[str]:
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"t-{slug}-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    # Pods are admitted only once the namespace's `default` ServiceAccount exists.
    cluster.kubectl("wait", "--for=create", "--timeout=60s", "-n", name, "serviceaccount/default")
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")
