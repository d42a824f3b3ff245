"""Where the control-plane binaries are, and building them when asked to.

hack/controlplane/build.sh owns the build and the cache layout; this module only
asks it where the binaries go (`--print-bin-dir`) and runs it.
TIERKEEPER_CONTROLPLANE_BIN names a directory of prebuilt binaries instead (with
KWOK's stages in `../kwok-stages`), e.g. for an installed package without the
source tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tierkeeper.devcluster.build_progress import run_build

BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
)

BUILD_SCRIPT = Path(__file__).resolve().parents[3] / "hack" / "controlplane" / "build.sh"


class ToolchainMissing(Exception):
    """The control-plane binaries are not built (or cannot be)."""


@dataclass(frozen=True)
class Toolchain:
    bin_dir: Path
    buildable: bool = False  # True when build.sh owns bin_dir

    @property
    def stages_dir(self) -> Path:
        """KWOK's default Stage files (node and pod lifecycle, volumes)."""
        return self.bin_dir.parent / "kwok-stages"

    def path(self, binary: str) -> Path:
        return self.bin_dir / binary

    def missing(self) -> list[str]:
        absent = [b for b in BINARIES if not os.access(self.path(b), os.X_OK)]
        return absent + ([] if self.stages_dir.is_dir() else ["kwok-stages"])

    @classmethod
    def locate(cls) -> Toolchain:
        """The toolchain's place, whether or not it is built yet."""
        if override := os.environ.get("TIERKEEPER_CONTROLPLANE_BIN"):
            return cls(Path(override))
        if not BUILD_SCRIPT.is_file():
            raise ToolchainMissing(
                f"{BUILD_SCRIPT} not found (not a source checkout): "
                "set TIERKEEPER_CONTROLPLANE_BIN to a directory with the control-plane binaries"
            )
        printed = subprocess.run(
            ["bash", str(BUILD_SCRIPT), "--print-bin-dir"],
            check=True,
            capture_output=True,
            text=True,
        )
        return cls(Path(printed.stdout.strip()), buildable=True)

    @classmethod
    def built(cls) -> Toolchain:
        """The toolchain, which must be complete; raises ToolchainMissing otherwise."""
        toolchain = cls.locate()
        if missing := toolchain.missing():
            raise ToolchainMissing(
                f"control-plane binaries missing in {toolchain.bin_dir}: {', '.join(missing)}; "
                "build them with `make controlplane` (hack/controlplane/build.sh)"
            )
        return toolchain

    @classmethod
    def build(cls) -> Toolchain:
        """Build whatever is missing (a no-op when complete), then return the toolchain."""
        toolchain = cls.locate()
        if toolchain.buildable and (missing := toolchain.missing()):
            run_build(BUILD_SCRIPT, [b for b in missing if b in BINARIES])
        return cls.built()


def any_kubectl() -> Path | None:
    """The built kubectl, else one on PATH: a cluster that exists already needs no control
    plane of ours, only a client."""
    try:
        return Toolchain.built().path("kubectl")
    except ToolchainMissing:
        found = shutil.which("kubectl")
        return Path(found) if found else None
