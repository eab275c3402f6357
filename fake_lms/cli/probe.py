"""Finding LM Studio the way ``lms`` does (spec §4.1): the ``/lmstudio-greeting`` probe and the
``--host/--port`` rules of ``createClient``.

The probe speaks HTTP over a plain socket with a short timeout, so the fake ``lms`` never imports an
HTTP library (``lms ps --json`` must start fast).
"""

from __future__ import annotations

import json
import time

from fake_lms.cli.output import Logger

DEFAULT_SERVER_PORT = 1234
GREETING_TIMEOUT = 0.5  # lms aborts the greeting fetch after 500 ms


class CliExit(Exception):
    """Stop the command with this exit status (its messages are already printed)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _http_get(host: str, port: int, path: str, timeout: float) -> tuple[int, bytes] | None:
    import socket  # only the commands that probe a server pay for it

    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            host_header = f"[{host}]" if ":" in host else host
            sock.sendall(
                f"GET {path} HTTP/1.1\r\nHost: {host_header}:{port}\r\nAccept: */*\r\n"
                "Connection: close\r\n\r\n".encode("latin-1")
            )
            data = b""
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                sock.settimeout(remaining)
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
                parsed = _parse_response(data, complete=False)
                if parsed is not None:
                    return parsed
            return _parse_response(data, complete=True)
    except (OSError, ValueError):
        return None


def _parse_response(data: bytes, *, complete: bool) -> tuple[int, bytes] | None:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        out = b""
        rest = body
        while True:
            size_line, sep, rest = rest.partition(b"\r\n")
            if not sep:
                return (status, out) if complete else None
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                return status, out
            if len(rest) < size + 2:
                return (status, out + rest[:size]) if complete else None
            out += rest[:size]
            rest = rest[size + 2 :]
    length = headers.get("content-length")
    if length is not None:
        if len(body) >= int(length):
            return status, body[: int(length)]
        return (status, body) if complete else None
    return (status, body) if complete else None


def get_json(host: str, port: int, path: str, timeout: float = GREETING_TIMEOUT) -> object:
    """``GET path``, parsed: the JSON body of a 200 answer, else ``None`` (no answer in time, another
    status, or a body that is not JSON)."""
    answer = _http_get(host, port, path, timeout)
    if answer is None or answer[0] != 200:
        return None
    try:
        return json.loads(answer[1])
    except ValueError:
        return None


def check_http_server(port: int, host: str | None = None, timeout: float = GREETING_TIMEOUT) -> bool:
    """lms's ``checkHttpServer``: status 200 and a JSON body with ``lmstudio: true``."""
    answer = _http_get(host or "127.0.0.1", port, "/lmstudio-greeting", timeout)
    if answer is None or answer[0] != 200:
        return False
    try:
        return json.loads(answer[1]).get("lmstudio") is True
    except (ValueError, AttributeError):
        return False


def port_accepts_connections(port: int, host: str | None = None, timeout: float = 0.2) -> bool:
    import socket

    try:
        with socket.create_connection((host or "127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def create_client(logger: Logger, host: str | None, port: int | None, yellow=str) -> None:
    """lms's ``createClient``: validate ``--host``; with ``--host`` or ``--port`` require the server
    to answer the greeting. Without either, real lms talks to the app's internal API server; the
    fake's equivalent is the home directory itself, which is always there."""
    if host is None:
        host = "127.0.0.1"
    elif "://" in host:
        logger.error("Host should not include the protocol.")
        raise CliExit(1)
    elif ":" in host:
        logger.error(f"Host should not include the port number. Use {yellow('--port')} instead.")
        raise CliExit(1)
    if port is None:
        if host == "127.0.0.1":
            return  # the local path, as without --host
        port = DEFAULT_SERVER_PORT
    if not check_http_server(port, host):
        logger.error(
            f"The server does not appear to be running at {host}:{port}. Please make sure the server "
            "is running and accessible at the specified address."
        )
        raise CliExit(1)
