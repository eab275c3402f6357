"""Appending lines to a log file in batches, away from the request path.

A write to a file is a system call, and on a journaling filesystem a costly one; for the fake's
request log it was the single largest piece of per-request bookkeeping. ``BatchedAppender`` keeps
items in memory and writes their lines with one ``O_APPEND`` write per batch: from a background
thread within ``delay`` seconds of the first item of the batch, or at once on
:meth:`~BatchedAppender.flush` (which in-process readers call first). One write per batch keeps
lines whole even when other processes append to the same file.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import weakref
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
    to stderr.

    :meth:`close` writes what is queued and stops the writer thread; the appender stays usable (a
    server that stops and starts again keeps its log), and an item added later starts a writer
    again. The writer thread holds no strong reference to the appender, so an appender nobody
    closed can still be collected: what it still holds is written then (and at exit), and its
    thread ends."""

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
        self._pending: list[T] = []  # changed in place only: the finalizer below holds it too
        self._lock = threading.Lock()  # guards _pending and the writer thread's start and stop
        self._sink = _Sink(path)
        self._writer: _Writer | None = None
        # collected while holding lines, or still alive at exit: write them, close the file
        weakref.finalize(self, _write_remaining, self._sink, self._pending, self._lock, encode)

    def add(self, item: T) -> None:
        """Queue one item. Its line reaches the file within ``delay`` seconds."""
        with self._lock:
            self._pending.append(item)
            if len(self._pending) > 1:  # the writer is already due
                return
            writer = self._writer
            if writer is None:
                writer = self._writer = _Writer(self)
        writer.wake.set()

    def flush(self) -> None:
        """Write every queued line now."""
        with self._sink.lock:  # one writer at a time: batches land in order
            items = _take(self._pending, self._lock)
            if items:
                try:
                    self._sink.write(b"".join(self._encoded(items)))
                except OSError as exc:
                    self._report(exc)

    def close(self) -> None:
        """Write what is queued, stop the writer thread and close the file."""
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.stop()
        self.flush()
        with self._sink.lock:
            self._sink.close()

    # -- internals ---------------------------------------------------------------------------------
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


class _Sink:
    """The file side of an appender: its path, the descriptor, and the lock batches are written
    under. Kept apart so that what an appender leaves behind can still be written without it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self._fd: int | None = None

    def write(self, data: bytes) -> None:
        """Append ``data`` (call with :attr:`lock` held). Raises ``OSError``."""
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._file(), view) :]
        except OSError:  # e.g. the descriptor went bad: open the file again, write the rest once
            self.close()
            while view:
                view = view[os.write(self._file(), view) :]

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _file(self) -> int:
        """The descriptor to write to: the file now at ``path`` (one that was removed or replaced
        since the last batch, by a person or a log rotation, is opened anew; its directory too,
        but not the directories above it)."""
        if self._fd is not None:
            try:
                now, ours = os.stat(self.path), os.fstat(self._fd)
                if (now.st_ino, now.st_dev) != (ours.st_ino, ours.st_dev):
                    self.close()
            except OSError:
                self.close()
        if self._fd is None:
            self.path.parent.mkdir(exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return self._fd


def _take(pending: list[T], lock: threading.Lock) -> list[T]:
    with lock:
        items = pending[:]
        pending.clear()
    return items


def _write_remaining(
    sink: _Sink, pending: list[T], lock: threading.Lock, encode: Callable[[T], bytes]
) -> None:
    """An appender's lines still in memory when it was collected (or at exit), then its file closed."""
    with sink.lock:
        lines = []
        for item in _take(pending, lock):
            try:
                lines.append(encode(item))
            except Exception as exc:
                print(f"cannot append to {sink.path}: {exc!r}", file=sys.stderr)
        try:
            if lines:
                sink.write(b"".join(lines))
        except OSError as exc:
            print(f"cannot append to {sink.path}: {exc!r}", file=sys.stderr)
        finally:
            sink.close()


class _Writer:
    """The thread that writes an appender's batches. It keeps only a weak reference to the
    appender while it waits, so that an appender nobody closed can be collected."""

    def __init__(self, appender: BatchedAppender[T]) -> None:
        self.wake = threading.Event()  # set: a batch is due
        self.stopping = threading.Event()  # set: stop now
        ref = weakref.ref(appender, lambda _: self.stop(join=False))
        self.thread = threading.Thread(
            target=_write_batches,
            args=(ref, self.wake, self.stopping, appender.delay),
            name=f"log-writer:{appender.path.name}",
            daemon=True,
        )
        self.thread.start()

    def stop(self, join: bool = True) -> None:
        self.stopping.set()
        self.wake.set()
        if join and self.thread is not threading.current_thread():
            self.thread.join(timeout=5)


def _write_batches(
    ref: weakref.ref[BatchedAppender[T]], wake: threading.Event, stopping: threading.Event, delay: float
) -> None:
    while True:
        wake.wait()
        if stopping.is_set():
            return
        stopping.wait(delay)  # let the batch grow (stop() cuts this short)
        wake.clear()  # before taking the items: an item added after this wakes us again
        appender = ref()
        if appender is None:
            return
        appender.flush()
        del appender
        if stopping.is_set():  # (stop() may have come while we waited: its wake was cleared above)
            return
