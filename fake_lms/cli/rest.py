"""Asking the home's fake server over its REST API, for the commands whose answer must come from
the server (``lms chat``; ``lms get`` while a server runs): what LM Studio does inside the app, the
fake does in its server, where the test's script can act on it. Imported only by those commands,
so the others never load ``http.client``."""

from __future__ import annotations

import http.client
import json
import os
from typing import Any

TIMEOUT = 300.0


def headers() -> dict[str, str]:
    """JSON headers, with ``LM_API_TOKEN`` as the bearer token when the server requires one."""
    out = {"Content-Type": "application/json"}
    token = os.environ.get("LM_API_TOKEN")
    if token:
        out["Authorization"] = f"Bearer {token}"
    return out


def connect(address: tuple[str, int]) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(address[0], address[1], timeout=TIMEOUT)


def error_message(body: bytes) -> str:
    """The message of an LM Studio error body (v1 ``{"error": {"message"}}`` or a bare string)."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return body.decode("utf-8", "replace").strip() or "no answer"
    if isinstance(error, dict):
        return str(error.get("message", error))
    return str(error)


class RestError(Exception):
    """The server answered with an error status; ``str()`` is its message."""


def call(address: tuple[str, int], method: str, path: str, body: Any = None) -> Any:
    """One JSON request; the parsed answer, or :class:`RestError` for a non-200 status."""
    conn = connect(address)
    try:
        data = None if body is None else json.dumps(body).encode("utf-8")
        conn.request(method, path, data, headers())
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise RestError(error_message(raw))
    return json.loads(raw)
