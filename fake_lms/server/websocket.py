"""The SDK websocket on the HTTP port: the upgrade, RFC 6455 framing (``wsproto``) and the loop
that performs a :class:`~fake_lms.sdk.session.Session`'s actions.

The HTTP handler hands over a request that asks to upgrade (``Upgrade: websocket``); this module
answers the handshake itself, so the connection never gets an HTTP 200. Each connection runs in the
thread the HTTP server already gave it: one loop that reads frames (answering pings), feeds text
messages to the session, and runs the session's tasks, waiting with ``select`` until the next task
is due or a frame arrives — so a ``cancel`` reaches a streaming prediction between two fragments.

Limits: an outgoing message larger than the Python SDK accepts (64 KiB) is never sent by accident:
it is replaced by an ``rpcError``/``channelError`` that says so. Incoming messages above the
server's body limit (:data:`MAX_INCOMING` by default) close the connection with 1009. Nothing a
client sends (bad frames, bad JSON, an abrupt disconnect) raises out of here or affects another
connection.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import struct
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from fake_lms.sdk.protocol import CLIENT_MESSAGE_LIMIT, Close, Send, SendRaw, Task, Wait, dumps
from fake_lms.sdk.session import HANDSHAKE_TIMEOUT, NAMESPACES, Session

MAX_INCOMING = 16 * 1024 * 1024
RECV_BYTES = 65_536


class WebSocketUpgrade:
    """Called by the HTTP request handler with itself for every ``Upgrade: websocket`` request."""

    def __init__(
        self,
        make_session: Callable[[str], Session],
        *,
        client_limit: int = CLIENT_MESSAGE_LIMIT,
        max_incoming: int = MAX_INCOMING,
    ) -> None:
        self.make_session = make_session
        self.client_limit = client_limit
        self.max_incoming = max_incoming

    def __call__(self, handler: Any) -> None:
        handler.close_connection = True
        sock: socket.socket = handler.connection
        try:
            _Connection(self, handler, sock).run()
        except (OSError, LocalProtocolError, RemoteProtocolError):
            pass  # the client went away or broke the protocol: only this connection ends
        except Exception:
            print(
                f"fake LM Studio: error on the SDK websocket {handler.path}:\n{traceback.format_exc()}",
                file=sys.stderr,
            )
        finally:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _buffered(handler: Any, sock: socket.socket) -> bytes:
    """Bytes the HTTP parser already read past the request head (a client that did not wait)."""
    try:
        sock.setblocking(False)
        data = handler.rfile.peek()
        if data:
            handler.rfile.read(len(data))
        return bytes(data or b"")
    except (OSError, ValueError):
        return b""
    finally:
        with contextlib.suppress(OSError):
            sock.setblocking(True)


class _Connection:
    def __init__(self, upgrade: WebSocketUpgrade, handler: Any, sock: socket.socket) -> None:
        self.upgrade = upgrade
        self.handler = handler
        self.sock = sock
        self.ws = WSConnection(ConnectionType.SERVER)
        self.session: Session | None = None
        self.tasks: list[tuple[float, int, Task]] = []  # (due, order, task): a heap
        self.order = itertools.count()
        self.parts: list[str] = []
        self.size = 0
        self.open = True

    # -- the handshake -----------------------------------------------------------------------------
    def _accept(self) -> bool:
        handler = self.handler
        head = handler.requestline + "\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in handler.headers.items()) + "\r\n"
        self.ws.receive_data(head.encode("latin-1") + _buffered(handler, self.sock))
        for event in self.ws.events():
            if isinstance(event, Request):
                namespace = event.target.split("?", 1)[0].strip("/")
                if namespace not in NAMESPACES:
                    self._write(
                        self.ws.send(RejectConnection(status_code=404, headers=[(b"content-length", b"0")]))
                    )
                    return False
                self.session = self.upgrade.make_session(namespace)
                self._write(self.ws.send(AcceptConnection()))
                return True
        return False

    # -- the loop ----------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            if not self._accept():
                return
        except RemoteProtocolError:  # not a valid websocket handshake
            with contextlib.suppress(OSError):
                self.sock.sendall(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
            return
        session = self.session
        assert session is not None
        handshake_deadline = time.monotonic() + HANDSHAKE_TIMEOUT
        try:
            while self.open:
                self._run_due_tasks()
                if not self.open:
                    break
                now = time.monotonic()
                timeout: float | None = None
                if self.tasks:
                    timeout = max(0.0, self.tasks[0][0] - now)
                if session.state == "handshake":
                    left = handshake_deadline - now
                    if left <= 0:
                        self._close(1008, "authentication timed out")
                        break
                    timeout = left if timeout is None else min(timeout, left)
                data = self._receive(timeout)
                if data is None:
                    continue  # a task is due
                if not data:
                    break
                self.ws.receive_data(data)
                self._handle_events()
        finally:
            self.open = False
            session.connection_lost()
            for _, _, task in self.tasks:
                with contextlib.suppress(Exception):
                    task.close()  # type: ignore[attr-defined]
            self.tasks.clear()

    def _receive(self, timeout: float | None) -> bytes | None:
        """The next bytes from the client (``b""``: it closed), or ``None`` once ``timeout``
        seconds passed. The timeout applies to this read only: sends always block."""
        self.sock.settimeout(None if timeout is None else max(timeout, 0.0005))
        try:
            return self.sock.recv(RECV_BYTES)
        except TimeoutError:
            return None
        finally:
            self.sock.settimeout(None)

    def _handle_events(self) -> None:
        assert self.session is not None
        for event in self.ws.events():
            if isinstance(event, (TextMessage, BytesMessage)):
                data = event.data
                text = data if isinstance(data, str) else data.decode("utf-8", "replace")
                self.size += len(text)
                if self.size > self.upgrade.max_incoming:
                    self._close(1009, "message too big")
                    return
                self.parts.append(text)
                if event.message_finished:
                    message = "".join(self.parts)
                    self.parts, self.size = [], 0
                    for task in self.session.receive(message):
                        heapq.heappush(self.tasks, (0.0, next(self.order), task))
            elif isinstance(event, Ping):
                self._write(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                with contextlib.suppress(LocalProtocolError):
                    self._write(self.ws.send(event.response()))
                self.open = False
                return
        self._run_due_tasks()

    def _run_due_tasks(self) -> None:
        while self.open and self.tasks and self.tasks[0][0] <= time.monotonic():
            _, order, task = heapq.heappop(self.tasks)
            for action in task:
                if isinstance(action, Wait):
                    due = time.monotonic() + max(0.0, action.seconds)
                    heapq.heappush(self.tasks, (due, order, task))  # keeps its place among equals
                    break
                if isinstance(action, Send):
                    self._send_message(action)
                elif isinstance(action, SendRaw):
                    self._send_text(action.text)
                elif isinstance(action, Close):
                    if action.abrupt:
                        self._drop()
                    else:
                        self._close(action.code, action.reason)
                    return
                if not self.open:
                    return

    # -- output ------------------------------------------------------------------------------------
    def _send_message(self, action: Send) -> None:
        text = action.text()
        limit = self.upgrade.client_limit
        if len(text) > limit // 4 and len(text.encode("utf-8")) > limit:
            text = _too_big(action.message, len(text.encode("utf-8")), limit)
        self._send_text(text)

    def _send_text(self, text: str) -> None:
        self._write(self.ws.send(TextMessage(data=text)))

    def _write(self, data: bytes) -> None:
        if data:
            self.sock.sendall(data)

    def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(LocalProtocolError, OSError):
            self._write(self.ws.send(CloseConnection(code=code, reason=reason)))
        self.open = False

    def _drop(self) -> None:
        """End the TCP connection without a close frame (a connection reset, as a crash looks)."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.open = False


def _too_big(message: Any, size: int, limit: int) -> str:
    """The error that replaces a message the client could not receive."""
    error = {
        "title": (
            f"The fake LM Studio did not send a {size}-byte message: the LM Studio Python SDK refuses "
            f"websocket messages larger than {limit} bytes"
        ),
    }
    error["rootTitle"] = error["title"]
    if isinstance(message, dict) and "callId" in message:
        return dumps({"type": "rpcError", "callId": message["callId"], "error": error})
    if isinstance(message, dict) and "channelId" in message:
        return dumps({"type": "channelError", "channelId": message["channelId"], "error": error})
    return dumps({"type": "communicationWarning", "warning": error["title"], "kind": "messageTooLarge"})
