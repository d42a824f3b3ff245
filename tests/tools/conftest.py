"""The real tools the tests in this directory run: promtool and kubectl (for kustomize).

A missing tool skips, or fails under TIERKEEPER_REQUIRE_ALL=1 (`make test`), through the
shared `unavailable` fixture. `make tools` installs promtool; kubectl comes with the
local control plane (`make controlplane`) or from PATH.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml

from tierkeeper.devcluster.toolchain import any_kubectl

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def promtool(unavailable: Callable[[str], NoReturn]) -> Path:
    found = shutil.which("promtool")
    if found is None:
        unavailable("promtool not found: install it with `make tools` (hack/install-tools.sh)")
    return Path(found)


@pytest.fixture(scope="session")
def kubectl(unavailable: Callable[[str], NoReturn]) -> Path:
    if (found := any_kubectl()) is None:
        unavailable("kubectl not found: build it with `make controlplane`, or put one on PATH")
    return found


@pytest.fixture(scope="session")
def kustomize(kubectl: Path) -> Callable[[Path], list[dict[str, Any]]]:
    """The objects `kubectl kustomize DIR` builds (what `kubectl apply -k DIR` would send)."""

    def build(directory: Path) -> list[dict[str, Any]]:
        result = subprocess.run(
            [str(kubectl), "kustomize", str(directory)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    return build
