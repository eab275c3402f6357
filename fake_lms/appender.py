"""Appending lines to a log file in batches, away from the request path.

A write to a file is a system call, and on a journaling filesystem a costly one; for the fake's
request log it was the single largest piece of per-request bookkeeping. ``BatchedAppender`` keeps
lines in memory and writes them with one ``O_APPEND`` write per batch: from a background thread
within ``delay`` seconds of the first line of the batch, or at once on :meth:`~BatchedAppender.flush`
(which in-process readers call first). One write per batch keeps lines whole even when other
processes append to the same file.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Generic, TypeVar

DEFAULT_DELAY = 0.02  # seconds a line may wait in memory
T = TypeVar("T")


class BatchedAppender(Generic[T]):
    """Appends lines to ``path`` in batches. Items are queued as they are and turned into lines
    (bytes, newline included) by ``encode`` when their batch is written, so that the queuing
    thread does next to nothing. ``on_error`` receives a write error (the lines of that batch
    are lost) or an error of ``encode`` (that item is left out); without it the error is printed
    to stderr."""

    def __init__(
        self,
        path: Path,
        *,
        encode: Callable[[T], bytes],
        delay: float = DEFAULT_DELAY,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self.path = path
        self.encode = encode
        self.delay = delay
        self.on_error = on_error
        self._pending: list[T] = []
        self._lock = threading.Lock()  # guards _pending
        self._write_lock = threading.Lock()  # one writer at a time: batches land in order
        self._wake = threading.Event()  # set: a batch is due
        self._stop = threading.Event()  # set: close() was called
        self._thread: threading.Thread | None = None
        self._closed = False
        self._fd: int | None = None

    def add(self, item: T) -> None:
        """Queue one item. Its line reaches the file within ``delay`` seconds."""
        with self._lock:
            self._pending.append(item)
            if len(self._pending) > 1:  # the writer is already due
                return
        if self._closed:
            self.flush()
            return
        if self._thread is None:
            self._start()
        self._wake.set()

    def flush(self) -> None:
        """Write every queued line now."""
        with self._write_lock:
            with self._lock:
                items, self._pending = self._pending, []
            if items:
                self._write(b"".join(self._encoded(items)))

    def close(self) -> None:
        """Write what is queued, stop the writer thread and close the file."""
        self._closed = True
        self._stop.set()
        thread = self._thread
        if thread is not None:
            self._wake.set()
            thread.join(timeout=5)
            self._thread = None
            atexit.unregister(self.flush)
        self.flush()
        with self._write_lock:
            self._close_file()

    # -- internals ---------------------------------------------------------------------------------
    def _start(self) -> None:
        with self._write_lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name=f"log-writer:{self.path.name}", daemon=True
            )
            self._thread.start()
            atexit.register(self.flush)  # a daemon thread is not waited for at exit

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait()
            if self._closed:
                return
            self._stop.wait(self.delay)  # let the batch grow (close() cuts this short)
            self._wake.clear()  # before taking the lines: a line added after this re-arms us
            self.flush()

    def _encoded(self, items: list[T]) -> Iterator[bytes]:
        for item in items:
            try:
                yield self.encode(item)
            except Exception as exc:  # one bad item must not take the batch (or the thread) down
                self._report(exc)

    def _report(self, exc: Exception) -> None:
        if self.on_error is not None:
            self.on_error(exc)
        else:
            print(f"cannot append to {self.path}: {exc!r}", file=sys.stderr)

    def _write(self, data: bytes) -> None:
        try:
            try:
                self._write_all(self._file(), data)
            except OSError:  # e.g. the descriptor went bad: open the file again, once
                self._close_file()
                self._write_all(self._file(), data)
        except OSError as exc:
            self._report(exc)

    @staticmethod
    def _write_all(fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    def _close_file(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def _file(self) -> int:
        """The descriptor to write to: the file now at ``path`` (one that was removed or replaced
        since the last batch, by a person or a log rotation, is opened anew)."""
        if self._fd is not None:
            try:
                now, ours = os.stat(self.path), os.fstat(self._fd)
                if (now.st_ino, now.st_dev) != (ours.st_ino, ours.st_dev):
                    self._close_file()
            except OSError:
                self._close_file()
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return self._fd
