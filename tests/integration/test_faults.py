"""Faults (issue 9): the API server killed and restarted, etcd paused, watch connections cut.

These tests break the control plane, so they get one of their own (a second DevCluster for
this module) and leave the session's cluster alone. After each fault clears, every
Environment converges and every rollout finishes; no traffic goes to a colour that is not
Ready meanwhile; nothing is lost (the generated passwords survive). The time from the fault
clearing to convergence is measured and printed (`-s`), and appended as a JSON line to
TIERKEEPER_FAULTS_LOG when set: figures for the notes, never assertions.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.k8s import Api, eventually, instance_selector, is_true
from tests.integration.operator_process import HealthServer, OperatorProcess
from tests.integration.releases import HEALTH_CHECK, phase, release, traffic_guard
from tierkeeper.devcluster import DevCluster, Kubectl, Toolchain
from tierkeeper.devcluster.cluster import free_ports
from tierkeeper.models.names import ChildNames

pytestmark = pytest.mark.integration

CRDS = Path(__file__).parents[2] / "crds"
ENV = "shop"
COLOR = "tierkeeper.dev/color"
CONVERGE = 240  # a generous bound for the test to fail on; the measured figures are far below


@pytest.fixture(scope="module")
def dev(
    local_toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DevCluster]:
    with DevCluster(
        tmp_path_factory.mktemp("faults"), local_toolchain, name="tk-faults"
    ) as cluster:
        cluster.kube.install_crds(CRDS)
        stop = threading.Event()
        revived: list[str] = []

        def supervise() -> None:  # what a kubelet does for a control plane's static Pods
            while not stop.wait(1):
                revived.extend(cluster.revive())

        supervisor = threading.Thread(target=supervise, daemon=True)
        supervisor.start()
        yield cluster
        stop.set()
        supervisor.join()
        if revived:
            print(f"\n[faults] restarted after exiting on their own: {revived}")
        cluster.check()  # every component the tests killed was brought back


@pytest.fixture(scope="module")
def cluster(dev: DevCluster) -> Kubectl:
    """This module's own control plane, in place of the session's."""
    return dev.kube


@pytest.fixture(scope="module")
def api(cluster: Kubectl) -> Api:
    return Api(Path(cluster.kubeconfig))


def measured(fault: str, seconds: float, **extra: Any) -> None:
    line = {"fault": fault, "converged_after_seconds": round(seconds, 1), **extra}
    print(f"\n[faults] {json.dumps(line)}")
    if target := os.environ.get("TIERKEEPER_FAULTS_LOG"):
        with Path(target).open("a") as sink:
            sink.write(json.dumps(line) + "\n")


def wait_api(dev: DevCluster) -> None:
    eventually(
        lambda: dev.kube.kubectl("get", "--raw=/readyz", check=False).returncode == 0,
        timeout=120,
        what="API server ready again",
    )


def tolerant(call: Any, default: Any = None) -> Any:
    """`call()`, or `default` while the API server cannot answer."""
    try:
        return call()
    except Exception:
        return default


def inject(dev: DevCluster, fault: str) -> float:
    """Inject the fault, clear it, and return when it cleared (time.monotonic)."""
    if fault == "api-server-killed":
        dev.kill("kube-apiserver")
        time.sleep(5)
        dev.restart("kube-apiserver")
        cleared = time.monotonic()
        wait_api(dev)
    else:
        dev.pause("etcd")
        time.sleep(10)
        dev.resume("etcd")
        cleared = time.monotonic()
    return cleared


def environment(name: str, tier: str, **spec: Any) -> dict[str, Any]:
    extra = {"postgres": {"provider": "builtin", "instances": 1}} if tier == "production" else {}
    return {
        "apiVersion": "tierkeeper.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": name},
        "spec": {"tier": tier, **extra, **spec},
    }


ENVIRONMENTS = [("web-dev", "development"), ("web-staging", "staging"), ("web-prod", "production")]


def all_ready(api: Api, namespace: str) -> bool:
    return all(
        tolerant(lambda n=name: is_true(api.get("Environment", namespace, n), "Ready"), False)
        for name, _ in ENVIRONMENTS
    )


def passwords(api: Api, namespace: str) -> dict[str, str]:
    found = {}
    for name, _ in ENVIRONMENTS:
        secret = api.get("Secret", namespace, ChildNames(name).postgres_credentials)
        if secret is not None:
            found[name] = secret["data"]["password"]
    return found


def assert_nothing_lost(api: Api, namespace: str, before: dict[str, str]) -> None:
    assert passwords(api, namespace) == {**before, **passwords(api, namespace)}
    assert {k: v for k, v in passwords(api, namespace).items() if k in before} == before
    for name, _ in ENVIRONMENTS:
        secrets = api.list("Secret", namespace, instance_selector(name))
        names = ChildNames(name)
        # One of each password Secret: a fault never makes a second.
        assert sorted(s["metadata"]["name"] for s in secrets) == sorted(
            [names.postgres_credentials, names.redis_credentials]
        ), name


@pytest.mark.parametrize("fault", ["api-server-killed", "etcd-paused"])
def test_environments_reconciling_through_a_control_plane_fault_converge_and_lose_nothing(
    api: Api, namespace: str, operator: OperatorProcess, dev: DevCluster, fault: str
) -> None:
    for name, tier in ENVIRONMENTS[:2]:
        api.apply(environment(name, tier), namespace)
    eventually(lambda: len(passwords(api, namespace)) == 2, what="first credentials")
    before = passwords(api, namespace)
    # Mid-reconcile: a third Environment is being created and the others change.
    api.apply(environment(*ENVIRONMENTS[2]), namespace)
    for name, tier in ENVIRONMENTS[:2]:
        api.apply(environment(name, tier, redis={"maxMemory": "300Mi"}), namespace)
    cleared = inject(dev, fault)
    eventually(lambda: all_ready(api, namespace), timeout=CONVERGE, what="all Ready")
    seconds = time.monotonic() - cleared
    for name, _ in ENVIRONMENTS[:2]:
        config = api.get("ConfigMap", namespace, ChildNames(name).redis_config) or {}
        assert "maxmemory 314572800" in config["data"]["redis.conf"], name
    assert_nothing_lost(api, namespace, before)
    assert operator.alive()
    measured(fault, seconds, environments=len(ENVIRONMENTS))


# -- a blue-green rollout through faults ----------------------------------------------------


def production() -> dict[str, Any]:
    return environment(
        ENV,
        "production",
        app={"healthCheck": HEALTH_CHECK},
        strategy={"blueGreen": {"postPromotionSeconds": 3, "progressDeadlineSeconds": 300}},
    )


@pytest.mark.parametrize(
    ("fault", "step"),
    [
        ("api-server-killed", "Deploying"),
        ("api-server-killed", "Verifying"),
        ("etcd-paused", "Verifying"),
    ],
)
def test_blue_green_rollout_through_a_control_plane_fault_finishes_without_unready_traffic(
    api: Api,
    namespace: str,
    operator: OperatorProcess,
    health: HealthServer,
    dev: DevCluster,
    fault: str,
    step: str,
) -> None:
    api.apply(production(), namespace)
    api.apply(release("shop:1"), namespace)
    eventually(lambda: phase(api, namespace) == ("Promoted", "shop:1"), timeout=180, what="v1")
    with traffic_guard(api, namespace) as violations:
        api.apply(release("shop:2"), namespace)
        api.watch_until(
            "Release",
            namespace,
            ENV,
            lambda obj: (
                (
                    (obj.get("status") or {}).get("phase"),
                    (obj.get("status") or {}).get("targetImage"),
                )
                == (step, "shop:2")
            ),
        )
        cleared = inject(dev, fault)
        eventually(
            lambda: tolerant(lambda: phase(api, namespace)) == ("Promoted", "shop:2"),
            timeout=CONVERGE,
            what="rollout finished",
        )
        seconds = time.monotonic() - cleared
    assert violations == []
    service = api.get("Service", namespace, ChildNames(ENV).app_service) or {}
    assert service["spec"]["selector"][COLOR] == "green"
    history = [
        h["outcome"] for h in (api.get("Release", namespace, ENV) or {})["status"]["history"]
    ]
    assert history == ["Promoted", "Promoted"]
    assert operator.alive()
    measured(f"{fault} during rollout at {step}", seconds)


# -- watch connections cut ------------------------------------------------------------------


class CuttingProxy:
    """A TCP proxy in front of the API server whose connections can all be cut at once."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        self.down = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down.is_set():
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            with self.lock:
                self.connections += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self.pump, args=(a, b), daemon=True).start()

    @staticmethod
    def pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> int:
        """Reset every open connection; returns how many there were."""
        with self.lock:
            cut, self.connections = self.connections, []
        for conn in cut:
            try:
                conn.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                conn.close()
            except OSError:
                pass
        return len(cut) // 2

    @contextmanager
    def outage(self) -> Iterator[int]:
        """Cut every connection and refuse new ones until the block ends; yields how many
        were cut."""
        self.down.set()
        try:
            yield self.cut()
        finally:
            self.down.clear()

    def close(self) -> None:
        self.listener.close()
        self.cut()


