"""Real S3 servers (versitygw, posix backend) for the object-store backup tests and bench.

Each server stands for one region: its own loopback port and its own temp
directory, so a test can stop it (an outage) or throw its directory away (a
lost region). Its credentials go to the gateway and to barman-cloud through
the environment only, never through process arguments. A server may serve TLS
with a certificate of a CA of its own, which its clients are given as the
store's CA bundle.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import boto3

from tests.data.dataservers import ServerUnavailable, free_port
from tierkeeper.devcluster.certs import CertificateAuthority, Identity, KeyPair

REPO = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO / "hack" / "install-versitygw.sh"
BUCKET = "tierkeeper-backups"


def versitygw_binary() -> Path:
    """The gateway hack/install-versitygw.sh builds (TIERKEEPER_VERSITYGW overrides)."""
    if env := os.environ.get("TIERKEEPER_VERSITYGW"):
        return Path(env)
    path = subprocess.run(
        ["bash", str(INSTALL_SCRIPT), "--print-binary"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not os.access(path, os.X_OK):
        raise ServerUnavailable(f"versitygw not built ({path}); run `make data-deps`")
    return Path(path)


def object_store_script() -> Path:
    """The script exactly as the package ships it (the file the ConfigMap carries)."""
    path = Path(str(resources.files("tierkeeper") / "scripts" / "object-store.sh"))
    assert path.is_file(), path
    return path


@dataclass
class S3Server:
    binary: Path
    root: Path
    port: int
    region: str
    access_key: str = field(default_factory=lambda: "AK" + secrets.token_hex(8).upper())
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    process: subprocess.Popen[bytes] | None = None
    # Serving TLS: the certificate and key, and the CA bundle that signs them.
    tls: KeyPair | None = None
    ca_bundle: Path | None = None

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def datadir(self) -> Path:
        return self.root / "objects"

    def start(self) -> None:
        self.datadir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "ROOT_ACCESS_KEY_ID": self.access_key,
            "ROOT_SECRET_ACCESS_KEY": self.secret_key,
            "VGW_REGION": self.region,
        }
        log = (self.root / "versitygw.log").open("ab")
        tls = ["--cert", str(self.tls.cert), "--key", str(self.tls.key)] if self.tls else []
        self.process = subprocess.Popen(
            [
                str(self.binary),
                "--port",
                f"127.0.0.1:{self.port}",
                *tls,
                "posix",
                str(self.datadir),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                text = (self.root / "versitygw.log").read_text(errors="replace")
                raise RuntimeError(f"versitygw exited with {self.process.returncode}:\n{text}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError(f"versitygw did not listen on port {self.port} within 30s")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def wipe(self) -> None:
        """Lose the region: the server and everything it stored."""
        self.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            verify=str(self.ca_bundle) if self.ca_bundle else None,
        )

    def create_bucket(self, name: str = BUCKET) -> None:
        self.client().create_bucket(Bucket=name)

    def keys(self, prefix: str = "", bucket: str = BUCKET) -> list[str]:
        """Every object key under prefix, in order."""
        found: list[str] = []
        for page in (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        ):
            found += [item["Key"] for item in page.get("Contents", [])]
        return sorted(found)

    def store_env(self, slot: str, prefix: str, bucket: str = BUCKET) -> dict[str, str]:
        """object-store.sh's variables for this server in SLOT (PRIMARY or OFFSITE)."""
        env = {
            f"BACKUP_{slot}_URL": f"s3://{bucket}/{prefix}",
            f"BACKUP_{slot}_ENDPOINT": self.endpoint,
            f"BACKUP_{slot}_REGION": self.region,
            f"BACKUP_{slot}_ACCESS_KEY_ID": self.access_key,
            f"BACKUP_{slot}_SECRET_ACCESS_KEY": self.secret_key,
        }
        if self.ca_bundle:
            env[f"BACKUP_{slot}_CA_BUNDLE"] = str(self.ca_bundle)
        return env


@contextlib.contextmanager
def s3_server(region: str, *, tls: bool = False) -> Iterator[S3Server]:
    """A versitygw on loopback with one empty bucket (BUCKET); removed afterwards. With
    `tls`, it serves HTTPS with a certificate of a fresh CA of its own."""
    root = Path(tempfile.mkdtemp(prefix=f"tierkeeper-s3-{region}-"))
    server = S3Server(binary=versitygw_binary(), root=root, port=free_port(), region=region)
    if tls:
        # The database's user reads the CA bundle too (its restore_command).
        root.chmod(0o755)
        ca = CertificateAuthority(root, datetime.now(UTC))
        server.tls = ca.issue("s3", Identity("s3"), server_ips=("127.0.0.1",))
        server.ca_bundle = ca.pair.cert
    try:
        server.start()
        server.create_bucket()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
