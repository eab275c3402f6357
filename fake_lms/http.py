"""The HTTP adapter: werkzeug requests in, werkzeug responses out. Nothing LM Studio-specific.

Also the request handler class the fake server runs with: no per-request log line (werkzeug's
default costs time and floods test output) and ``TCP_NODELAY`` on every connection (werkzeug
writes headers and body in separate sends; without it Nagle's algorithm adds ~40 ms per request).
"""

from __future__ import annotations

import contextlib
import socket
import sys
import time
from collections.abc import Iterator
from typing import Any

from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from fake_lms.api.types import ApiRequest, Disconnect, Pause, RawFrame, Reply, SSEEvent, dumps

JSON_TYPE = "application/json; charset=utf-8"
BASE_HEADERS = {"X-Powered-By": "Express"}
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Powered-By": "Express"}


class QuietNoDelayHandler(WSGIRequestHandler):
    """werkzeug's request handler, made lean: no access log, ``TCP_NODELAY``, HTTP/1.1 keep-alive
    (werkzeug closes every connection and then waits 10 ms to drain the socket, which would eat a
    pipelined request), one ``sendall`` for a whole JSON reply, and connections tracked by the
    server so that stopping it closes them."""

    timeout = 120  # idle keep-alive connections are closed after this many seconds

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        registry = getattr(self.server, "fake_connections", None)
        if registry is not None:
            registry.add(self.connection)

    def finish(self) -> None:
        registry = getattr(self.server, "fake_connections", None)
        if registry is not None:
            registry.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def _can_keep_alive(self) -> bool:
        if self.request_version != "HTTP/1.1":
            return False
        if self.headers.get("Connection", "").lower() == "close":
            return False
        # a body we cannot be sure was read completely would corrupt the next request
        return "chunked" not in self.headers.get("Transfer-Encoding", "").lower()

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        started: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if exc_info and started.get("sent"):
                raise exc_info[1].with_traceback(exc_info[2])
            started["status"], started["headers"] = status, headers
            return self.wfile.write

        keep_alive = self._can_keep_alive()
        self.close_connection = not keep_alive
        try:
            app_iter = self.server.app(environ, start_response)  # type: ignore[attr-defined]
            try:
                self._send(app_iter, started, keep_alive, environ["REQUEST_METHOD"])
            finally:
                close = getattr(app_iter, "close", None)
                if close is not None:
                    close()
        except (TimeoutError, ConnectionError):
            self.close_connection = True
        except Exception:
            self.close_connection = True
            if not started.get("sent"):
                with contextlib.suppress(OSError):
                    self.wfile.write(
                        b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json"
                        b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
                    )
            import traceback

            print(
                f"fake LM Studio: error serving {self.command} {self.path}:\n{traceback.format_exc()}",
                file=sys.stderr,
            )

    def _send(self, app_iter: Any, started: dict[str, Any], keep_alive: bool, method: str) -> None:
        iterator = iter(app_iter)
        first = next(iterator, b"")  # the status is only known once the app started its body
        status: str = started["status"]
        code = int(status.split(None, 1)[0])
        head = [f"HTTP/1.1 {status}\r\n"]
        has_length = False
        for key, value in started["headers"]:
            if key.lower() == "content-length":
                has_length = True
            head.append(f"{key}: {value}\r\n")
        chunked = not has_length and method != "HEAD" and code not in (204, 304) and code >= 200
        if chunked:
            head.append("Transfer-Encoding: chunked\r\n")
        head.append(f"Date: {self.date_time_string()}\r\n")
        head.append(
            "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n"
            if keep_alive
            else "Connection: close\r\n\r\n"
        )
        head_bytes = "".join(head).encode("latin-1")
        started["sent"] = True
        write = self.wfile.write
        if not chunked:
            rest = b"".join(iterator)
            write(head_bytes + first + rest)
            return
        write(head_bytes + (b"%x\r\n%s\r\n" % (len(first), first) if first else b""))
        for data in iterator:
            if data:
                write(b"%x\r\n%s\r\n" % (len(data), data))
        write(b"0\r\n\r\n")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


def to_api_request(request: Request) -> ApiRequest:
    return ApiRequest(
        method=request.method,
        path=request.path,
        headers={k.lower(): v for k, v in request.headers.items()},
        body=request.get_data(cache=True),
        query=dict(request.args.items()),
    )


def _stream_body(reply: Reply, sock: socket.socket | None) -> Iterator[bytes]:
    try:
        for item in reply.iter_stream():
            if isinstance(item, SSEEvent):
                yield item.encode()
            elif isinstance(item, Pause):
                if item.seconds > 0:
                    time.sleep(item.seconds)
            elif isinstance(item, RawFrame):
                yield item.data
            elif isinstance(item, Disconnect):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                # werkzeug treats ConnectionError as "client went away" and stays quiet
                raise ConnectionAbortedError("fake LM Studio: connection cut on purpose")
    except ConnectionError:
        raise
    except Exception as exc:  # an error after the stream started: OpenAI-shaped error event
        yield (
            b"data: "
            + dumps(
                {
                    "error": {
                        "message": f"[Server Error] {exc}",
                        "type": "internal_error",
                        "param": None,
                        "code": None,
                    }
                }
            ).encode()
            + b"\n\n"
        )


def to_response(reply: Reply, request: Request | None = None) -> Response:
    if reply.stream is not None:
        sock = request.environ.get("werkzeug.socket") if request is not None else None
        headers = {**SSE_HEADERS, **reply.headers}
        return Response(
            _stream_body(reply, sock),
            status=reply.status,
            headers=headers,
            content_type=reply.content_type or "text/event-stream",
            direct_passthrough=True,
        )
    headers = {**BASE_HEADERS, **reply.headers}
    if reply.status == 204:
        return Response(status=204, headers=headers)
    return Response(
        reply.body_bytes(), status=reply.status, headers=headers, content_type=reply.content_type or JSON_TYPE
    )
