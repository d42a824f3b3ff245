"""Fixtures for operator behaviour tests: the API view, a health server, the operator process.

They build on the control-plane fixtures (`cluster`, `namespace`) of conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.k8s import Api
from tests.integration.operator_process import HealthServer, OperatorProcess


@pytest.fixture(scope="session")
def api(cluster: Any) -> Api:
    return Api(Path(cluster.kubeconfig))


@pytest.fixture
def health() -> Iterator[HealthServer]:
    server = HealthServer()
    yield server
    server.close()


def operator_process(
    cluster: Any,
    namespace: str,
    health: HealthServer,
    log: Path,
    args: tuple[str, ...] = (),
    **env: str,
) -> OperatorProcess:
    """The operator for `namespace`, its gates asking `health`, with settings `env` and
    command-line `args`."""
    return OperatorProcess(
        kubeconfig=Path(cluster.kubeconfig),
        namespace=namespace,
        log=log,
        extra_env={"TIERKEEPER_HEALTH_URL": health.template, **env},
        extra_args=args,
    )


@pytest.fixture
def operator(
    cluster: Any, namespace: str, health: HealthServer, tmp_path: Path
) -> Iterator[OperatorProcess]:
    process = operator_process(cluster, namespace, health, tmp_path / "operator.log")
    process.start()
    yield process
    process.stop()
