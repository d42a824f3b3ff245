"""Kubeconfigs with embedded credentials: the admin's, and one per control-plane component."""

from __future__ import annotations

import ssl
from base64 import b64encode
from pathlib import Path

import yaml

from tierkeeper.devcluster.certs import KeyPair


def _b64(path: Path) -> str:
    return b64encode(path.read_bytes()).decode()


def write_kubeconfig(
    path: Path, cluster: str, server: str, ca: Path, client: KeyPair
) -> ssl.SSLContext:
    """Write a kubeconfig for `client` at `server` (cluster, user and context all named
    `cluster`); return a TLS context with the same CA and client certificate. The file
    appears whole, readable only by us: clients may read it as soon as it exists."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster,
                "cluster": {"server": server, "certificate-authority-data": _b64(ca)},
            }
        ],
        "users": [
            {
                "name": cluster,
                "user": {
                    "client-certificate-data": _b64(client.cert),
                    "client-key-data": _b64(client.key),
                },
            }
        ],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": cluster}}],
        "current-context": cluster,
    }
    partial = path.with_suffix(".partial")
    partial.write_text(yaml.safe_dump(config, sort_keys=False))
    partial.chmod(0o600)
    partial.replace(path)
    context = ssl.create_default_context(cafile=str(ca))
    context.load_cert_chain(client.cert, client.key)
    return context
