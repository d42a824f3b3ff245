"""`tierkeeper dev`: a local cluster with the CRDs, the operator and examples/, shown with
the kubectl plugin's view until Ctrl-C; `tierkeeper dev health SERVICE CODE` changes what
the session's health stand-in answers for a Service, for a demo of a failing gate.

Nothing outside a local cluster reaches its Services (its pods run on simulated nodes),
so the operator's health gates ask the stand-in (devcluster/health.py) instead: every
Service is healthy until told otherwise.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import urllib.error
from pathlib import Path

from rich.console import Console, Group, RenderableType
from rich.text import Text

from tierkeeper.cli.cluster import stop_on_sigterm
from tierkeeper.devcluster import (
    ClusterError,
    DevCluster,
    KubectlError,
    Toolchain,
    ToolchainMissing,
    named_state_dir,
)
from tierkeeper.devcluster.health import HealthServer, set_code
from tierkeeper.plugin.cli import overview, redraw_in_place
from tierkeeper.plugin.cluster import Cluster, Target

REPO = Path(__file__).resolve().parents[3]
# In the session's state dir while it runs: where its health stand-in listens.
HEALTH_URL_FILE = "health-url"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "dev",
        help="start a local cluster with the operator, apply examples/ and show them",
    )
    parser.add_argument(
        "--name", default="dev", help="cluster name (state in ~/.cache/tierkeeper/clusters/NAME)"
    )
    parser.add_argument("--crds", type=Path, default=REPO / "crds", help="CRD directory")
    parser.add_argument(
        "--examples", type=Path, default=REPO / "examples", help="manifests to apply"
    )
    parser.add_argument("--focus", default="shop-production", help="the Environment shown in full")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between redraws")
    parser.set_defaults(func=run)
    actions = parser.add_subparsers(dest="dev_action", required=False)
    health = actions.add_parser(
        "health",
        help="make the running session's health stand-in answer CODE for SERVICE "
        "(e.g. shop-production-preview 500; 200 to heal it)",
    )
    health.add_argument("service", help="a Service name, e.g. shop-production-preview")
    health.add_argument("code", type=int, help="the HTTP status its /health answers")
    # SUPPRESS: `tierkeeper dev --name x health ...` keeps x instead of this default.
    health.add_argument("--name", default=argparse.SUPPRESS, help="the session's cluster name")
    health.set_defaults(func=run_health)


def run(args: argparse.Namespace) -> int:
    stop_on_sigterm()
    try:
        toolchain = Toolchain.build()
    except (ToolchainMissing, subprocess.CalledProcessError) as error:
        print(f"tierkeeper dev: {error}", file=sys.stderr)
        return 1
    cluster = DevCluster(named_state_dir(args.name), toolchain, name=f"tierkeeper-{args.name}")
    health = HealthServer()
    url_file = named_state_dir(args.name) / HEALTH_URL_FILE
    try:
        cluster.start(dedicated=True)
        cluster.kube.install_crds(args.crds)
        cluster.spawn(
            "operator",
            [sys.executable, "-m", "tierkeeper", "run", "--metrics-port", "0"],
            {"TIERKEEPER_HEALTH_URL": health.template},
        )
        cluster.kube.kubectl("apply", "-f", str(args.examples))
        # Last: the file also tells that the session is ready (tests wait for it).
        url_file.write_text(health.url)
        watch(cluster, args.name, args.focus, args.interval)
    except KeyboardInterrupt:
        return 0
    except (ClusterError, KubectlError) as error:
        print(f"tierkeeper dev: {error}", file=sys.stderr)
        return 1
    finally:
        print("tierkeeper dev: stopping the cluster", file=sys.stderr)
        url_file.unlink(missing_ok=True)
        health.close()
        cluster.stop()
    return 0


def watch(cluster: DevCluster, name: str, focus: str, interval: float) -> None:
    """The plugin's view of every Environment, redrawn in place, until interrupted; raises
    ClusterError as soon as a component (or the operator) dies."""
    plugin = Cluster(Target(kubeconfig=cluster.kubeconfig))
    hint = Text(
        f"Ctrl-C stops the cluster. In another shell: "
        f'eval "$(tierkeeper cluster env --name {name})"; '
        f"kubectl tierkeeper get {focus} -w; "
        f"tierkeeper dev health {focus}-preview 500",
        "dim",
    )

    def frame() -> RenderableType:
        cluster.check()
        return Group(overview(plugin, focus), Text(""), hint)

    try:
        redraw_in_place(Console(), frame, interval)
    finally:
        plugin.close()


def run_health(args: argparse.Namespace) -> int:
    url_file = named_state_dir(args.name) / HEALTH_URL_FILE
    if not url_file.is_file():
        print(
            f"tierkeeper dev health: no `tierkeeper dev --name {args.name}` is running",
            file=sys.stderr,
        )
        return 1
    try:
        set_code(url_file.read_text().strip(), args.service, args.code)
    except (urllib.error.URLError, OSError) as error:
        print(
            f"tierkeeper dev health: the session's stand-in did not answer: {error}",
            file=sys.stderr,
        )
        return 1
    print(f"{args.service}: /health now answers {args.code}")
    return 0
