"""A real Kubernetes control plane as local processes on loopback.

The processes of components.py run as children of the process that starts the cluster,
each on a free loopback port, with certificates generated for this start (pki.py), and
keep their files in the cluster's state directory (state.py).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from tierkeeper.devcluster import components
from tierkeeper.devcluster.certs import KeyPair
from tierkeeper.devcluster.kubeconfig import write_kubeconfig
from tierkeeper.devcluster.kubectl import Kubectl
from tierkeeper.devcluster.pki import issue_cluster_pki
from tierkeeper.devcluster.processes import ProcessId, spawn, stop_child
from tierkeeper.devcluster.state import StateDir, stop_cluster
from tierkeeper.devcluster.toolchain import Toolchain

START_TIMEOUT = 180.0


class ClusterError(Exception):
    """The cluster did not come up, or a component of it died."""


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (held together while choosing, so no duplicates)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass(frozen=True)
class Component:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    argv: tuple[str, ...] = ()
    env: dict[str, str] | None = None


class DevCluster:
    """A local control plane; `start()`/`stop()` or use it as a context manager.

    The processes are children of the caller and die with the thread that
    started them. With `audit_policy`, the API server writes an audit log of what the
    policy asks for to `state.audit_log`. `kube.kubectl(...)` runs the built kubectl against the
    cluster; `spawn(name, argv)` runs another process (e.g. the operator)
    alongside it, with KUBECONFIG set, stopped before the cluster is.
    """

    def __init__(
        self,
        state_dir: Path,
        toolchain: Toolchain,
        *,
        name: str = "tierkeeper",
        nodes: int = 2,
        audit_policy: Path | None = None,
    ) -> None:
        self.state = StateDir(state_dir)
        self.toolchain = toolchain
        self.name = name
        self.nodes = nodes
        self.audit_policy = audit_policy
        self.kube = Kubectl(
            self.state.kubeconfig, toolchain.path("kubectl"), state_dir / "kubectl-cache"
        )
        self._components: list[Component] = []
        self._killed: set[str] = set()  # by `kill`, until `restart`: `revive` leaves them
        self._dedicated = False
        self._ready = False

    @property
    def kubeconfig(self) -> Path:
        return self.state.kubeconfig

    def env(self) -> dict[str, str]:
        """Our environment with KUBECONFIG and PATH pointing at this cluster and its tools."""
        path = f"{self.toolchain.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PATH": path}

    # -- lifecycle -------------------------------------------------------------

    def __enter__(self) -> DevCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, *, dedicated: bool = False) -> None:
        """Start every component and wait until pods can be scheduled and run.

        `dedicated` records that this process exists only to run the cluster, so
        that `stop_cluster` (`tierkeeper cluster down`) may SIGTERM it.
        """
        if (owner := self.state.owner()) is not None:
            raise ClusterError(f"{self.state.root} is in use by process {owner.pid}")
        stop_cluster(self.state)  # strays of an owner that was killed, if any
        self._dedicated = dedicated
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self._ready = True
        self._write_pids()

    def serve(self) -> None:
        """Block until interrupted; raise ClusterError as soon as a component dies."""
        while True:
            self.check()
            time.sleep(1)

    def _start(self) -> None:
        for stale in (self.state.etcd, self.state.pki, self.state.kubeconfigs):
            shutil.rmtree(stale, ignore_errors=True)
        for directory in (self.state.pki, self.state.kubeconfigs, self.state.logs):
            directory.mkdir(parents=True, exist_ok=True)
        self.state.etcd.mkdir(mode=0o700)
        self.kubeconfig.unlink(missing_ok=True)
        etcd_client, etcd_peer, api, kcm, scheduler, kwok = free_ports(6)
        pki = issue_cluster_pki(self.state.pki, ("127.0.0.1", components.SERVICE_IP))
        self._write_pids()

        self._start_etcd(etcd_client, etcd_peer)
        self._wait(
            f"etcd on port {etcd_client}",
            lambda: _http_ok(f"http://127.0.0.1:{etcd_client}/health"),
        )
        api_url = f"https://127.0.0.1:{api}"
        self._start_apiserver(api, etcd_client, pki)
        admin = self._write_kubeconfig(self.kubeconfig, api_url, pki["admin"])
        self._wait("kube-apiserver /readyz", lambda: _http_ok(f"{api_url}/readyz", admin))

        self._start_controller_manager(kcm, api_url, pki)
        self._start_scheduler(scheduler, api_url, pki)
        self._start_kwok(kwok)
        self.kube.kubectl(
            "apply",
            "--server-side",
            "--field-manager=tierkeeper-dev",
            "-f",
            "-",
            input=components.bootstrap_objects(self.toolchain, self.nodes),
        )
        for name, port in (("kube-controller-manager", kcm), ("kube-scheduler", scheduler)):
            self._wait(
                f"{name} /healthz",
                functools.partial(_http_ok, f"https://127.0.0.1:{port}/healthz"),
            )
        self._wait(
            f"{self.nodes} Ready nodes", lambda: self._ready_nodes(api_url, admin) == self.nodes
        )
        # Pods are admitted only once their namespace's `default` ServiceAccount exists.
        self._wait(
            "the default ServiceAccount",
            lambda: _http_ok(f"{api_url}/api/v1/namespaces/default/serviceaccounts/default", admin),
        )

    def stop(self) -> None:
        """Stop every process of ours, newest first; the state dir stays (logs)."""
        self._ready = False
        while self._components:
            stop_child(self._components.pop().process)
        recorded = self.state.read_pids()
        if recorded is not None and recorded["owner"]["pid"] == os.getpid():
            self.state.pidfile.unlink()

    def spawn(
        self, name: str, argv: Sequence[str], extra_env: Mapping[str, str] | None = None
    ) -> None:
        """Run `argv` alongside the cluster (KUBECONFIG set, and `extra_env`), logging to
        logs/NAME.log."""
        self._run(name, argv, {**self.env(), **(extra_env or {})})

    def check(self) -> None:
        """Raise ClusterError if any process of the cluster has exited."""
        for component in self._components:
            if (code := component.process.poll()) is not None:
                tail = "".join(component.log.read_text(errors="replace").splitlines(True)[-20:])
                raise ClusterError(
                    f"{component.name} exited with status {code}; last lines of {component.log}:\n{tail}"
                )

    # -- the pieces ------------------------------------------------------------

    def _write_kubeconfig(self, path: Path, server: str, client: KeyPair) -> ssl.SSLContext:
        return write_kubeconfig(path, self.name, server, self.state.pki / "ca.crt", client)

    def _run(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        log = self.state.logs / f"{name}.log"
        log.unlink(missing_ok=True)
        process = spawn(argv, log, env)
        self._components.append(Component(name, process, log, tuple(argv), env))
        self._write_pids()

    # -- faults, for tests of what survives them ---------------------------------

    def _component(self, name: str) -> tuple[int, Component]:
        return next((i, c) for i, c in enumerate(self._components) if c.name == name)

    def kill(self, name: str) -> None:
        """SIGKILL one component (e.g. "kube-apiserver"), as a crash would; `restart` brings
        it back. `check()` reports it dead until then."""
        _, component = self._component(name)
        self._killed.add(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(component.process.pid, signal.SIGKILL)
        component.process.wait()

    def restart(self, name: str) -> None:
        """Start a killed component again with the same command line, port and data."""
        index, old = self._component(name)
        if old.process.poll() is None:
            self.kill(name)
        process = spawn(old.argv, old.log, old.env)
        self._components[index] = Component(name, process, old.log, old.argv, old.env)
        self._killed.discard(name)
        self._write_pids()

    def revive(self) -> list[str]:
        """Restart the components that exited on their own, as a kubelet restarts a static
        Pod: kube-scheduler, for one, exits when an API-server restart leaves its cache
        inconsistent. Components stopped with `kill` stay down until `restart`."""
        exited = [
            c.name
            for c in self._components
            if c.process.poll() is not None and c.name not in self._killed
        ]
        for name in exited:
            self.restart(name)
        return exited

    def pause(self, name: str) -> None:
        """SIGSTOP one component: it holds its connections but answers nothing."""
        os.killpg(self._component(name)[1].process.pid, signal.SIGSTOP)

    def resume(self, name: str) -> None:
        os.killpg(self._component(name)[1].process.pid, signal.SIGCONT)

    def _start_etcd(self, client: int, peer: int) -> None:
        self._run("etcd", components.etcd(self.toolchain, self.name, self.state.etcd, client, peer))

    def _start_apiserver(self, port: int, etcd: int, pki: dict[str, KeyPair]) -> None:
        audit = (self.audit_policy, self.state.audit_log) if self.audit_policy else None
        self._run("kube-apiserver", components.apiserver(self.toolchain, port, etcd, pki, audit))

    def _component_kubeconfig(self, name: str, server: str, pki: dict[str, KeyPair]) -> Path:
        path = self.state.kubeconfigs / f"{name}.kubeconfig"
        self._write_kubeconfig(path, server, pki[name])
        return path

    def _start_controller_manager(self, port: int, server: str, pki: dict[str, KeyPair]) -> None:
        name = "kube-controller-manager"
        config = self._component_kubeconfig(name, server, pki)
        cert_dir = self.state.pki / f"{name}-serving"
        self._run(name, components.controller_manager(self.toolchain, port, config, cert_dir, pki))

    def _start_scheduler(self, port: int, server: str, pki: dict[str, KeyPair]) -> None:
        name = "kube-scheduler"
        config = self._component_kubeconfig(name, server, pki)
        cert_dir = self.state.pki / f"{name}-serving"
        self._run(name, components.scheduler(self.toolchain, port, config, cert_dir))

    def _start_kwok(self, port: int) -> None:
        self._run("kwok", components.kwok(self.toolchain, self.kubeconfig, port))

    def _ready_nodes(self, api_url: str, admin: ssl.SSLContext) -> int:
        nodes = _http_json(f"{api_url}/api/v1/nodes", admin)
        return sum(
            1
            for node in (nodes or {}).get("items", [])
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in node.get("status", {}).get("conditions", [])
            )
        )

    def _wait(self, what: str, ready: Callable[[], bool], timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            self.check()
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"timed out after {timeout:.0f}s waiting for {what} (logs: {self.state.logs})"
                )
            time.sleep(0.2)

    def _write_pids(self) -> None:
        owner = ProcessId.of(os.getpid())
        assert owner is not None
        recorded = {
            "owner": vars(owner),
            "dedicated": self._dedicated,
            "ready": self._ready,
            "components": {
                c.name: vars(pid)
                for c in self._components
                if (pid := ProcessId.of(c.process.pid)) is not None
            },
        }
        partial = self.state.pidfile.with_suffix(".partial")
        partial.write_text(json.dumps(recorded, indent=2))
        partial.replace(self.state.pidfile)


def _http_json(url: str, context: ssl.SSLContext | None) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, context=context or _insecure(), timeout=5) as response:
            body: dict[str, Any] = json.load(response)
            return body
    except (OSError, ValueError):
        return None


def _http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    """GET `url` answers 200. Without a context, the server's certificate is not
    verified: a component's /healthz is served with a self-signed one."""
    try:
        with urllib.request.urlopen(url, context=context or _insecure(), timeout=5) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _insecure() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
