"""The lock a fake LM Studio home's threads and processes share: ``flock`` on a lock file.

A home takes its state lock for every change of state: every JIT load and every test's reset, so
twice in a typical ``lmstudio_fake`` test. :class:`FileMutex` is ``fcntl.flock`` on a descriptor
opened for the hold and closed to release it (~10 µs), re-entrant per thread; filelock's
``FileLock``, used before, costs ~100 µs an acquire and release in its fork tracking and polling
(``benchmarks/README.md``). Both take the same ``flock``, so they exclude each other. Where
``fcntl`` does not exist (Windows) :class:`FileMutex` is filelock's ``FileLock``.

Each hold opens its own descriptor (close-on-exec, as Python opens every descriptor), so a program
a child process executes never inherits a hold; a process forked (without exec) while a thread
held the lock closes its copy of the descriptor at its first acquire and starts unlocked.
"""

from __future__ import annotations

import os
import threading
import time
from types import TracebackType

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["FileMutex", "LockTimeout"]


class LockTimeout(TimeoutError):
    """The lock file stayed locked by another process for the whole timeout."""


class FileMutex:
    """An exclusive lock on ``path`` (created if missing) across processes and threads,
    re-entrant within a thread; ``acquire`` gives up after ``timeout`` seconds with
    :class:`LockTimeout`."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float) -> None:
        self.path = os.fspath(path)
        self.timeout = timeout
        self._fallback = None
        if fcntl is None:  # pragma: no cover - Windows
            from filelock import FileLock

            self._fallback = FileLock(self.path, timeout=timeout)
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    def acquire(self) -> None:
        if self._fallback is not None:  # pragma: no cover - Windows
            self._fallback.acquire()
            return
        if self._pid != os.getpid():  # forked: the parent's holds are not ours
            self._forget_inherited_hold()
        deadline = time.monotonic() + self.timeout
        if not self._thread_lock.acquire(timeout=self.timeout):
            raise LockTimeout(f"{self.path}: held by another thread for {self.timeout:g} s")
        try:
            if self._depth == 0:
                self._fd = self._lock_file(deadline)
            self._depth += 1
        except BaseException:  # KeyboardInterrupt included: never keep a descriptor unaccounted for
            if self._depth == 0 and self._fd is not None:
                fd, self._fd = self._fd, None
                os.close(fd)
            self._thread_lock.release()
            raise

    def _forget_inherited_hold(self) -> None:
        """In a forked child: a descriptor inherited from a parent that held the lock shares the
        parent's hold, which lasts until every copy is closed; close ours, start unlocked."""
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
        self._reset()

    def _lock_file(self, deadline: float) -> int:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            delay = 0.001
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return fd
                except BlockingIOError:
                    pass
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"{self.path}: still locked by another process after {self.timeout:g} s"
                    )
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        except BaseException:
            os.close(fd)
            raise

    def release(self) -> None:
        if self._fallback is not None:  # pragma: no cover - Windows
            self._fallback.release()
            return
        if self._depth <= 0:
            raise RuntimeError(f"{self.path}: released more often than acquired")
        self._depth -= 1
        if self._depth == 0:
            fd, self._fd = self._fd, None
            if fd is not None:
                os.close(fd)  # closing the only descriptor of the hold releases the flock
        self._thread_lock.release()

    @property
    def is_held(self) -> bool:
        """Whether this process holds the lock (from any of its threads)."""
        return self._fd is not None if self._fallback is None else self._fallback.is_locked

    def __enter__(self) -> FileMutex:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"FileMutex({self.path!r}, timeout={self.timeout:g})"
