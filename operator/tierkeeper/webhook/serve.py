"""The hook process: connect to the API server, listen, and serve until stopped."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from aiohttp import web

from tierkeeper import metrics
from tierkeeper.apply.client import ApiClient
from tierkeeper.webhook.deploy import FIELD_MANAGER, KubeCluster
from tierkeeper.webhook.secrets import SecretStore
from tierkeeper.webhook.server import Hook, Limits

log = logging.getLogger("tierkeeper.webhook")


async def serve(args: argparse.Namespace, limits: Limits) -> None:
    kube = await ApiClient.connect(args.kubeconfig, user_agent=FIELD_MANAGER, pool_size=8)
    hook = Hook(KubeCluster(kube, args.namespace), SecretStore(args.secrets_dir), limits)
    if args.metrics_port:
        metrics.serve(args.metrics_port)
    # No access log: the hook logs one line per delivery itself, without its headers.
    runner = web.AppRunner(hook.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port)
    await site.start()
    log.info("serving deploy hooks on %s:%s", args.host, args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await hook.close()
        await kube.close()
