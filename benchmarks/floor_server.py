"""The floor: the least a Python HTTP server can do to give the fake LM Studio's answers.

``python benchmarks/floor_server.py --canned FILE [--port 0]`` serves canned chat completion
responses (captured from the fake by ``bench_server.py``) on the standard library's
``ThreadingHTTPServer``: HTTP/1.1 keep-alive, ``TCP_NODELAY``, no logging, no JSON parsing, no
routing beyond one header. The response bytes have the same size and shape as the fake's (same
header lines, same body; streams are chunked with one HTTP chunk per SSE event, the first one
sent together with the head, as the fake sends them). The first stdout line is the root URL.

The workload is chosen by the ``X-Bench-Workload`` request header (``plain`` or ``stream``), which
the benchmark sends to every server alike.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KEEP_ALIVE = b"Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n"
CLOSE = b"Connection: close\r\n\r\n"


def load_canned(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def head_prefix(status: str, headers: list[list[str]], extra: str) -> bytes:
    lines = [f"HTTP/1.1 {status}\r\n"] + [f"{k}: {v}\r\n" for k, v in headers] + [extra]
    return "".join(lines).encode("latin-1")


def make_handler(canned: dict[str, Any]) -> type[BaseHTTPRequestHandler]:
    plain = canned["plain"]
    plain_body = plain["body"].encode()
    plain_head = head_prefix(plain["status"], plain["headers"], f"Content-Length: {len(plain_body)}\r\n")
    stream = canned["stream"]
    stream_head = head_prefix(stream["status"], stream["headers"], "Transfer-Encoding: chunked\r\n")
    frames = [f.encode() for f in stream["frames"]]
    chunks = [b"%x\r\n%s\r\n" % (len(f), f) for f in frames]
    first, rest = chunks[0], chunks[1:]

    class FloorHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            tail = CLOSE if self.close_connection else KEEP_ALIVE
            date = b"Date: " + self.date_time_string().encode() + b"\r\n"
            write = self.wfile.write
            if self.headers.get("X-Bench-Workload") == "stream":
                write(stream_head + date + tail + first)
                for chunk in rest:
                    write(chunk)
                write(b"0\r\n\r\n")
            else:
                write(plain_head + date + tail + plain_body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return FloorHandler


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--canned", required=True, help="JSON file written by bench_server.py")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), make_handler(load_canned(args.canned)))
    server.daemon_threads = True
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    print(f"http://{args.host}:{server.server_address[1]}", flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
