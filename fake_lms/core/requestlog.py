"""The request log ``<home>/server-logs/requests.jsonl``: one JSON line per request.

A line says what was asked and what came of it (method, path, status, model, duration, stream,
token counts, and the notes of a load, unload or download), never a body, a header or a token.
Each line is one ``O_APPEND`` write on a descriptor kept open, so lines from several processes
never interleave and a reader sees a request's line as soon as its reply is sent.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, NamedTuple

from fake_lms.core.jsonio import dumps, json_str


class LogEntry(NamedTuple):
    """What the request log says of one request (turned into a JSON line by :func:`log_line`)."""

    time: float
    method: str
    path: str
    status: int
    model: Any  # a str or None, or what a lifecycle request's body said
    seconds: float
    stream: bool
    usage: tuple[int, int] | None
    notes: dict[str, Any] | None


def log_line(entry: LogEntry) -> bytes:
    """The JSON line of one entry (what ``dumps`` of the record would give, built directly)."""
    model = json_str(entry.model) if isinstance(entry.model, str) else dumps(entry.model)  # any JSON value
    line = (
        f'{{"time":{entry.time:.6f},"method":{json_str(entry.method)},"path":{json_str(entry.path)},'
        f'"status":{entry.status},"model":{model},"duration_ms":{entry.seconds * 1000:.3f}'
    )
    if entry.stream:
        line += ',"stream":true'
    if entry.usage is not None:
        line += f',"prompt_tokens":{entry.usage[0]},"completion_tokens":{entry.usage[1]}'
    if entry.notes:
        line += "," + dumps(entry.notes)[1:]
        return (line + "\n").encode()
    return (line + "}\n").encode()


class LineAppender:
    """Appends whole lines to ``path``: one ``O_APPEND`` write each, on a descriptor kept open.

    A file removed or replaced since the last line (by a person, a log rotation, or a home
    created anew) is opened again at ``path``; so is its directory, but not those above it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None  # (inode, device) of the file _fd writes
        self._lock = threading.Lock()

    def append(self, line: bytes) -> None:
        """Write ``line`` (newline included). Raises ``OSError``."""
        with self._lock:  # held for the write too: a descriptor is never closed under a writer
            try:
                self._write(line)
            except OSError:  # the descriptor went bad: open the file again, try once more
                self._close()
                self._write(line)

    def _write(self, line: bytes) -> None:
        view = memoryview(line)
        fd = self._file()
        while view:  # more than one write only after a short write (a full disk)
            view = view[os.write(fd, view) :]

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def _file(self) -> int:
        """The descriptor, after one ``stat()`` of ``path`` checks that it is still the file the
        descriptor writes (whose identity was read once, when it was opened)."""
        if self._fd is not None:
            try:
                now = os.stat(self.path)
                if (now.st_ino, now.st_dev) != self._identity:
                    self._close()
            except OSError:
                self._close()
        if self._fd is None:
            self.path.parent.mkdir(exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            ours = os.fstat(fd)
            self._fd, self._identity = fd, (ours.st_ino, ours.st_dev)
        return self._fd
