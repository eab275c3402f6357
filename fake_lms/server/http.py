"""The HTTP adapter: werkzeug requests in, werkzeug responses out. Nothing LM Studio-specific.

Also the request handler class the fake server runs with: no per-request log line (werkzeug's
default costs time and floods test output) and ``TCP_NODELAY`` on every connection (werkzeug
writes headers and body in separate sends; without it Nagle's algorithm adds ~40 ms per request).

Per-request costs are kept low (``benchmarks/bench_server.py`` measures them) without copying the
standard library: the ``Date`` header is formatted once a second, and request headers are read
straight from the WSGI environ.
"""

from __future__ import annotations

import contextlib
import email.utils
import socket
import sys
import time
from collections.abc import Iterator, Mapping
from http import HTTPStatus
from typing import Any

from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from fake_lms.api.types import ApiRequest, Disconnect, Pause, RawFrame, Reply, SSEEvent, dumps
from fake_lms.core.slots import Ticket

JSON_TYPE = "application/json; charset=utf-8"
BASE_HEADERS = {"X-Powered-By": "Express"}
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Powered-By": "Express"}
_BASE_HEADER_ITEMS = tuple(BASE_HEADERS.items())

_date_cache: tuple[int, str] = (0, "")
TICKET_KEY = "fake_lms.ticket"  # environ key: the instance slot a request holds, freed when it ends


# Node's reason phrases where Python's differ (or changed between Python versions)
_NODE_PHRASES = {
    413: "Payload Too Large",
    414: "URI Too Long",
    416: "Range Not Satisfiable",
    422: "Unprocessable Entity",
}
_status_lines: dict[int, str] = {}


def status_line(code: int, fallback: str) -> str:
    """``400 Bad Request``: the status as Express (Node) words it. werkzeug upper-cases the reason
    (``400 BAD REQUEST``), which clients show: httpx's ``HTTPStatusError`` (llama-index) and
    ``requests``' ``raise_for_status`` (llm-lmstudio) put the phrase in their messages."""
    line = _status_lines.get(code)
    if line is None:
        try:
            phrase = _NODE_PHRASES.get(code) or HTTPStatus(code).phrase
        except ValueError:
            return fallback
        line = _status_lines[code] = f"{code} {phrase}"
    return line


def http_date() -> str:
    """The ``Date`` header value for now (formatted once a second)."""
    global _date_cache
    second = int(time.time())
    cached = _date_cache
    if cached[0] != second:
        cached = _date_cache = (second, email.utils.formatdate(second, usegmt=True))
    return cached[1]


