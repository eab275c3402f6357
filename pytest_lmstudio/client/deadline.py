"""A deadline for one whole request: from sending it to the last byte of its answer, streams included.

httpx's timeouts bound each network operation (each read), so a server that sends one byte every
few seconds never trips them. The drivers in :mod:`~pytest_lmstudio.client.clients` start a
:class:`Deadline` per request and check it whenever a piece of the answer arrives; the async driver
also cancels a wait that outlasts it. Flows never see the clock: this is the IO layer's job.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Deadline:
    """``seconds`` from now (``time.monotonic``)."""

    seconds: float
    at: float = field(default=0.0)

    @classmethod
    def start(cls, seconds: float) -> Deadline:
        return cls(seconds, time.monotonic() + seconds)

    def left(self) -> float:
        """Seconds left (never below 0)."""
        return max(0.0, self.at - time.monotonic())

    def passed(self) -> bool:
        return time.monotonic() >= self.at
