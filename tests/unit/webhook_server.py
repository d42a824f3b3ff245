"""The hook's real aiohttp server on loopback, in a thread of its own, for the unit tests
of its HTTP edge (refusals, limits, fuzz). The cluster behind it knows no Environment and
writes nothing: what reaches the API server is tested on the real control plane
(tests/integration/test_webhook*.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from tierkeeper.apply.client import Object
from tierkeeper.webhook.events import Change
from tierkeeper.webhook.matching import Target
from tierkeeper.webhook.secrets import SecretStore
from tierkeeper.webhook.server import Hook, Limits

SECRET = b"unit-test-secret"


class NoEnvironments:
    async def environments(self) -> list[Object]:
        return []

    async def releases(self) -> list[Object]:
        return []

    async def deploy(self, target: Target, change: Change) -> None:
        raise AssertionError("nothing can match: there is no Environment")

    def watch_release(self, target: Target, seconds: float) -> AsyncIterator[Mapping[str, Any]]:
        raise AssertionError("nothing is deployed, so nothing is followed")


async def _stop(runner: web.AppRunner) -> None:
    await runner.cleanup()
    # Connections a client left open (the slow-body test's) end with the loop.
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            task.cancel()


@contextmanager
def serving(secrets_dir: Path, limits: Limits) -> Iterator[str]:
    """The base URL of a running hook whose default secret is SECRET."""
    (secrets_dir / "default").write_bytes(SECRET)
    hook = Hook(NoEnvironments(), SecretStore(secrets_dir), limits)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(hook.app(), access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(_stop(runner), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
