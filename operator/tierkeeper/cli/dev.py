"""`tierkeeper dev`: a local cluster with the CRDs and examples/, watched until Ctrl-C."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from tierkeeper.cli.cluster import stop_on_sigterm
from tierkeeper.devcluster import (
    ClusterError,
    DevCluster,
    KubectlError,
    Toolchain,
    ToolchainMissing,
    named_state_dir,
)

REPO = Path(__file__).resolve().parents[3]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "dev", help="start a local cluster, install the CRDs, apply examples/ and watch"
    )
    parser.add_argument(
        "--name", default="dev", help="cluster name (state in ~/.cache/tierkeeper/clusters/NAME)"
    )
    parser.add_argument("--crds", type=Path, default=REPO / "crds", help="CRD directory")
    parser.add_argument(
        "--examples", type=Path, default=REPO / "examples", help="manifests to apply"
    )
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between two listings")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    stop_on_sigterm()
    try:
        toolchain = Toolchain.build()
    except (ToolchainMissing, subprocess.CalledProcessError) as error:
        print(f"tierkeeper dev: {error}", file=sys.stderr)
        return 1
    cluster = DevCluster(named_state_dir(args.name), toolchain, name=f"tierkeeper-{args.name}")
    try:
        cluster.start(dedicated=True)
        print(
            f"cluster {args.name!r} is up; in another shell: "
            f'eval "$(tierkeeper cluster env --name {args.name})"',
            file=sys.stderr,
        )
        cluster.kube.install_crds(args.crds)
        cluster.spawn(
            "operator", [sys.executable, "-m", "tierkeeper", "run", "--metrics-port", "0"]
        )
        cluster.kube.kubectl("apply", "-f", str(args.examples))
        watch(cluster, args.interval)
    except KeyboardInterrupt:
        return 0
    except (ClusterError, KubectlError) as error:
        print(f"tierkeeper dev: {error}", file=sys.stderr)
        return 1
    finally:
        print("tierkeeper dev: stopping the cluster", file=sys.stderr)
        cluster.stop()
    return 0


def watch(cluster: DevCluster, interval: float) -> None:
    """Print the Environments and Releases every `interval` seconds, until interrupted."""
    while True:
        cluster.check()
        listing = cluster.kube.kubectl("get", "tkenv,tkrel", "-A", check=False)
        print(f"--- {datetime.now():%H:%M:%S} (Ctrl-C to stop)")
        print((listing.stdout or listing.stderr).rstrip(), flush=True)
        time.sleep(interval)
