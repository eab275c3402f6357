"""Polling in tests: wait until something the code under test does in the background is true."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def _poll(
    condition: Callable[[], T], timeout: float, interval: float, ignore: tuple[type[BaseException], ...]
) -> tuple[bool, T | None]:
    """Call ``condition`` until it returns a true value (``(True, value)``) or ``timeout`` seconds
    passed (``(False, None)``)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
            if value:
                return True, value
        except ignore:
            pass
        if time.monotonic() >= deadline:
            return False, None
        time.sleep(interval)


def wait_for(
    condition: Callable[[], object],
    *,
    timeout: float = 5.0,
    interval: float = 0.005,
    ignore: tuple[type[BaseException], ...] = (),
) -> bool:
    """Call ``condition`` until it is true (``True``) or ``timeout`` seconds passed (``False``).
    Exceptions of the ``ignore`` types count as "not yet" (a server still restarting, say)."""
    return _poll(condition, timeout, interval, ignore)[0]


def wait_value(condition: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.02) -> T:
    """The first true value ``condition`` returns; ``AssertionError`` after ``timeout`` seconds."""
    reached, value = _poll(condition, timeout, interval, ())
    if not reached:
        raise AssertionError(f"condition not reached in {timeout:g} s")
    return value  # type: ignore[return-value]  # a true value, never the None of a miss