class QuietNoDelayHandler(WSGIRequestHandler):
    """werkzeug's request handler, made lean: no access log, ``TCP_NODELAY``, HTTP/1.1 keep-alive
    (werkzeug closes every connection and then waits 10 ms to drain the socket, which would eat a
    pipelined request), one ``sendall`` for a whole JSON reply, and connections tracked by the
    server so that stopping it closes them. Requests are parsed by the standard library."""

    timeout = 120  # idle keep-alive connections are closed after this many seconds

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        registry = getattr(self.server, "fake_connections", None)
        if registry is not None:
            registry.add(self.connection)

    unread_body = False  # set when a reply was sent before the request's body was read

    def finish(self) -> None:
        registry = getattr(self.server, "fake_connections", None)
        if registry is not None:
            registry.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()
        if self.unread_body:
            self._linger()

    def _linger(self) -> None:
        """Close without losing the reply: closing a socket with unread input sends a reset, and
        the client may then never read the 413 it was sent. Shut our side, then read (and drop)
        what the client still sends, for a moment and a few megabytes at most."""
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.5)
            deadline = time.monotonic() + 2.0
            left = 16 * 2**20
            while left > 0 and time.monotonic() < deadline:
                data = self.connection.recv(65536)
                if not data:
                    break
                left -= len(data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """A request the HTTP parser refuses (a bad request line, a header too long, too many
        headers) is answered as Node's parser does: the status line, ``Connection: close``, no
        body and no ``Server`` header (never the standard library's HTML page)."""
        self.close_connection = True
        if code != 431:  # Node answers every other parse error (a bad version too) with a 400
            code = 400
        with contextlib.suppress(OSError):
            phrase = status_line(code, str(code))
            self.wfile.write(f"HTTP/1.1 {phrase}\r\nConnection: close\r\n\r\n".encode("latin-1"))

    def handle_expect_100(self) -> bool:
        """``Expect: 100-continue``: :meth:`run_wsgi` answers it (once), as werkzeug does."""
        return True

    # werkzeug's __getattr__ maps every do_* name to run_wsgi; naming the usual ones saves two
    # failed attribute lookups a request
    def do_GET(self) -> None:
        self.run_wsgi()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def _can_keep_alive(self) -> bool:
        if self.request_version != "HTTP/1.1":
            return False
        if self.headers.get("Connection", "").lower() == "close":
            return False
        # a body we cannot be sure was read completely would corrupt the next request
        return "chunked" not in self.headers.get("Transfer-Encoding", "").lower()

    def run_wsgi(self) -> None:
        upgrade = getattr(self.server, "fake_websocket", None)  # fake_lms.server.websocket
        if upgrade is not None and self.headers.get("Upgrade", "").lower() == "websocket":
            upgrade(self)
            return
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
        environ[TICKET_KEY] = None  # this handler frees the slot a request takes (below)
        try:
            app_iter = self.server.app(environ, start_response)
            try:
                self._send(app_iter, started, keep_alive, environ["REQUEST_METHOD"])
            finally:
                try:
                    close = getattr(app_iter, "close", None)
                    if close is not None:
                        close()
                finally:
                    # sent, cut, or failed: the model's slot is free for the next request
                    ticket: Ticket | None = environ.get(TICKET_KEY)
                    if ticket is not None:
                        ticket.release()
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
        head = [f"HTTP/1.1 {status_line(code, status)}\r\n"]
        has_length = False
        for key, value in started["headers"]:
            lower = key.lower()
            if lower == "content-length":
                has_length = True
            elif lower == "connection":  # the app asks for a close (a body it did not read)
                keep_alive = keep_alive and value.lower() != "close"
                self.close_connection = not keep_alive
                self.unread_body = value.lower() == "close"
                continue
            head.append(f"{key}: {value}\r\n")
        chunked = not has_length and method != "HEAD" and code not in (204, 304) and code >= 200
        if chunked:
            head.append("Transfer-Encoding: chunked\r\n")
        head.append(f"Date: {http_date()}\r\n")
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


_ENVIRON_HEADER_NAMES: dict[str, str | None] = {}  # environ key -> lower-cased header name or None


def _environ_header_name(key: str) -> str | None:
    """The lower-cased header name werkzeug's ``EnvironHeaders`` gives an environ key, if any."""
    if key.startswith("HTTP_"):
        if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
            return None
        return key[5:].replace("_", "-").title().lower()
    if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        return key.replace("_", "-").lower()
    return None


def request_headers(environ: Mapping[str, Any]) -> dict[str, str]:
    """``{name.lower(): value for name, value in request.headers.items()}``, read straight from the
    environ (werkzeug's ``EnvironHeaders`` title-cases every name on every pass)."""
    names = _ENVIRON_HEADER_NAMES
    headers = {}
    for key, value in environ.items():
        try:
            name = names[key]
        except KeyError:
            name = _environ_header_name(key)
            if len(names) < 4096:
                names[key] = name
        # EnvironHeaders skips empty CONTENT_TYPE / CONTENT_LENGTH, never an empty HTTP_* value
        if name is not None and (value or key[0] == "H"):
            headers[name] = value
    return headers


def _environ_key(name: str) -> str:
    """The environ key of a lower-cased header name."""
    if name in ("content-type", "content-length"):
        return name.replace("-", "_").upper()
    return "HTTP_" + name.replace("-", "_").upper()


class RequestHeaders(Mapping[str, str]):
    """A request's headers, names lower-cased, read from its WSGI environ when asked for: ``get``
    reads one environ key (most requests are answered without looking at any header); anything
    else builds them all once (:func:`request_headers`)."""

    __slots__ = ("_all", "_environ")

    def __init__(self, environ: Mapping[str, Any]) -> None:
        self._environ = environ
        self._all: dict[str, str] | None = None

    def _headers(self) -> dict[str, str]:
        if self._all is None:
            self._all = request_headers(self._environ)
        return self._all

    def get(self, name: str, default: Any = None) -> Any:
        if self._all is not None or "_" in name or not name.islower():
            return self._headers().get(name, default)
        key = _environ_key(name)
        value = self._environ.get(key)
        if value is None or (not value and key[0] != "H"):  # as request_headers skips them
            return default
        return value

    def __getitem__(self, name: str) -> str:
        return self._headers()[name]

    def __contains__(self, name: object) -> bool:
        return name in self._headers()

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers())

    def __len__(self) -> int:
        return len(self._headers())

    def __repr__(self) -> str:
        return f"RequestHeaders({self._headers()!r})"


