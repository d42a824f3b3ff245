"""`kubectl tierkeeper COMMAND`: argument parsing and the watch loop.

kubectl hands a plugin every argument after its name, so the connection flags (-n,
--context, --kubeconfig) are accepted after the command, as kubectl's own are.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from kubernetes.client.exceptions import ApiException
from kubernetes.config import ConfigException
from rich.console import Console, RenderableType
from rich.live import Live
from rich.text import Text
from urllib3.exceptions import HTTPError as ConnectionFailed

from tierkeeper.plugin.cluster import Cluster, NotFound, Target
from tierkeeper.plugin.commands import COMMANDS
from tierkeeper.plugin.render import render, render_many
from tierkeeper.plugin.view import build

# How often a watch writes a frame when its output is no terminal.
LOG_SECONDS = 30.0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        cluster = Cluster(Target(args.kubeconfig, args.context, args.namespace, args.user))
    except (ConfigException, OSError) as error:
        print(f"kubectl-tierkeeper: no usable kubeconfig: {error}", file=sys.stderr)
        return 1
    try:
        if args.command == "get":
            return get(cluster, args.name, watch=args.watch, interval=args.interval)
        print(COMMANDS[args.command].run(cluster, args.name))
        return 0
    except NotFound as error:
        print(f"kubectl-tierkeeper: {error}", file=sys.stderr)
        return 1
    except ApiException as error:
        print(f"kubectl-tierkeeper: {_api_error(error)}", file=sys.stderr)
        return 1
    except (ConnectionFailed, OSError) as error:
        print(f"kubectl-tierkeeper: cannot reach the API server: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        cluster.close()


def parser() -> argparse.ArgumentParser:
    connection = argparse.ArgumentParser(add_help=False)
    connection.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    connection.add_argument("--context", help="kubeconfig context to use")
    connection.add_argument("--kubeconfig", type=Path, help="path to the kubeconfig file")
    connection.add_argument("--as", dest="user", help="act as this user (impersonation)")
    top = argparse.ArgumentParser(
        prog="kubectl tierkeeper",
        description="See and steer tierkeeper Environments and their Releases.",
    )
    sub = top.add_subparsers(dest="command", required=True)
    get_parser = sub.add_parser(
        "get", parents=[connection], help="an Environment, its colours, rollout, cost, backups"
    )
    get_parser.add_argument("name", metavar="ENVIRONMENT")
    get_parser.add_argument(
        "-w", "--watch", action="store_true", help="keep redrawing in place until Ctrl-C"
    )
    get_parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between two reads with -w"
    )
    for name, command in COMMANDS.items():
        target = "ENVIRONMENT" if name in ("pause", "resume", "drill") else "NAME"
        command_parser = sub.add_parser(name, parents=[connection], help=command.help)
        command_parser.add_argument(
            "name",
            metavar=target,
            help="an Environment"
            if target == "ENVIRONMENT"
            else "a Release, or an Environment (its Release)",
        )
    return top


def get(cluster: Cluster, name: str, *, watch: bool, interval: float) -> int:
    console = Console()
    if not watch:
        console.print(frame(cluster, name))
        return 0
    redraw_in_place(console, lambda: frame(cluster, name, errors_shown=True), interval)
    return 0


def frame(cluster: Cluster, name: str, *, errors_shown: bool = False) -> RenderableType:
    """The view of Environment `name` now; with `errors_shown`, an API error becomes the
    frame (a watch outlives a blip of the API server) instead of ending the command."""
    try:
        snapshot = cluster.snapshot(cluster.environment(name))
    except (ApiException, NotFound, OSError, ConnectionFailed) as error:
        if not errors_shown:
            raise
        return _unreadable(name, error)
    return render(build(snapshot, datetime.now(UTC)))


def overview(cluster: Cluster, focus: str | None) -> RenderableType:
    """Every Environment of every namespace in a line, and `focus` in full (`tierkeeper
    dev`'s view); an API error becomes the frame."""
    try:
        snapshots = [cluster.snapshot(env) for env in cluster.environments(None)]
    except (ApiException, OSError, ConnectionFailed) as error:
        return _unreadable("the Environments", error)
    now = datetime.now(UTC)
    return render_many([build(snapshot, now) for snapshot in snapshots], focus)


def redraw_in_place(
    console: Console, frame_now: Callable[[], RenderableType], interval: float
) -> None:
    """Draw `frame_now()` every `interval` seconds over the previous frame, until Ctrl-C.
    On a console that is no terminal (a log file, a pipe) nothing can be redrawn: a frame
    is printed every LOG_SECONDS instead."""
    if not console.is_terminal:
        while True:
            console.print(frame_now())
            console.print()
            time.sleep(max(interval, LOG_SECONDS))
    with Live(frame_now(), console=console, auto_refresh=False) as live:
        while True:
            time.sleep(interval)
            live.update(frame_now(), refresh=True)


def _unreadable(what: str, error: Exception) -> Text:
    message = _api_error(error) if isinstance(error, ApiException) else str(error)
    return Text(f"{datetime.now(UTC):%H:%M:%S} cannot read {what}: {message}", "red")


def _api_error(error: ApiException) -> str:
    if error.status == 403:
        return f"forbidden (your RBAC does not allow this): {error.reason}"
    return f"API server said {error.status} {error.reason}"
