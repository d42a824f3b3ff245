"""The command line of each control-plane process, and the objects that bootstrap its nodes.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and KWOK (which plays the
kubelets of a few simulated nodes, so pods get scheduled and become Running and Ready,
except those whose images are tagged `:never-ready` or `:crash-loop`, see stages/), each on
a loopback port of its own. Pure: cluster.py starts them.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tierkeeper.devcluster.certs import KeyPair
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


def etcd(toolchain: Toolchain, name: str, data_dir: Path, client: int, peer: int) -> list[str]:
    peer_url, client_url = f"http://127.0.0.1:{peer}", f"http://127.0.0.1:{client}"
    return [
        str(toolchain.path("etcd")),
        f"--name={name}",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster={name}={peer_url}",
        "--initial-cluster-state=new",
        # Throwaway data: durability only costs time here.
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


def apiserver(
    toolchain: Toolchain,
    port: int,
    etcd_port: int,
    pki: dict[str, KeyPair],
    audit: tuple[Path, Path] | None = None,
) -> list[str]:
    """`audit`: (policy, log), for an API server that logs what the policy asks for."""
    audit_flags = (
        [f"--audit-policy-file={audit[0]}", f"--audit-log-path={audit[1]}"] if audit else []
    )
    return [
        str(toolchain.path("kube-apiserver")),
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
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
        *audit_flags,
    ]


def controller_manager(
    toolchain: Toolchain, port: int, kubeconfig: Path, cert_dir: Path, pki: dict[str, KeyPair]
) -> list[str]:
    return [
        str(toolchain.path("kube-controller-manager")),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={cert_dir}",
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
    ]


def scheduler(toolchain: Toolchain, port: int, kubeconfig: Path, cert_dir: Path) -> list[str]:
    return [
        str(toolchain.path("kube-scheduler")),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={cert_dir}",
        "--leader-elect=false",
        "--profiling=false",
    ]


def kwok(toolchain: Toolchain, kubeconfig: Path, port: int) -> list[str]:
    key, value = KWOK_NODE_ANNOTATION
    return [
        str(toolchain.path("kwok")),
        f"--kubeconfig={kubeconfig}",
        *(f"--config={stage}" for stage in kwok_files(toolchain, stages=True)),
        f"--manage-nodes-with-annotation-selector={key}={value}",
        # Node Leases renewed every 10 s: KWOK's heartbeat stage writes node status
        # only every 10 to 20 minutes and counts on the Lease in between. Without
        # one, the node controller declared the nodes lost after its grace period
        # and marked every pod NotReady for good, late in every long test run.
        f"--node-lease-duration-seconds={NODE_LEASE_SECONDS}",
        f"--cidr={POD_CIDR}",
        "--node-ip=127.0.0.1",
        f"--server-address=127.0.0.1:{port}",
    ]


def kwok_files(toolchain: Toolchain, *, stages: bool) -> list[Path]:
    """KWOK's files: its Stages (its defaults and ours), or the objects that go with
    them (its StorageClass)."""
    return [
        path
        for path in [*sorted(toolchain.stages_dir.glob("*.yaml")), *OUR_STAGES]
        if (yaml.safe_load(path.read_text())["kind"] == "Stage") == stages
    ]


def bootstrap_objects(toolchain: Toolchain, nodes: int) -> str:
    """The simulated nodes (without taints: pods need no tolerations), and KWOK's
    default StorageClass, whose claims its volume stages provision and bind."""
    key, value = KWOK_NODE_ANNOTATION
    node_objects = [
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
        for i in range(nodes)
    ]
    others = [yaml.safe_load(path.read_text()) for path in kwok_files(toolchain, stages=False)]
    return yaml.safe_dump_all([*node_objects, *others], sort_keys=False)
