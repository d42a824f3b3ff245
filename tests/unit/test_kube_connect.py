"""How `Kube.connect` configures its session: a bounded pool, proxies only when named."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from tierkeeper.apply.kube import POOL_SIZE, Kube

KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
    "users": [{"name": "u", "user": {"token": "t"}}],
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

    async def connect() -> Kube:
        kube = await Kube.connect(str(kubeconfig), "test-agent")
        await kube.close()
        return kube

    configuration = asyncio.run(connect()).api.configuration
    assert configuration.host == "https://127.0.0.1:6443"
    assert configuration.connection_pool_maxsize == POOL_SIZE
    assert configuration.client_session_kwargs == {
        "trust_env": trusted,
        "headers": {"User-Agent": "test-agent"},
    }
