"""A stand-in for the apps' health endpoints on a local cluster, whose Services nothing
outside the cluster can reach: point TIERKEEPER_HEALTH_URL at `HealthServer.template` and
the Release health gates call it instead (tests, benchmarks, `tierkeeper dev`).

Another process changes a service's answer with `set_code` (`tierkeeper dev health`):
a PUT of the code to `/-/codes/<service>`; `-` is no namespace name, so the control path
never shadows an app's health path."""

from __future__ import annotations

import threading
import time
import urllib.request
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTROL_PREFIX = "/-/codes/"


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

            def do_PUT(self) -> None:
                if not self.path.startswith(CONTROL_PREFIX):
                    self.send_error(HTTPStatus.NOT_FOUND)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode().strip()
                if not (body.isdigit() and 100 <= int(body) <= 599):
                    self.send_error(HTTPStatus.BAD_REQUEST, "the body must be an HTTP status code")
                    return
                outer.codes[self.path.removeprefix(CONTROL_PREFIX)] = int(body)
                self.send_response(HTTPStatus.NO_CONTENT)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def hits(self) -> dict[str, int]:
        return {service: len(times) for service, times in self.answers.items()}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def template(self) -> str:
        return f"{self.url}/{{namespace}}/{{service}}{{path}}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def set_code(url: str, service: str, code: int) -> None:
    """Make the stand-in at `url` answer `code` for `service` (in every namespace)."""
    request = urllib.request.Request(
        f"{url}{CONTROL_PREFIX}{service}", data=str(code).encode(), method="PUT"
    )
    with urllib.request.urlopen(request, timeout=5):
        pass
