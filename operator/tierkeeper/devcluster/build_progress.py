"""Running hack/controlplane/build.sh with a progress line instead of Go's output.

A cold build compiles thousands of packages for about 15 minutes, and Go by itself
prints only the modules it downloads. With `-v` in GOFLAGS, `go build` names each
package as it compiles it (GOFLAGS reaches only the commands that know the flag), so
the line can say which binaries are being built, which step of the script that is, how
many packages are done, and which binaries are compiled.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

# The Go module each binary comes from, and its main package, as build.sh pins them; a
# module whose binaries are all built is skipped by the script.
MODULES = {
    "kubernetes": {
        "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
        "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
        "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
        "kubectl": "k8s.io/kubernetes/cmd/kubectl",
    },
    "etcd": {"etcd": "go.etcd.io/etcd/server/v3"},
    "kwok": {"kwok": "sigs.k8s.io/kwok/cmd/kwok"},
}
BUILDING = "build.sh: building "
DOWNLOADING = "go: downloading "
IMPORT_PATH = re.compile(r"^[A-Za-z0-9_.~-]+(/[A-Za-z0-9_.~+-]+)*$")
# Without a terminal (CI logs), a line at each step and every this many packages.
LOG_EVERY_PACKAGES = 500


@dataclass
class BuildProgress:
    """What the build is at, from the lines it prints (`feed`), for a progress line."""

    missing: Sequence[str]  # the binaries to build
    steps: int = 0
    step: int = 0
    building: tuple[str, ...] = ()
    downloads: int = 0
    packages: int = 0
    compiled: list[str] = field(default_factory=list)  # binaries whose main package is done

    def __post_init__(self) -> None:
        self.steps = sum(1 for binaries in MODULES.values() if set(binaries) & set(self.missing))

    def feed(self, line: str) -> bool:
        """Take one line of the build's output; True when it starts a new step."""
        line = line.strip()
        if line.startswith(BUILDING):
            self.step += 1
            self.building = tuple(line.removeprefix(BUILDING).split(" (")[0].split())
            return True
        if line.startswith(DOWNLOADING):
            self.downloads += 1
        elif IMPORT_PATH.match(line):
            # `go build -v`: an import path, one line per package compiled.
            self.packages += 1
            for binaries in MODULES.values():
                for binary, main in binaries.items():
                    if line == main and binary in self.missing and binary not in self.compiled:
                        self.compiled.append(binary)
        return False

    def describe(self) -> str:
        done = f"{len(self.compiled)}/{len(self.missing)} binaries compiled"
        if not self.building:
            return f"preparing the build: {self.downloads} Go modules downloaded"
        return (
            f"building {', '.join(self.building)} (step {self.step}/{self.steps}): "
            f"{self.packages} packages compiled, {done}"
            + (f", {self.downloads} modules downloaded" if self.downloads else "")
        )


def run_build(script: Path, missing: Sequence[str]) -> None:
    """Run build.sh, showing a progress line; if it fails, print the last lines of its
    output (the compiler's errors) and raise CalledProcessError."""
    env = {**os.environ, "GOFLAGS": f"{os.environ.get('GOFLAGS', '')} -v".strip()}
    console = Console(stderr=True)
    progress = BuildProgress(missing)
    tail: deque[str] = deque(maxlen=40)
    command = ["bash", str(script)]
    console.print(f"building the local control plane ({', '.join(missing)}) with {script}")
    started = time.monotonic()
    # Its stdout (the bin dir) is not needed; its stderr carries the script's and Go's lines.
    with subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stderr is not None
        if console.is_terminal:
            with console.status(progress.describe()) as status:
                for line in process.stderr:
                    tail.append(line)
                    progress.feed(line)
                    status.update(f"{progress.describe()} [{_elapsed(started)}]")
        else:
            for line in process.stderr:
                tail.append(line)
                before = progress.packages
                new_step = progress.feed(line)
                passed = progress.packages // LOG_EVERY_PACKAGES > before // LOG_EVERY_PACKAGES
                if new_step or passed:
                    print(f"{progress.describe()} [{_elapsed(started)}]", file=sys.stderr)
    if process.returncode != 0:
        sys.stderr.write("".join(tail))
        raise subprocess.CalledProcessError(process.returncode, command, stderr="".join(tail))
    console.print(f"built the control plane in {_elapsed(started)}")


def _elapsed(started: float) -> str:
    minutes, seconds = divmod(int(time.monotonic() - started), 60)
    return f"{minutes}m{seconds:02d}s"
