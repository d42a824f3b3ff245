"""The operator's two sessions with the API server: `ApiClient`'s (a bounded pool, proxies only
when named) and kopf's (the same credentials, its requests but not its watches bounded)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from yarl import URL

from tierkeeper.apply.client import POOL_SIZE, ApiClient, load_configuration, merge_patch_from
from tierkeeper.cli.run import bounded, kopf_session

KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
    "users": [{"name": "u", "user": {"token": "t0k3n"}}],
    "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
    "current-context": "x",
}
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.mark.parametrize(
    ("variables", "trusted"),
    [
        ({}, False),
        ({"NO_PROXY": "10.0.0.1"}, False),
        ({"HTTPS_PROXY": "http://proxy:3128"}, True),
        ({"http_proxy": "http://proxy:3128"}, True),
    ],
)
def test_the_environment_is_trusted_only_when_it_names_a_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], trusted: bool
) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(KUBECONFIG))

    async def connect() -> ApiClient:
        kube = await ApiClient.connect(str(kubeconfig), "test-agent")
        await kube.close()
        return kube

    configuration = asyncio.run(connect()).api.configuration
    assert configuration.host == "https://127.0.0.1:6443"
    assert configuration.connection_pool_maxsize == POOL_SIZE
    assert configuration.client_session_kwargs == {
        "trust_env": trusted,
        "headers": {"User-Agent": "test-agent"},
    }


def test_kopf_gets_the_credentials_kube_reads(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(KUBECONFIG))

    async def session() -> tuple[str, str | None]:
        made = await kopf_session(await load_configuration(str(kubeconfig)))
        await made.aiohttp_session.close()
        return made.server, made.aiohttp_session.headers.get("Authorization")

    assert asyncio.run(session()) == ("https://127.0.0.1:6443", "Bearer t0k3n")


class Request:
    def __init__(self, url: str) -> None:
        self.url = URL(url)


class Response:
    def __init__(self, log: list[str], name: str) -> None:
        self.log, self.name = log, name

    async def read(self) -> bytes:
        self.log.append(f"read {self.name}")
        return b"{}"


def test_requests_wait_for_a_slot_until_their_answer_is_read_but_watches_do_not() -> None:
    log: list[str] = []

    async def handler(request: Any) -> Any:
        name = request.url.path.rsplit("/", 1)[-1]
        log.append(f"sent {name}")
        await asyncio.sleep(0.01)
        return Response(log, name)

    async def scenario() -> None:
        middleware = bounded(asyncio.Semaphore(1))
        base = "https://api/apis/x/v1/namespaces/n/things/"
        await asyncio.gather(
            middleware(Request(base + "a"), handler),  # type: ignore[arg-type]
            middleware(Request(base + "b"), handler),  # type: ignore[arg-type]
            middleware(Request(base + "w?watch=true"), handler),  # type: ignore[arg-type]
        )

    asyncio.run(scenario())
    # "b" waits for "a"'s answer to be read; the watch goes out at once and is not read here.
    assert log == ["sent a", "sent w", "read a", "sent b", "read b"]


def test_a_status_write_removes_the_keys_the_new_status_drops() -> None:
    before = {"rollout": {"image": "shop:1", "colors": {"blue": {"replicas": 2}}}, "phase": "P"}
    after = {"rollout": {"image": "shop:1", "colors": {}}, "phase": "P"}
    assert merge_patch_from(before, after) == {
        "rollout": {"image": "shop:1", "colors": {"blue": None}},
        "phase": "P",
    }
    assert merge_patch_from({"a": 1, "b": 2}, {"a": 1}) == {"a": 1, "b": None}


def test_a_request_the_server_never_answers_fails_after_the_request_timeout(
    tmp_path: Path,
) -> None:
    """A connection that accepts and then stays silent ends the request, not the reconcile
    waiting on it for the client library's five minutes."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(-1)  # until the client gives up and closes

    async def ask() -> float:
        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        kubeconfig = tmp_path / "kubeconfig"
        cluster = {"server": f"http://127.0.0.1:{port}"}
        kubeconfig.write_text(
            yaml.safe_dump({**KUBECONFIG, "clusters": [{"name": "c", "cluster": cluster}]})
        )
        kube = await ApiClient.connect(str(kubeconfig))
        kube.request_timeout = 0.5
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(kube.get("v1", "Secret", "ns", "s"), timeout=10)
            return loop.time() - started
        finally:
            await kube.close()
            server.close()

    assert asyncio.run(ask()) < 5
