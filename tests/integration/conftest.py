"""The control plane the integration tests run against.

`cluster` (session): a `tierkeeper.devcluster.Kubectl` with `.kubeconfig` (a Path)
and `.kubectl(*args, input=None, check=True)`. By default it is a local control
plane started once per session (see tierkeeper.devcluster); with
TIERKEEPER_KUBECONFIG=PATH, or TIERKEEPER_EXISTING_CLUSTER=1 and the usual
KUBECONFIG, an existing cluster (`make e2e-kind`). The CRDs in crds/ are
installed in either case.

`namespace`: a fresh namespace of the test's own, deleted afterwards.

`audit_log`: the local API server's audit log of the operator's ServiceAccount's requests
(audit-policy.yaml), None on an existing cluster.

For a Python client: `kubernetes.config.new_client_from_config(config_file=str(cluster.kubeconfig))`.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from tests.integration.fixtures import api, health, operator  # noqa: F401  (fixtures)
from tierkeeper.devcluster import DevCluster, Kubectl, Toolchain, ToolchainMissing
from tierkeeper.devcluster.toolchain import any_kubectl

CRDS = Path(__file__).parents[2] / "crds"
AUDIT_POLICY = Path(__file__).with_name("audit-policy.yaml")


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
    if (found := any_kubectl()) is None:
        unavailable("no kubectl: build it with `make controlplane` or put one on PATH")
    return found


@pytest.fixture(scope="session")
def local_cluster(
    tmp_path_factory: pytest.TempPathFactory, unavailable: Callable[[str], NoReturn]
) -> Iterator[DevCluster | None]:
    """The local control plane of the session; None when an existing cluster is in use."""
    if _existing_kubeconfig() is not None:
        yield None
        return
    toolchain = _toolchain(unavailable)
    state = tmp_path_factory.mktemp("cluster")
    with DevCluster(state, toolchain, name="tierkeeper-test", audit_policy=AUDIT_POLICY) as dev:
        yield dev
        dev.check()  # a component that died mid-session is an error, not a silent flake


@pytest.fixture(scope="session")
def cluster(local_cluster: DevCluster | None, unavailable: Callable[[str], NoReturn]) -> Kubectl:
    if local_cluster is not None:
        kube = local_cluster.kube
    else:
        kubeconfig = _existing_kubeconfig()
        assert kubeconfig is not None
        kube = Kubectl(kubeconfig, _kubectl(unavailable))
    if any(CRDS.glob("*.yaml")):
        kube.install_crds(CRDS)
    return kube


@pytest.fixture(scope="session")
def audit_log(local_cluster: DevCluster | None) -> Path | None:
    """The local API server's audit log of the requests AUDIT_POLICY names (None on an
    existing cluster, whose audit log is not ours to read)."""
    return local_cluster.state.audit_log if local_cluster is not None else None


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


# Lines of each process log shown with a failed test: a failure that shows only in the
# full suite leaves its evidence in CI's output, not in a temporary directory CI discards.
LOG_TAIL_LINES = 150


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    tmp_path = getattr(item, "funcargs", {}).get("tmp_path")
    if report.failed and isinstance(tmp_path, Path):
        for log in sorted(tmp_path.glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
            report.sections.append((f"{log.name}, last {len(lines)} lines", "\n".join(lines)))
    return report
