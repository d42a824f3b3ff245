"""`tierkeeper run`: the operator process (kopf underneath)."""

from __future__ import annotations

import argparse
import hashlib
import os
import socket

import kopf

from tierkeeper import metrics


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("run", help="run the operator")
    parser.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        help="watch only this namespace (repeatable); default: all namespaces",
    )
    parser.add_argument(
        "--liveness", default=None, help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz"
    )
    parser.add_argument(
        "--peering",
        default=None,
        metavar="NAME",
        help="coordinate with other replicas through this KopfPeering (hot standby)",
    )
    parser.add_argument(
        "--priority",
        type=priority,
        default=0,
        help="peering priority: the highest-priority replica acts, the others stand by; "
        "`auto` derives one from this replica's identity (POD_ID), so that replicas of one "
        "Deployment differ (two of equal priority would both pause)",
    )
    parser.add_argument(
        "--log-format", choices=["json", "plain"], default="json", help="log format"
    )
    parser.add_argument(
        "--metrics-port", type=int, default=9090, help="Prometheus /metrics port; 0 turns it off"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.set_defaults(func=run)


def priority(value: str) -> int:
    if value != "auto":
        return int(value)
    identity = os.environ.get("POD_ID") or socket.gethostname()
    # Stable for one replica, different across replicas with overwhelming probability.
    return 1 + int.from_bytes(hashlib.sha256(identity.encode()).digest()[:4]) % (2**31 - 1)


def run(args: argparse.Namespace) -> int:
    import tierkeeper.handlers  # noqa: F401  (registers the handlers)
    from tierkeeper.handlers.discovery import new_insights

    log_format = kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.PLAIN
    kopf.configure(verbose=args.verbose, log_format=log_format)
    if args.metrics_port:
        metrics.serve(args.metrics_port)
    insights = new_insights()
    kopf.run(
        insights=insights,
        memo=kopf.Memo(insights=insights),
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=args.liveness,
        standalone=args.peering is None,
        peering_name=args.peering,
        priority=args.priority,
    )
    return 0