def test_changes_made_while_watch_connections_are_cut_are_still_reconciled(
    api: Api, namespace: str, dev: DevCluster, health: HealthServer, tmp_path: Path
) -> None:
    config = yaml.safe_load(dev.kubeconfig.read_text())
    server = config["clusters"][0]["cluster"]["server"]
    host, port = server.removeprefix("https://").split(":")
    proxy = CuttingProxy((host, int(port)))
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    operator = OperatorProcess(
        kubeconfig=kubeconfig,
        namespace=namespace,
        log=tmp_path / "operator.log",
        extra_env={"TIERKEEPER_HEALTH_URL": health.template},
        extra_args=("--metrics-port", str(free_ports(1)[0])),
    )
    operator.start()
    try:
        for name, tier in ENVIRONMENTS:
            api.apply(environment(name, tier), namespace)
        eventually(lambda: all_ready(api, namespace), timeout=CONVERGE, what="all Ready")
        timings = []
        deleted = ChildNames(ENVIRONMENTS[0][0]).app_service
        for round_ in range(1):
            # Made while the operator cannot reach the API server: its watches have to
            # list again to learn of them, the deleted Service included.
            with proxy.outage() as cut:
                assert cut > 0, "the operator's connections go through the proxy"
                started = time.monotonic()
                memory = f"{300 + round_}Mi"
                for name, tier in ENVIRONMENTS:
                    api.apply(environment(name, tier, redis={"maxMemory": memory}), namespace)
                api.delete("Service", namespace, deleted)
                time.sleep(3)
            eventually(
                lambda: api.get("Service", namespace, deleted) is not None,
                timeout=CONVERGE,
                what="the Service deleted in the outage put back",
            )
            expected = f"maxmemory {(300 + round_) * 1024 * 1024}"
            eventually(
                lambda e=expected: all(
                    e
                    in (
                        (api.get("ConfigMap", namespace, ChildNames(n).redis_config) or {}).get(
                            "data"
                        )
                        or {}
                    ).get("redis.conf", "")
                    for n, _ in ENVIRONMENTS
                ),
                timeout=CONVERGE,
                what="changes made after the cut applied",
            )
            timings.append(time.monotonic() - started)
        eventually(lambda: all_ready(api, namespace), timeout=CONVERGE, what="all Ready again")
        assert operator.alive()
        measured("watch connections cut", max(timings), rounds=[round(t, 1) for t in timings])
    finally:
        operator.stop()
        proxy.close()
