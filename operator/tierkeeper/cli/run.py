"""`tierkeeper run`: the operator process (kopf underneath)."""

from __future__ import annotations

import argparse
import asyncio
import asyncio.sslproto
import hashlib
import logging
import os
import socket
from typing import Any

import aiohttp
import kopf
from kubernetes.aio.client import Configuration

from tierkeeper import metrics
from tierkeeper.apply.client import load_configuration, proxied

# asyncio gives every TLS connection a large receive buffer, kept for the connection's
# life, and the operator holds many (kopf's watches and its bursts of patches, our pool).
# TLS records carry 16 KiB at most, so reads of 32 KiB lose nothing but a few more turns
# of the loop on a large LIST.
TLS_READ_BUFFER = 32 * 1024

# kopf's own requests (peering, its Events) in flight at once; its watches
# are not counted, each holds a connection for as long as it runs. kopf's own session has
# no bound: over a thousand objects, each one's first patch goes out at once, on a
# connection of its own that is then kept alive.
KOPF_REQUESTS = 16


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("run", help="run the operator")
    parser.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        help="watch only this namespace, by its exact name (repeatable); default: all",
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
    parser.add_argument(
        "--debug",
        action="store_true",
        help="the operator's own decisions (which look wrote what, and why one waited) at "
        "debug level; kopf's log stays at info",
    )
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
    from tierkeeper.handlers.pause import Pause

    asyncio.sslproto.SSLProtocol.max_size = TLS_READ_BUFFER
    kopf.on.login()(login)
    log_format = kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.PLAIN
    kopf.configure(verbose=args.verbose, log_format=log_format)
    if args.debug:
        logging.getLogger("tierkeeper").setLevel(logging.DEBUG)
    if args.metrics_port:
        metrics.serve(args.metrics_port)
    insights = new_insights()
    memo = kopf.Memo(
        insights=insights,
        pause=Pause.capture(peering=args.peering is not None),
        namespaces=tuple(args.namespace),
    )
    kopf.run(
        insights=insights,
        memo=memo,
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=args.liveness,
        standalone=args.peering is None,
        peering_name=args.peering,
        priority=args.priority,
    )
    return 0


async def login(**_: Any) -> kopf.AiohttpSession:
    return await kopf_session(await load_configuration())


async def kopf_session(configuration: Configuration) -> kopf.AiohttpSession:
    """kopf's session: `ApiClient`'s credentials, at most KOPF_REQUESTS requests at once."""
    # "Bearer <token>" (an exec plugin's or a ServiceAccount's), "" with client certificates.
    header = await configuration.get_api_key_with_prefix("BearerToken") or ""
    scheme, token = header.split(" ", 1) if " " in header else ("", header)
    info = kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        username=configuration.username or None,
        password=configuration.password or None,
        scheme=scheme or None,
        token=token or None,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
    )
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, ssl=info.as_ssl_context()),
        headers=info.as_http_headers(),
        proxy=configuration.proxy,
        trust_env=proxied(),
        middlewares=(bounded(asyncio.Semaphore(KOPF_REQUESTS)),),
    )
    return kopf.AiohttpSession(server=info.server, aiohttp_session=session)


def bounded(slots: asyncio.Semaphore) -> aiohttp.ClientMiddlewareType:
    """Requests other than watches wait for a slot, held until their answer is read (and its
    connection free for the next)."""

    async def middleware(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        if request.url.query.get("watch") == "true":
            return await handler(request)
        async with slots:
            response = await handler(request)
            await response.read()
            return response

    return middleware
