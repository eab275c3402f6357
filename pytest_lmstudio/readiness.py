"""Readiness: probe an LM Studio URL, and wait until one answers (failing fast if its process died)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pytest_lmstudio.client.config import JSON_TYPE


@dataclass(frozen=True)
class Probe:
    up: bool
    version: str | None = None
    detail: str = ""


_OPENER: Any = None
MAX_PROBE_BYTES = 1 << 20  # LM Studio's probe answers are a few bytes


def _get_json(url: str, timeout: float) -> tuple[int, object]:
    global _OPENER
    import urllib.request  # imported on use: plugin start-up stays cheap

    if _OPENER is None:
        _OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    deadline = time.monotonic() + timeout  # for the whole answer: a trickle cannot stretch a probe
    request = urllib.request.Request(url, headers={"Accept": JSON_TYPE})
    with _OPENER.open(request, timeout=timeout) as response:
        body = b""
        while chunk := response.read1(65536):
            body += chunk
            if time.monotonic() > deadline:
                raise TimeoutError(f"no whole answer within {timeout:g} s")
            if len(body) > MAX_PROBE_BYTES:
                raise ValueError(f"{url} answered more than {MAX_PROBE_BYTES} bytes: not LM Studio's probe")
        return response.status, json.loads(body or b"null")


def probe(root: str, timeout: float = 1.0) -> Probe:
    """Is an LM Studio server answering at ``root``? Uses ``/lmstudio-greeting`` (what ``lms`` uses),
    then ``/lms-status`` for the version. Never raises."""
    refused = _refused(root, timeout)
    if refused:
        return Probe(False, detail=refused)
    import urllib.error

    try:
        status, body = _get_json(root + "/lmstudio-greeting", timeout)
    except urllib.error.HTTPError as exc:
        return Probe(False, detail=f"HTTP {exc.code} from {root}/lmstudio-greeting")
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Probe(False, detail=str(reason))
    if status != 200 or not (isinstance(body, dict) and body.get("lmstudio") is True):
        return Probe(False, detail=f"{root} answers, but not as LM Studio (/lmstudio-greeting gave {body!r})")
    version = None
    try:
        _, status_body = _get_json(root + "/lms-status", timeout)
        if isinstance(status_body, dict) and isinstance(status_body.get("version"), str):
            version = status_body["version"]
    except (OSError, ValueError):
        pass
    return Probe(True, version)


def _refused(root: str, timeout: float) -> str:
    """A cheap TCP connect first: nothing listening is the common case and needs no HTTP stack."""
    parts = urlsplit(root)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout):
            return ""
    except OSError as exc:
        return str(exc.strerror or exc) if not isinstance(exc, socket.timeout) else "timed out"


class NotReady(Exception):
    pass


def wait_until(
    check: Callable[[], Probe],
    *,
    timeout: float,
    what: str,
    process: subprocess.Popen[bytes] | None = None,
    log_file: Path | None = None,
    interval: float = 0.1,
) -> Probe:
    """Poll ``check`` until it reports up; raise :class:`NotReady` on timeout or when ``process`` exits,
    with the tail of ``log_file`` in the message."""
    deadline = time.monotonic() + timeout
    last = Probe(False)
    while True:
        last = check()
        if last.up:
            return last
        if process is not None and process.poll() is not None:
            raise NotReady(
                f"{what} exited with code {process.returncode} before it was ready{_log_tail(log_file)}"
            )
        if time.monotonic() >= deadline:
            raise NotReady(f"{what} was not ready after {timeout:.0f}s ({last.detail}){_log_tail(log_file)}")
        time.sleep(interval)


def _log_tail(log_file: Path | None, lines: int = 15) -> str:
    if log_file is None:
        return ""
    try:
        text = log_file.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
    if not text:
        return ""
    tail = "\n".join(text.splitlines()[-lines:])
    return f"; its log ({log_file}) ends with:\n{tail}"
