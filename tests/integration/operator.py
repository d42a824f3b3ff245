"""The operator as a real process against the test cluster, and a health server for its gates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tierkeeper.devcluster.cluster import free_ports


@dataclass
class OperatorProcess:
    """`tierkeeper run` for one namespace; can be killed hard and started again."""

    kubeconfig: Path
    namespace: str
    log: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_args: tuple[str, ...] = ()
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
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class HealthServer:
    """Answers `/<namespace>/<service><path>` with the status code the test chose per service."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.hits: dict[str, int] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                service = self.path.strip("/").split("/")[1]
                outer.hits[service] = outer.hits.get(service, 0) + 1
                code = outer.codes.get(service, 200)
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"ok" if code < 300 else b"unhealthy")

            def log_message(self, *_: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def template(self) -> str:
        port = self.server.server_address[1]
        return f"http://127.0.0.1:{port}/{{namespace}}/{{service}}{{path}}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


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
