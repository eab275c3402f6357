"""Polling in tests: wait until something the code under test does in the background is true."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(
    condition: Callable[[], object],
    *,
    timeout: float = 5.0,
    interval: float = 0.005,
    ignore: tuple[type[BaseException], ...] = (),
) -> bool:
    """Call ``condition`` until it is true (``True``) or ``timeout`` seconds passed (``False``).
    Exceptions of the ``ignore`` types count as "not yet" (a server still restarting, say)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return True
        except ignore:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
