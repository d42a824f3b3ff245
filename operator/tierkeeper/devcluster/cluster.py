"""A real Kubernetes control plane as local processes on loopback.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and KWOK (which
plays the kubelets of a few simulated nodes, so pods get scheduled and become
Running and Ready, except those whose images are tagged `:never-ready` or
`:crash-loop`, see stages/) run as children of the process that starts the cluster, each
on a free loopback port, with certificates generated for this start. Everything
a cluster has lives in its state directory:

    kubeconfig        admin credentials (the one to hand to kubectl and clients)
    cluster.json      pids of the owner and of every component (`cluster down`)
    pki/              CA, serving and client certificates, ServiceAccount key
    kubeconfigs/      one per control-plane component
    etcd/             etcd's data (wiped on every start: clusters are throwaway)
    logs/<name>.log   each process's output
    kubectl-cache/    kubectl's discovery cache for this cluster
"""

from __future__ import annotations

import contextlib
import datetime
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
from base64 import b64encode
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from tierkeeper.devcluster.certs import (
    SERVER_DNS_NAMES,
    CertificateAuthority,
    Identity,
    KeyPair,
    service_account_key,
)
from tierkeeper.devcluster.kubectl import Kubectl
from tierkeeper.devcluster.processes import ProcessId, spawn, stop_child
from tierkeeper.devcluster.processes import stop as stop_process
from tierkeeper.devcluster.toolchain import Toolchain

SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"  # the `kubernetes` Service: first address of SERVICE_CIDR
POD_CIDR = "10.244.0.1/16"
# KWOK manages only the nodes carrying this annotation, which we register.
KWOK_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
NODE_LEASE_SECONDS = 40
# Our own pod stages: images tagged `:never-ready` or `:crash-loop` start but never become
# Ready, so rollouts can fail on simulated nodes.
OUR_STAGES = sorted((Path(__file__).parent / "stages").glob("*.yaml"))

START_TIMEOUT = 180.0


def named_state_dir(name: str) -> Path:
    """~/.cache/tierkeeper/clusters/NAME (TIERKEEPER_CACHE overrides ~/.cache/tierkeeper)."""
    default_cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tierkeeper"
    return Path(os.environ.get("TIERKEEPER_CACHE", default_cache)) / "clusters" / name


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


def _b64(path: Path) -> str:
    return b64encode(path.read_bytes()).decode()


@dataclass(frozen=True)
class Component:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    argv: tuple[str, ...] = ()
    env: dict[str, str] | None = None


