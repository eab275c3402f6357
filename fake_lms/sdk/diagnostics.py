"""The ``diagnostics`` namespace: the ``streamLogs`` channel (``lms log stream``, spec §6.5).

The channel polls the backend's log for new events every :data:`POLL_SECONDS` (a ``Wait`` the
transport performs) and ends when the client sends ``stop`` (or cancels)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fake_lms.sdk.protocol import Wait
from fake_lms.sdk.registry import Channel, Endpoints

POLL_SECONDS = 0.1


def stream_logs(channel: Channel) -> Iterator[Any]:
    _, cursor = channel.backend.logs_since(None)
    while not channel.cancelled:
        events, cursor = channel.backend.logs_since(cursor)
        for event in events:
            yield {"type": "log", "log": event}
        yield Wait(POLL_SECONDS)


ENDPOINTS = Endpoints(channels={"streamLogs": stream_logs})
