"""The operator as a real process against the test cluster (and, from the package, the
health server for its gates)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tierkeeper.devcluster.cluster import free_ports
from tierkeeper.devcluster.health import HealthServer

__all__ = [
    "HealthServer",
    "OperatorProcess",
    "Samples",
    "child_applies",
    "environment_reconciles",
    "scrape",
    "stop_process",
    "total",
]


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, and SIGKILL if it has not ended within 15 s."""
    if process is None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class OperatorProcess:
    """`tierkeeper run` for one namespace; can be killed hard and started again."""

    kubeconfig: Path
    namespace: str
    log: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_args: tuple[str, ...] = ()
    # Its decisions in the log, which a failed test shows (conftest.py); an operator of an
    # older commit (test_upgrade.py) may not know the flag.
    debug: bool = True
    # Not the default 9090: other operators (other test runs, `make dev`) may hold it.
    metrics_port: int = field(default_factory=lambda: free_ports(1)[0])
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), **self.extra_env}
        command = [
            sys.executable,
            "-m",
            "tierkeeper",
            "run",
            "--namespace",
            self.namespace,
            "--log-format",
            "plain",
            "--metrics-port",
            str(self.metrics_port),
            *(["--debug"] if self.debug else []),
            *self.extra_args,
        ]
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no finalizer removal, as a crash or an OOM kill."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    """Every sample the operator's /metrics serves, by name and sorted labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    return sum(
        value
        for (sample, sample_labels), value in samples.items()
        if sample == name and set(labels.items()) <= set(sample_labels)
    )


def environment_reconciles(port: int) -> float:
    """Environment reconciles finished by the operator serving /metrics on `port`, 0 before
    it serves them."""
    try:
        samples = scrape(port)
    except OSError:
        return 0.0
    return total(samples, "tierkeeper_reconcile_total", kind="Environment", result="ok")


def child_applies(port: int) -> tuple[float, float]:
    """(children held, children applied) by the converges of the operator serving /metrics
    on `port`, zeros before it serves them. A converge looks at each child it wants and
    applies it unless the live child holds what it would apply already."""
    try:
        samples = scrape(port)
    except OSError:
        return 0.0, 0.0
    return (
        total(samples, "tierkeeper_child_applies_total", result="held"),
        total(samples, "tierkeeper_child_applies_total", result="applied"),
    )
