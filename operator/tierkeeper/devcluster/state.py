"""The state directory of one local cluster, and stopping a cluster from any process.

Everything a cluster has lives in its state directory:

    kubeconfig        admin credentials (the one to hand to kubectl and clients)
    cluster.json      pids of the owner and of every component (`cluster down`)
    pki/              CA, serving and client certificates, ServiceAccount key
    kubeconfigs/      one per control-plane component
    etcd/             etcd's data (wiped on every start: clusters are throwaway)
    logs/<name>.log   each process's output
    logs/audit.log    the API server's audit log, when the cluster has an audit policy
    kubectl-cache/    kubectl's discovery cache for this cluster
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tierkeeper.devcluster.processes import ProcessId
from tierkeeper.devcluster.processes import stop as stop_process


def named_state_dir(name: str) -> Path:
    """~/.cache/tierkeeper/clusters/NAME (TIERKEEPER_CACHE overrides ~/.cache/tierkeeper)."""
    default_cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tierkeeper"
    return Path(os.environ.get("TIERKEEPER_CACHE", default_cache)) / "clusters" / name


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
        self.audit_log = self.logs / "audit.log"

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
