"""`tierkeeper dev` as a newcomer runs it: its own local cluster, the operator, examples/;
production rolls out to the other colour through its health gate (the session's
stand-in), and `tierkeeper dev health` makes the next gate refuse."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.k8s import Api, eventually
from tierkeeper.devcluster import Toolchain, named_state_dir

pytestmark = pytest.mark.integration

ENV = "shop-production"


@dataclass
class DevSession:
    name: str
    state: Path
    log: Path
    process: subprocess.Popen[bytes]

    def tierkeeper(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "tierkeeper", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def explain(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture
def dev(local_toolchain: Toolchain, tmp_path: Path) -> Iterator[DevSession]:
    name = f"test-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "dev.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "tierkeeper", "dev", "--name", name],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "160"},
        )
    session = DevSession(name, named_state_dir(name), log, process)
    try:
        yield session
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C: the session stops its cluster
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        # The cluster's logs (the operator's among them) outlive it, for a failure's reader.
        shutil.copytree(session.state / "logs", tmp_path / "logs", dirs_exist_ok=True)
        shutil.rmtree(session.state, ignore_errors=True)


def release_status(api: Api) -> dict[str, Any]:
    return (api.get("Release", "default", ENV) or {}).get("status") or {}


def reached(api: Api, phase: str, image: str) -> bool:
    """One read of the status: the phase and image of the same moment."""
    status = release_status(api)
    return status.get("phase") == phase and status.get("targetImage") == image


def selected_color(api: Api) -> str | None:
    service = api.get("Service", "default", ENV) or {}
    color: str | None = (service.get("spec") or {}).get("selector", {}).get("tierkeeper.dev/color")
    return color


def test_dev_rolls_production_to_the_other_colour_and_its_health_command_fails_a_gate(
    dev: DevSession,
) -> None:
    # The stand-in's address is written once the cluster is up: the session is ready.
    eventually(
        lambda: (dev.state / "health-url").is_file(),
        timeout=240,
        what="the dev session up",
        explain=dev.explain,
    )
    api = Api(dev.state / "kubeconfig")
    eventually(
        lambda: release_status(api).get("phase") == "Promoted",
        timeout=180,
        what="the example's first release of production",
        explain=dev.explain,
    )
    first = release_status(api)["activeColor"]
    other = "green" if first == "blue" else "blue"

    kubectl = Toolchain.built().path("kubectl")
    subprocess.run(
        [
            str(kubectl),
            "--kubeconfig",
            str(dev.state / "kubeconfig"),
            "patch",
            "tkrel",
            ENV,
            "--type",
            "merge",
            "-p",
            '{"spec":{"image":"ghcr.io/acme/shop:1.4.3"}}',
        ],
        check=True,
        capture_output=True,
    )
    # Production's gate: 3 healthy answers 30 s apart, then 60 s on live traffic.
    eventually(
        lambda: reached(api, "Promoted", "ghcr.io/acme/shop:1.4.3"),
        timeout=300,
        interval=2,
        what="1.4.3 promoted",
        explain=lambda: (release_status(api), dev.explain()),
    )
    status = release_status(api)
    assert status["activeColor"] == other, json.dumps(status, indent=1)
    assert selected_color(api) == other
    assert "Promoted" in dev.explain(), "the session's view shows the rollout"

    said = dev.tierkeeper("dev", "health", f"{ENV}-preview", "500", "--name", dev.name)
    assert "answers 500" in said
    api.patch("Release", "default", ENV, {"spec": {"image": "ghcr.io/acme/shop:1.4.4"}})
    eventually(
        lambda: reached(api, "Failed", "ghcr.io/acme/shop:1.4.4"),
        timeout=120,
        interval=1,
        what="the gate refusing 1.4.4",
        explain=lambda: release_status(api),
    )
    assert selected_color(api) == other, "traffic stayed where it was"
