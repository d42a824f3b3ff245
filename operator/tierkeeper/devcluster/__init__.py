"""A real local control plane (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, KWOK nodes) for tests and `tierkeeper dev`; see `cluster`."""

from tierkeeper.devcluster.cluster import ClusterError, DevCluster
from tierkeeper.devcluster.kubectl import Kubectl, KubectlError
from tierkeeper.devcluster.state import StateDir, named_state_dir, stop_cluster
from tierkeeper.devcluster.toolchain import Toolchain, ToolchainMissing

__all__ = [
    "ClusterError",
    "DevCluster",
    "Kubectl",
    "KubectlError",
    "StateDir",
    "Toolchain",
    "ToolchainMissing",
    "named_state_dir",
    "stop_cluster",
]
