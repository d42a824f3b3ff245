"""The local control plane's plumbing that needs no control plane: processes, certificates."""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cryptography import x509

from tierkeeper.devcluster.certs import CertificateAuthority, Identity
from tierkeeper.devcluster.processes import ProcessId, spawn, stop

OWNER = """
import sys, time
from pathlib import Path
from tierkeeper.devcluster.processes import spawn
child = spawn(["sleep", "300"], Path(sys.argv[1]))
print(child.pid, flush=True)
time.sleep(300)
"""


def gone(process: ProcessId, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while process.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not process.alive()


def test_a_child_dies_with_its_owner_even_on_sigkill(tmp_path: Path) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(tmp_path / "log")], stdout=subprocess.PIPE, text=True
    )
    assert owner.stdout is not None
    child = ProcessId.of(int(owner.stdout.readline()))
    assert child is not None and child.alive()

    owner.kill()
    owner.wait()

    assert gone(child)


def test_stop_ends_the_child_and_a_recycled_pid_is_not_it(tmp_path: Path) -> None:
    child = spawn(["sleep", "300"], tmp_path / "log")
    process = ProcessId.of(child.pid)
    assert process is not None
    assert os.getpgid(child.pid) == child.pid  # its own process group

    assert not ProcessId(process.pid, process.start_time + 1).alive()
    stop(process)
    assert child.wait(timeout=10) == -signal.SIGTERM


def test_serving_certificate_is_issued_by_the_ca_for_its_addresses(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path, datetime.datetime.now(datetime.UTC))
    pair = ca.issue("server", Identity("server"), server_ips=("127.0.0.1",), server_dns=("kube",))

    cert = x509.load_pem_x509_certificate(pair.cert.read_bytes())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca.pair.cert.read_bytes()))
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert names.get_values_for_type(x509.DNSName) == ["kube"]
    assert (tmp_path / "server.key").stat().st_mode & 0o777 == 0o600
