"""A stand-in for the apps' health endpoints on a local cluster, whose Services nothing
outside the cluster can reach: point TIERKEEPER_HEALTH_URL at `HealthServer.template` and
the Release health gates call it instead (tests, benchmarks)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HealthServer:
    """Answers `/<namespace>/<service><path>` with the status code chosen per service
    (`codes`, 200 by default), and notes the monotonic time of every answer per service."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.answers: dict[str, list[float]] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                service = self.path.strip("/").split("/")[1]
                code = outer.codes.get(service, 200)
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"ok" if code < 300 else b"unhealthy")
                self.wfile.flush()
                outer.answers.setdefault(service, []).append(time.monotonic())

            def log_message(self, *_: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def hits(self) -> dict[str, int]:
        return {service: len(times) for service, times in self.answers.items()}

    @property
    def template(self) -> str:
        port = self.server.server_address[1]
        return f"http://127.0.0.1:{port}/{{namespace}}/{{service}}{{path}}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
