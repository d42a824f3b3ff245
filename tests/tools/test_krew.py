"""The krew package of `kubectl tierkeeper`: the archive package.sh builds installs a
launcher that runs the plugin, and the manifest it writes names that archive."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

KREW = Path(__file__).parents[2] / "integrations" / "krew"


def package(dist: Path) -> tuple[Path, dict[str, object]]:
    subprocess.run(
        [
            "bash",
            str(KREW / "package.sh"),
            "0.1.0",
            "https://example.invalid/a.tar.gz",
            "https://example.invalid/",
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "DIST": str(dist)},
    )
    manifest: dict[str, object] = yaml.safe_load((dist / "tierkeeper.yaml").read_text())
    return dist / "kubectl-tierkeeper-0.1.0.tar.gz", manifest


def test_manifest_names_the_archive_by_its_sha256_and_the_files_it_holds(tmp_path: Path) -> None:
    archive, manifest = package(tmp_path)
    spec = manifest["spec"]
    assert isinstance(spec, dict)
    platform = spec["platforms"][0]
    assert platform["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert platform["uri"] == "https://example.invalid/a.tar.gz"
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {f["from"] for f in platform["files"]} == names
    assert platform["bin"] in names
    again, _ = package(tmp_path / "again")
    assert again.read_bytes() == archive.read_bytes(), "the same sources give the same archive"


def test_launcher_runs_the_installed_plugin_or_says_what_to_install(tmp_path: Path) -> None:
    archive, _ = package(tmp_path)
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "krew", filter="data")
    launcher = tmp_path / "krew" / "kubectl-tierkeeper"
    ran = subprocess.run(
        [str(launcher), "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "TIERKEEPER_PYTHON": sys.executable},
    )
    assert ran.returncode == 0, ran.stderr
    assert "usage: kubectl tierkeeper" in ran.stdout
    bare = subprocess.run(
        [str(launcher), "get", "x"],
        capture_output=True,
        text=True,
        env={**os.environ, "TIERKEEPER_PYTHON": str(tmp_path / "a-python-without-it")},
    )
    assert bare.returncode == 1
    assert "pip install tierkeeper" in bare.stderr
