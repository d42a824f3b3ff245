"""`tierkeeper cluster up|down|env`: the local control plane (see tierkeeper.devcluster)."""

from __future__ import annotations

import argparse
import shlex
import signal
import subprocess
import sys
import time
from types import FrameType

from tierkeeper.devcluster import (
    ClusterError,
    DevCluster,
    StateDir,
    Toolchain,
    ToolchainMissing,
    named_state_dir,
    stop_cluster,
)

UP_TIMEOUT = 600.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    named = argparse.ArgumentParser(add_help=False)
    named.add_argument(
        "--name",
        default="default",
        help="which cluster (state in ~/.cache/tierkeeper/clusters/NAME)",
    )
    parser = sub.add_parser("cluster", help="start and stop the local control plane")
    actions = parser.add_subparsers(dest="action", required=True)
    up = actions.add_parser(
        "up",
        parents=[named],
        help="start it (building it if needed) in the background; print the kubeconfig path",
    )
    up.add_argument(
        "--foreground", action="store_true", help="run it in this process until interrupted"
    )
    up.set_defaults(func=run_up)
    down = actions.add_parser("down", parents=[named], help="stop it")
    down.set_defaults(func=run_down)
    env = actions.add_parser(
        "env", parents=[named], help="print `export KUBECONFIG=… PATH=…` for a shell to eval"
    )
    env.set_defaults(func=run_env)


def stop_on_sigterm() -> None:
    """Turn SIGTERM (`cluster down`, a supervisor) into the same orderly stop as Ctrl-C.

    The owner of a cluster calls this: otherwise SIGTERM ends Python at once and
    the kernel SIGKILLs the components (PR_SET_PDEATHSIG) instead.
    """

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def run_up(args: argparse.Namespace) -> int:
    state = StateDir(named_state_dir(args.name))
    try:
        toolchain = Toolchain.build()
    except (ToolchainMissing, subprocess.CalledProcessError) as error:
        print(f"tierkeeper cluster up: {error}", file=sys.stderr)
        return 1
    if args.foreground:
        return _serve(DevCluster(state.root, toolchain, name=f"tierkeeper-{args.name}"))
    if state.owner() is not None:
        print(state.kubeconfig)
        return 0
    return _start_in_background(state, args.name)


def _serve(cluster: DevCluster) -> int:
    stop_on_sigterm()
    try:
        cluster.start(dedicated=True)
        print(cluster.kubeconfig, flush=True)
        cluster.serve()
    except KeyboardInterrupt:
        return 0
    except ClusterError as error:
        print(f"tierkeeper cluster: {error}", file=sys.stderr)
        return 1
    finally:
        cluster.stop()
    return 0


def _start_in_background(state: StateDir, name: str) -> int:
    """Run `cluster up --foreground` in a new session and wait until it reports ready."""
    state.logs.mkdir(parents=True, exist_ok=True)
    log = state.logs / "cluster.log"
    with log.open("wb") as out:
        owner = subprocess.Popen(
            [sys.executable, "-m", "tierkeeper", "cluster", "up", "--foreground", "--name", name],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + UP_TIMEOUT
    while owner.poll() is None and time.monotonic() < deadline:
        recorded = state.read_pids()
        if recorded and recorded["owner"]["pid"] == owner.pid and recorded["ready"]:
            print(state.kubeconfig)
            return 0
        time.sleep(0.5)
    if owner.poll() is None:
        stop_cluster(state)
    print(
        f"tierkeeper cluster up: the cluster did not start; see {log} and {state.logs}",
        file=sys.stderr,
    )
    return 1


def run_down(args: argparse.Namespace) -> int:
    if not stop_cluster(StateDir(named_state_dir(args.name))):
        print(f"tierkeeper cluster down: no cluster {args.name!r} is running", file=sys.stderr)
    return 0


def run_env(args: argparse.Namespace) -> int:
    state = StateDir(named_state_dir(args.name))
    try:
        toolchain = Toolchain.locate()
    except ToolchainMissing as error:
        print(f"tierkeeper cluster env: {error}", file=sys.stderr)
        return 1
    if state.owner() is None:
        print(f"# no cluster {args.name!r} is running: `tierkeeper cluster up`", file=sys.stderr)
    print(f"export KUBECONFIG={shlex.quote(str(state.kubeconfig))}")
    print(f'export PATH={shlex.quote(str(toolchain.bin_dir))}:"$PATH"')
    return 0
