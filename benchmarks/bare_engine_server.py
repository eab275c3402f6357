"""The bare engine: the fake LM Studio's HTTP engine without any LM Studio logic.

``python benchmarks/bare_engine_server.py --canned FILE [--port 0]`` runs pytest-httpserver's
threaded ``HTTPServer`` exactly as ``FakeLMStudio`` runs it (werkzeug's ``make_server`` with the
fake's own request handler class ``fake_lms.server.http.QuietNoDelayHandler``, the same bounded request
log as ``python -m fake_lms serve``), answering with ``expect_request(...).respond_with_data``:
the canned bytes captured from the fake by ``bench_server.py``. Streams go through a handler that
returns the canned SSE frames as an iterator, as the fake's ``http.to_response`` does, so they
are chunked one HTTP chunk per event. The only difference from the fake is the LM Studio logic.

The workload is chosen by the ``X-Bench-Workload`` request header (``plain`` or ``stream``).
The first stdout line is the root URL.
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import sys
import threading
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from fake_lms.server import http

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from floor_server import load_canned


class BareEngine(HTTPServer):
    """pytest-httpserver, started the way ``FakeLMStudio.start`` starts it."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port, threaded=True)
        self.log = collections.deque(maxlen=1000)  # type: ignore[assignment]  # as `fake_lms serve`

    def start(self) -> None:
        app = Request.application(self.application)  # type: ignore[arg-type]
        self.server = make_server(
            self.host, self.port, app, threaded=True, request_handler=http.QuietNoDelayHandler
        )
        self.server.fake_connections = set()  # type: ignore[attr-defined]
        self.port = self.server.port
        self.server_thread = threading.Thread(target=self.thread_target, daemon=True)
        self.server_thread.start()


def configure(server: HTTPServer, canned: dict[str, Any]) -> None:
    plain = canned["plain"]
    server.expect_request(
        "/v1/chat/completions", method="POST", headers={"X-Bench-Workload": "plain"}
    ).respond_with_data(
        plain["body"].encode(), status=int(plain["status"].split()[0]), headers=plain["headers"]
    )
    stream = canned["stream"]
    frames = [f.encode() for f in stream["frames"]]
    status = int(stream["status"].split()[0])

    def respond_stream(request: Request) -> Response:
        return Response(iter(frames), status=status, headers=stream["headers"], direct_passthrough=True)

    server.expect_request(
        "/v1/chat/completions", method="POST", headers={"X-Bench-Workload": "stream"}
    ).respond_with_handler(respond_stream)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--canned", required=True, help="JSON file written by bench_server.py")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = BareEngine(args.host, args.port)
    configure(server, load_canned(args.canned))
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(server.url_for("/").rstrip("/"), flush=True)
    while not stop.wait(0.5):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
