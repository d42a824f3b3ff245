"""The real tools the tests in this directory run: promtool and kubectl (for kustomize).

A missing tool skips, or fails under TIERKEEPER_REQUIRE_ALL=1 (`make test`), through the
shared `unavailable` fixture. `make tools` builds the pinned promtool
(hack/install-promtool.sh); kubectl comes with the local control plane (`make
controlplane`) or from PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml

from tierkeeper.devcluster import Toolchain, ToolchainMissing

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def promtool(unavailable: Callable[[str], NoReturn]) -> Path:
    """The promtool hack/install-promtool.sh builds, at the Prometheus version it pins."""
    path = subprocess.run(
        ["bash", str(ROOT / "hack" / "install-promtool.sh"), "--print-binary"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not os.access(path, os.X_OK):
        unavailable(f"promtool not built ({path}): run `make tools`")
    return Path(path)


@pytest.fixture(scope="session")
def kubectl(unavailable: Callable[[str], NoReturn]) -> Path:
    try:
        return Toolchain.built().path("kubectl")
    except ToolchainMissing:
        found = shutil.which("kubectl")
        if found is None:
            unavailable("kubectl not found: build it with `make controlplane`, or put one on PATH")
        return Path(found)


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
