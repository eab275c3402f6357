"""A change counter shared by every process that uses one fake LM Studio home.

The server reads the home's state several times per request, and another process (the fake
``lms``, a second server, a test) may have changed it a moment ago. Checking the state file
with ``stat()`` per request costs a system call each time; instead, every writer bumps a counter
kept in a small memory-mapped file after it writes, and readers compare it with the value they
last saw: a read of shared memory. Changes by other processes are seen at once.

Where the file cannot be mapped, :meth:`ChangeCounter.value` answers ``None`` and callers fall back
to ``stat()`` (mapping is tried again a second later).
"""

from __future__ import annotations

import mmap
import os
import time
from pathlib import Path

SIZE = 8  # one little-endian unsigned 64-bit counter
RETRY_SECONDS = 1.0  # after a failed mapping, callers fall back to stat() this long
_MASK = (1 << 64) - 1


class ChangeCounter:
    """The counter in ``path`` (created, zeroed, on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._map: mmap.mmap | None = None
        self._retry_at = 0.0  # after a failed mapping: when to try again

    def _mapping(self) -> mmap.mmap | None:
        if self._map is None and time.monotonic() >= self._retry_at:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    if os.fstat(fd).st_size < SIZE:  # new: extend with zeros (idempotent)
                        os.ftruncate(fd, SIZE)
                    self._map = mmap.mmap(fd, SIZE)
                finally:
                    os.close(fd)
            except (OSError, ValueError):  # e.g. no mmap here, or out of descriptors for now
                self._retry_at = time.monotonic() + RETRY_SECONDS
        return self._map

    def reopen(self) -> None:
        """Map the file again (it may have been replaced: a home removed and created anew). The
        old mapping is not closed here: another thread may be reading it this very moment; it
        goes away with its last reader."""
        self._map = None
        self._retry_at = 0.0

    def value(self) -> int | None:
        """The current count, or ``None`` when there is no shared counter here."""
        shared = self._mapping()
        return None if shared is None else int.from_bytes(shared[:SIZE], "little")

    def bump(self) -> int | None:
        """Count one change and return the new count. Call it with the home's lock held (two
        writers bumping at once would lose a count), after the change is on disk."""
        shared = self._mapping()
        if shared is None:
            return None
        count = (int.from_bytes(shared[:SIZE], "little") + 1) & _MASK
        shared[:SIZE] = count.to_bytes(SIZE, "little")
        return count

    def close(self) -> None:
        """Unmap the counter (only when no other thread uses this object any more)."""
        shared, self._map = self._map, None
        if shared is not None:
            shared.close()
