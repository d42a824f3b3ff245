"""`tierkeeper dev`'s helpers that need no cluster: the build's progress line, and the
health stand-in's control endpoint (a real HTTP server)."""

from __future__ import annotations

import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tierkeeper.devcluster.build_progress import BuildProgress, run_build
from tierkeeper.devcluster.health import HealthServer, set_code

MISSING = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok"]


def test_progress_names_the_binaries_the_step_and_counts_packages_and_compiled_binaries() -> None:
    progress = BuildProgress(MISSING)
    assert progress.steps == 3
    progress.feed("go: downloading k8s.io/api v0.37.2")
    assert progress.describe() == "preparing the build: 1 Go modules downloaded"
    assert progress.feed(
        "build.sh: building kube-apiserver kube-controller-manager kube-scheduler kubectl "
        "(from scratch: about 15 minutes on 2 cores)"
    )
    for line in ("internal/goarch", "k8s.io/api/core/v1", "k8s.io/kubernetes/cmd/kube-apiserver"):
        assert not progress.feed(line + "\n")
    assert progress.describe() == (
        "building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (step 1/3): "
        "3 packages compiled, 1/6 binaries compiled, 1 modules downloaded"
    )
    progress.feed("build.sh: building etcd (from scratch: about 15 minutes on 2 cores)")
    progress.feed("go.etcd.io/etcd/server/v3")
    assert progress.describe().startswith("building etcd (step 2/3): 4 packages compiled, 2/6")


def test_progress_ignores_compiler_errors_and_counts_only_missing_modules() -> None:
    progress = BuildProgress(["kwok"])
    assert progress.steps == 1
    progress.feed("# sigs.k8s.io/kwok/pkg/x")
    progress.feed("pkg/x/x.go:3:1: syntax error: unexpected }")
    assert progress.packages == 0


def test_health_stand_in_answers_the_code_set_through_its_control_endpoint() -> None:
    server = HealthServer()
    try:
        url = server.template.format(namespace="default", service="shop-preview", path="/health")
        with urllib.request.urlopen(url, timeout=5) as answer:
            assert answer.status == 200
        set_code(server.url, "shop-preview", 500)
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(url, timeout=5)
        assert failed.value.code == 500
        other = server.template.format(namespace="default", service="shop", path="/health")
        with urllib.request.urlopen(other, timeout=5) as answer:
            assert answer.status == 200, "only the named service changed"
        with pytest.raises(urllib.error.HTTPError) as refused:
            request = urllib.request.Request(
                f"{server.url}/-/codes/shop", data=b"teapot", method="PUT"
            )
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 400
    finally:
        server.close()


FAKE_BUILD = """
echo "build.sh: building kwok (from scratch: about 15 minutes on 2 cores)" >&2
for i in $(seq 1 600); do echo "example.com/pkg$i" >&2; done
echo "sigs.k8s.io/kwok/cmd/kwok" >&2
echo "GOFLAGS=$GOFLAGS" >&2
exit ${FAIL:-0}
"""


def test_build_without_a_terminal_logs_a_line_per_step_and_per_500_packages(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "build.sh"
    script.write_text(FAKE_BUILD)
    run_build(script, ["kwok"])
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("building kwok")]
    assert [line.split(" [")[0] for line in lines] == [
        "building kwok (step 1/1): 0 packages compiled, 0/1 binaries compiled",
        "building kwok (step 1/1): 500 packages compiled, 0/1 binaries compiled",
    ]
    assert "example.com/pkg1\n" not in err, "Go's own lines are summarised, not copied"
    assert "built the control plane" in err


def test_a_failed_build_shows_its_last_lines_and_raises(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "build.sh"
    script.write_text(FAKE_BUILD)
    os.environ["FAIL"] = "2"
    try:
        with pytest.raises(subprocess.CalledProcessError) as failed:
            run_build(script, ["kwok"])
    finally:
        del os.environ["FAIL"]
    assert failed.value.returncode == 2
    err = capfd.readouterr().err
    assert "sigs.k8s.io/kwok/cmd/kwok" in err
    assert "GOFLAGS=-v" in err, "go build was asked to name each package"
