"""`tierkeeper webhook`: the deploy hook server (tierkeeper.webhook)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "webhook",
        help="run the deploy hook: signed GitHub and CI deliveries update Releases",
        description="Serve POST /github (GitHub's workflow_run, push, package and "
        "registry_package deliveries, signed with X-Hub-Signature-256) and POST /deploy "
        "(a signed JSON call {repository, branch, commit, image, timestamp} from any CI). "
        "A matching delivery sets spec.image and spec.source of the Release bound to each "
        "Environment whose spec.deploy.repository and branch it names, by server-side apply "
        "under the field manager tierkeeper-deploy. Serve it behind an Ingress or Gateway "
        "that terminates TLS.",
    )
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port of the hook endpoints")
    parser.add_argument(
        "--metrics-port", type=int, default=9090, help="Prometheus /metrics port; 0 turns it off"
    )
    parser.add_argument(
        "--secrets-dir",
        type=Path,
        default=Path("/etc/tierkeeper-webhook/secrets"),
        help="directory of the mounted Secret: key `default` signs for every repository, "
        "key `owner.name` (e.g. acme.shop) for that repository only",
    )
    parser.add_argument(
        "-n", "--namespace", default=None, help="deploy only in this namespace; default: all"
    )
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig; default: in-cluster")
    parser.add_argument(
        "--max-body-bytes", type=int, default=1024 * 1024, help="larger bodies get 413"
    )
    parser.add_argument(
        "--read-timeout", type=float, default=10.0, help="seconds to receive a body (408 after)"
    )
    parser.add_argument(
        "--rate-per-minute", type=float, default=120.0, help="deliveries per minute per sender"
    )
    parser.add_argument("--burst", type=float, default=60.0, help="deliveries at once per sender")
    parser.add_argument(
        "--clock-window",
        type=float,
        default=300.0,
        help="seconds a generic call's timestamp may be from now",
    )
    parser.add_argument(
        "--trust-forwarded-for",
        action="store_true",
        help="rate-limit by X-Forwarded-For (set only behind a proxy that sets it)",
    )
    parser.add_argument(
        "--log-format", choices=["json", "plain"], default="json", help="log format"
    )
    parser.set_defaults(func=run)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {"time": self.formatTime(record), "level": record.levelname, "msg": record.getMessage()}
        )


def run(args: argparse.Namespace) -> int:
    from tierkeeper.webhook.serve import serve
    from tierkeeper.webhook.server import Limits

    handler = logging.StreamHandler()
    if args.log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    limits = Limits(
        max_body_bytes=args.max_body_bytes,
        read_timeout=args.read_timeout,
        clock_window=args.clock_window,
        per_minute=args.rate_per_minute,
        burst=args.burst,
        trust_forwarded_for=args.trust_forwarded_for,
    )
    asyncio.run(serve(args, limits))
    return 0