class StateDir:
    """The files of one cluster (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.kubeconfig = root / "kubeconfig"
        self.pidfile = root / "cluster.json"
        self.pki = root / "pki"
        self.kubeconfigs = root / "kubeconfigs"
        self.etcd = root / "etcd"
        self.logs = root / "logs"

    def read_pids(self) -> dict[str, Any] | None:
        try:
            recorded: dict[str, Any] = json.loads(self.pidfile.read_text())
        except (OSError, ValueError):
            return None
        return recorded

    def owner(self) -> ProcessId | None:
        """The live process that runs this cluster, if any."""
        recorded = self.read_pids()
        if recorded is None:
            return None
        owner = ProcessId(**recorded["owner"])
        return owner if owner.alive() else None


class DevCluster:
    """A local control plane; `start()`/`stop()` or use it as a context manager.

    The processes are children of the caller and die with the thread that
    started them. `kube.kubectl(...)` runs the built kubectl against the
    cluster; `spawn(name, argv)` runs another process (e.g. the operator)
    alongside it, with KUBECONFIG set, stopped before the cluster is.
    """

    def __init__(
        self, state_dir: Path, toolchain: Toolchain, *, name: str = "tierkeeper", nodes: int = 2
    ) -> None:
        self.state = StateDir(state_dir)
        self.toolchain = toolchain
        self.name = name
        self.nodes = nodes
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
        pki = self._write_pki()
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
            input=self._bootstrap_objects(),
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

    def _write_pki(self) -> dict[str, KeyPair]:
        ca = CertificateAuthority(self.state.pki, datetime.datetime.now(datetime.UTC))
        return {
            "ca": ca.pair,
            "sa": service_account_key(self.state.pki),
            "apiserver": ca.issue(
                "apiserver",
                Identity("kube-apiserver"),
                server_ips=("127.0.0.1", SERVICE_IP),
                server_dns=SERVER_DNS_NAMES,
            ),
            "admin": ca.issue("admin", Identity("tierkeeper-admin", ("system:masters",))),
            "kube-controller-manager": ca.issue(
                "kube-controller-manager", Identity("system:kube-controller-manager")
            ),
            "kube-scheduler": ca.issue("kube-scheduler", Identity("system:kube-scheduler")),
        }

    def _write_kubeconfig(self, path: Path, server: str, client: KeyPair) -> ssl.SSLContext:
        """Write a kubeconfig with embedded credentials; return a matching TLS context."""
        ca = self.state.pki / "ca.crt"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": self.name,
                    "cluster": {"server": server, "certificate-authority-data": _b64(ca)},
                }
            ],
            "users": [
                {
                    "name": self.name,
                    "user": {
                        "client-certificate-data": _b64(client.cert),
                        "client-key-data": _b64(client.key),
                    },
                }
            ],
            "contexts": [{"name": self.name, "context": {"cluster": self.name, "user": self.name}}],
            "current-context": self.name,
        }
        partial = path.with_suffix(".partial")
        partial.write_text(yaml.safe_dump(config, sort_keys=False))
        partial.chmod(0o600)
        partial.replace(path)
        context = ssl.create_default_context(cafile=str(ca))
        context.load_cert_chain(client.cert, client.key)
        return context

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
        peer_url, client_url = f"http://127.0.0.1:{peer}", f"http://127.0.0.1:{client}"
        self._run(
            "etcd",
            [
                str(self.toolchain.path("etcd")),
                f"--name={self.name}",
                f"--data-dir={self.state.etcd}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster={self.name}={peer_url}",
                "--initial-cluster-state=new",
                # Throwaway data: durability only costs time here.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )

    def _start_apiserver(self, port: int, etcd: int, pki: dict[str, KeyPair]) -> None:
        self._run(
            "kube-apiserver",
            [
                str(self.toolchain.path("kube-apiserver")),
                f"--etcd-servers=http://127.0.0.1:{etcd}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                # Endpoints may not point at loopback: the `kubernetes` Service
                # gets none (nothing in the cluster can reach us on loopback anyway).
                "--endpoint-reconciler-type=none",
                f"--secure-port={port}",
                f"--tls-cert-file={pki['apiserver'].cert}",
                f"--tls-private-key-file={pki['apiserver'].key}",
                f"--client-ca-file={pki['ca'].cert}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki['sa'].cert}",
                f"--service-account-signing-key-file={pki['sa'].key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
                "--profiling=false",
            ],
        )

    def _component_kubeconfig(self, name: str, server: str, pki: dict[str, KeyPair]) -> Path:
        path = self.state.kubeconfigs / f"{name}.kubeconfig"
        self._write_kubeconfig(path, server, pki[name])
        return path

    def _start_controller_manager(self, port: int, server: str, pki: dict[str, KeyPair]) -> None:
        config = self._component_kubeconfig("kube-controller-manager", server, pki)
        self._run(
            "kube-controller-manager",
            [
                str(self.toolchain.path("kube-controller-manager")),
                f"--kubeconfig={config}",
                f"--authentication-kubeconfig={config}",
                f"--authorization-kubeconfig={config}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.state.pki / 'kube-controller-manager-serving'}",
                # Every default controller, as on a real cluster: among them the
                # garbage collector, deployment, replicaset, statefulset, job,
                # cronjob, serviceaccount and serviceaccount-token controllers.
                "--controllers=*",
                # Lease renewals can come late on a loaded two-core machine; a lost node
                # makes the node controller mark every pod NotReady, which KWOK never
                # undoes. Simulated nodes do not fail on their own.
                "--node-monitor-grace-period=10m",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={pki['sa'].key}",
                f"--root-ca-file={pki['ca'].cert}",
                f"--cluster-signing-cert-file={pki['ca'].cert}",
                f"--cluster-signing-key-file={pki['ca'].key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--leader-elect=false",
                "--profiling=false",
            ],
        )

    def _start_scheduler(self, port: int, server: str, pki: dict[str, KeyPair]) -> None:
        config = self._component_kubeconfig("kube-scheduler", server, pki)
        self._run(
            "kube-scheduler",
            [
                str(self.toolchain.path("kube-scheduler")),
                f"--kubeconfig={config}",
                f"--authentication-kubeconfig={config}",
                f"--authorization-kubeconfig={config}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.state.pki / 'kube-scheduler-serving'}",
                "--leader-elect=false",
                "--profiling=false",
            ],
        )

    def _start_kwok(self, port: int) -> None:
        key, value = KWOK_NODE_ANNOTATION
        self._run(
            "kwok",
            [
                str(self.toolchain.path("kwok")),
                f"--kubeconfig={self.kubeconfig}",
                *(f"--config={stage}" for stage in self._kwok_files(stages=True)),
                f"--manage-nodes-with-annotation-selector={key}={value}",
                # Node Leases renewed every 10 s: KWOK's heartbeat stage writes node status
                # only every 10 to 20 minutes and counts on the Lease in between. Without
                # one, the node controller declared the nodes lost after its grace period
                # and marked every pod NotReady for good, late in every long test run.
                f"--node-lease-duration-seconds={NODE_LEASE_SECONDS}",
                f"--cidr={POD_CIDR}",
                "--node-ip=127.0.0.1",
                f"--server-address=127.0.0.1:{port}",
            ],
        )

    def _kwok_files(self, *, stages: bool) -> list[Path]:
        """KWOK's files: its Stages (its defaults and ours), or the objects that go with
        them (its StorageClass)."""
        return [
            path
            for path in [*sorted(self.toolchain.stages_dir.glob("*.yaml")), *OUR_STAGES]
            if (yaml.safe_load(path.read_text())["kind"] == "Stage") == stages
        ]

    def _bootstrap_objects(self) -> str:
        """The simulated nodes (without taints: pods need no tolerations), and KWOK's
        default StorageClass, whose claims its volume stages provision and bind."""
        key, value = KWOK_NODE_ANNOTATION
        nodes = [
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": f"kwok-node-{i}",
                    "annotations": {key: value, "node.alpha.kubernetes.io/ttl": "0"},
                    "labels": {
                        "kubernetes.io/hostname": f"kwok-node-{i}",
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "type": "kwok",
                    },
                },
            }
            for i in range(self.nodes)
        ]
        others = [yaml.safe_load(path.read_text()) for path in self._kwok_files(stages=False)]
        return yaml.safe_dump_all([*nodes, *others], sort_keys=False)

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


def stop_cluster(state: StateDir, timeout: float = 60.0) -> bool:
    """Stop the cluster recorded in `state` from any process; False if none was running.

    A dedicated owner (`tierkeeper cluster up`, `dev`) is asked to stop (SIGTERM)
    and stops its components in order; any other owner keeps running (a test run
    notices its cluster is gone). Every component still alive is stopped here.
    """
    recorded = state.read_pids()
    if recorded is None:
        return False
    owner = ProcessId(**recorded["owner"])
    stopped = False
    if recorded.get("dedicated") and owner.alive():
        stop_process(owner, group=False, timeout=timeout)
        stopped = True
    for pid in reversed([ProcessId(**p) for p in recorded["components"].values()]):
        stopped = stopped or pid.alive()
        stop_process(pid)
    state.pidfile.unlink(missing_ok=True)
    return stopped


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
