"""Which certificates a local cluster issues, and to whom: the CA, the API server's serving
certificate, the ServiceAccount key, and one client certificate per identity (the admin,
kube-controller-manager, kube-scheduler). certs.py makes them."""

from __future__ import annotations

import datetime
from pathlib import Path

from tierkeeper.devcluster.certs import (
    SERVER_DNS_NAMES,
    CertificateAuthority,
    Identity,
    KeyPair,
    service_account_key,
)


def issue_cluster_pki(directory: Path, server_ips: tuple[str, ...]) -> dict[str, KeyPair]:
    """Fresh keys and certificates in `directory`, by role: "ca", "sa", "apiserver" (serving
    on `server_ips` and the `kubernetes` Service's names), "admin", and one per component
    that connects with a kubeconfig of its own, under the component's name."""
    ca = CertificateAuthority(directory, datetime.datetime.now(datetime.UTC))
    return {
        "ca": ca.pair,
        "sa": service_account_key(directory),
        "apiserver": ca.issue(
            "apiserver",
            Identity("kube-apiserver"),
            server_ips=server_ips,
            server_dns=SERVER_DNS_NAMES,
        ),
        "admin": ca.issue("admin", Identity("tierkeeper-admin", ("system:masters",))),
        "kube-controller-manager": ca.issue(
            "kube-controller-manager", Identity("system:kube-controller-manager")
        ),
        "kube-scheduler": ca.issue("kube-scheduler", Identity("system:kube-scheduler")),
    }
