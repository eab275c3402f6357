"""The lock a fake LM Studio home's threads and processes share: ``flock`` on a lock file.

A home takes its state lock for every change of state: every JIT load and every test's reset, so
twice in a typical ``lmstudio_fake`` test. :class:`FileMutex` is ``fcntl.flock`` on a descriptor
opened for the hold and closed to release it (~10 µs), re-entrant per thread; filelock's
``FileLock``, used before, costs ~100 µs an acquire and release in its fork tracking and polling
(``benchmarks/README.md``). Both take the same ``flock``, so they exclude each other. Where
``fcntl`` does not exist (Windows) :class:`FileMutex` is filelock's ``FileLock``.

Each hold opens its own descriptor (close-on-exec, as Python opens every descriptor), so a program
a child process executes never inherits a hold. A process forked without exec (``multiprocessing``'s
default on Linux) would share the parent's hold for as long as it kept its copy of the descriptor:
every lock closes its copies in the child at fork time (``os.register_at_fork``), held or being
polled, and starts unlocked there, as filelock does.

Two lock objects on one file in one thread (two ``Home`` objects on one home, nested) wait for
each other until the timeout, as two filelock ``FileLock`` objects do.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from types import TracebackType

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["FileMutex", "LockTimeout"]


class LockTimeout(TimeoutError):
    """The lock stayed held elsewhere (another process, thread or lock object) for the whole timeout."""


_LOCKS: weakref.WeakSet[FileMutex] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for lock in list(_LOCKS):
        lock._after_fork()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


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
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._owner: int | None = None  # the thread holding it
        self._fd: int | None = None  # the descriptor of the hold
        self._polling_fd: int | None = None  # a descriptor not yet locked
        _LOCKS.add(self)

    def _after_fork(self) -> None:
        """In a forked child: close the copies of the parent's descriptors (a copy of a held one
        would keep the parent's hold alive after the parent released it); start unlocked."""
        for fd in (self._fd, self._polling_fd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._thread_lock = threading.RLock()
        self._depth, self._owner, self._fd, self._polling_fd = 0, None, None, None

    def acquire(self) -> None:
        if self._fallback is not None:  # pragma: no cover - Windows
            self._fallback.acquire()
            return
        deadline = time.monotonic() + self.timeout
        if not self._thread_lock.acquire(timeout=self.timeout):
            raise LockTimeout(f"{self.path}: held by another thread for {self.timeout:g} s")
        try:
            if self._depth == 0:
                self._lock_file(deadline)
                self._owner = threading.get_ident()
            self._depth += 1
        except BaseException:  # KeyboardInterrupt included: never keep a descriptor unaccounted for
            if self._depth == 0 and self._fd is not None:
                fd, self._fd = self._fd, None
                os.close(fd)
            self._thread_lock.release()
            raise

    def _lock_file(self, deadline: float) -> None:
        """Open the lock file and wait for its ``flock``; the descriptor becomes ``_fd``."""
        fd = self._polling_fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            delay = 0.001
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    self._fd, self._polling_fd = fd, None
                    return
                except BlockingIOError:
                    pass
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"{self.path}: still locked after {self.timeout:g} s, by another process or "
                        "another lock object on this file in this process"
                    )
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        except BaseException:
            self._polling_fd = None
            os.close(fd)
            raise

    def release(self) -> None:
        if self._fallback is not None:  # pragma: no cover - Windows
            self._fallback.release()
            return
        if self._depth <= 0:
            raise RuntimeError(f"{self.path}: released more often than acquired")
        if self._owner != threading.get_ident():
            raise RuntimeError(f"{self.path}: released by a thread that does not hold it")
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
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