class CycleFreeRequest(Request):
    """werkzeug's request, not stored in its own environ (``environ["werkzeug.request"]``): that
    reference cycle outlived the young generations whenever a record kept the environ (the last
    ``log_limit`` requests do), so every dropped record became garbage only a full collection
    frees, and a long run paused for tens of ms at each (benchmarks/bench_gc.py)."""

    def __init__(
        self, environ: dict[str, Any], populate_request: bool = False, shallow: bool = False
    ) -> None:
        super().__init__(environ, populate_request=populate_request, shallow=shallow)


def request_class(max_body_bytes: int) -> type[Request]:
    """The request class of a server refusing bodies over ``max_body_bytes``: one byte more is
    allowed in, so that a body over the limit shows (:class:`BodyTooLarge`)."""
    return type("Request", (CycleFreeRequest,), {"max_content_length": max_body_bytes + 1})


class BodyTooLarge(Exception):
    """The request body is larger than the server accepts."""

    # the request class's ``max_content_length`` is one more than the limit: werkzeug stops a
    # chunked body at ``max_content_length`` without a word, so reading one byte past the limit
    # is how a body over it shows

    def __init__(self, limit: int | None) -> None:
        super().__init__(limit)
        self.limit = limit


class BadBody(Exception):
    """The request body could not be read (malformed chunked framing, a connection cut)."""


def to_api_request(request: Request) -> ApiRequest:
    """The request as the dialects see it. Raises :class:`BodyTooLarge` past the request class's
    ``max_content_length`` (chunked bodies included: reading stops at the limit) and
    :class:`BadBody` for a body that cannot be read."""
    environ = request.environ
    limit = None if request.max_content_length is None else request.max_content_length - 1
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise BodyTooLarge(limit) from None
    except HTTPException as exc:  # werkzeug's dechunker gave up: a BadRequest, a disconnect
        raise BadBody(exc.description or type(exc).__name__) from None
    except (OSError, ValueError) as exc:
        raise BadBody(str(exc) or type(exc).__name__) from None
    if limit is not None and len(body) > limit:
        raise BodyTooLarge(limit)
    return ApiRequest(
        method=request.method,
        path=request.path,
        headers=RequestHeaders(environ),
        body=body,
        query=dict(request.args.items()) if environ.get("QUERY_STRING") else {},
    )


def _stream_body(reply: Reply, sock: socket.socket | None, ticket: Ticket | None = None) -> Iterator[bytes]:
    try:
        for item in reply.iter_stream():
            if isinstance(item, SSEEvent):
                if item.token and ticket is not None:
                    ticket.generating()
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


class BodyResponse(Response):
    """A werkzeug ``Response`` whose ``Content-Length`` header comes with its headers."""

    automatically_set_content_length = False


def _take_slot(reply: Reply, request: Request | None) -> Ticket | None:
    """Wait for the model's slot (``lms load --parallel``: requests beyond it queue, first come
    first served); the request handler frees it once the answer is sent (:data:`TICKET_KEY`). A
    request served without that handler (a WSGI app called in-process) takes no slot."""
    if reply.claim is None or request is None or TICKET_KEY not in request.environ:
        return None
    ticket = reply.claim.enter()
    request.environ[TICKET_KEY] = ticket
    ticket.wait()
    return ticket


def to_response(reply: Reply, request: Request | None = None) -> Response:
    ticket = _take_slot(reply, request)
    if reply.delay > 0:  # a scripted slow first token, on a reply that is not streamed
        time.sleep(reply.delay)
    if reply.stream is not None:
        sock = request.environ.get("werkzeug.socket") if request is not None else None
        headers = {**SSE_HEADERS, **reply.headers}
        return Response(
            _stream_body(reply, sock, ticket),
            status=reply.status,
            headers=headers,
            content_type=reply.content_type or "text/event-stream",
            direct_passthrough=True,
        )
    if ticket is not None:
        ticket.generating()  # the answer is complete: it is being sent
    content_type = reply.content_type or JSON_TYPE
    if not reply.headers and reply.status != 204:  # the usual answer: headers as werkzeug stores them
        body = reply.body_bytes()
        length = str(len(body))
        headers_list = [*_BASE_HEADER_ITEMS, ("Content-Type", content_type), ("Content-Length", length)]
        return BodyResponse(body, reply.status, headers_list)
    headers = {**BASE_HEADERS, **reply.headers}
    if reply.status == 204:
        return Response(status=204, headers=headers)
    return Response(reply.body_bytes(), status=reply.status, headers=headers, content_type=content_type)
