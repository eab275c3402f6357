"""What a test's script does to a request, in no wire format.

The script decides *what* happens (fail with a status, drop the connection, pause the stream,
cut it, send garbage, end it with an error); each dialect decides how that looks on its wire (an
OpenAI error body or a v1 one, an SSE frame or a websocket message), and the transport performs
the pauses and cuts. Nothing here knows HTTP, SSE or sockets.

Before the request is routed (:meth:`fake_lms.scripting.rules.Script.before`):

    Fail              answer with this status (and LM Studio's body for it), or this body
    DropConnection    close the connection before a single byte
    NoModels          LM Studio's "No models loaded" error
    ContextOverflow   the context-length error
    ScriptBroke       a rule raised (a match callable): an internal error, the exception kept

When a download job starts (:meth:`fake_lms.scripting.rules.Script.download`):

    DownloadStop      the job stops after this many seconds: failed (with a message) or paused

In a stream (:func:`fake_lms.scripting.faults.shape_stream`), between the dialect's own events:

    Pause             wait this many seconds before the next event
    Cut               close the connection abruptly, without the stream's end
    Garbage           a frame that is not what the protocol promises (``data`` or the dialect's)
    StreamFailure     the dialect's mid-stream error event, then the end
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Fail:
    status: int
    message: str | None = None
    retry_after: float | None = None
    body: Any = None
    headers: Mapping[str, str] | None = None
    model: str | None = None  # the model the request named (a 404's message names it)


@dataclass(frozen=True)
class DropConnection:
    pass


@dataclass(frozen=True)
class NoModels:
    pass


@dataclass(frozen=True)
class ContextOverflow:
    message: str | None = None


@dataclass(frozen=True)
class ScriptBroke:
    message: str


BeforeIntent = Fail | DropConnection | NoModels | ContextOverflow | ScriptBroke


@dataclass(frozen=True)
class DownloadStop:
    """A download that stops ``after`` seconds in: ``outcome`` is ``"failed"`` or ``"paused"``."""

    outcome: str
    after: float = 0.0
    message: str | None = None  # why it failed (``None``: the fake's default text)


class StreamIntent:
    """Base of the intents a shaped stream carries between the dialect's events."""


@dataclass(frozen=True)
class Pause(StreamIntent):
    seconds: float


@dataclass(frozen=True)
class Cut(StreamIntent):
    pass


@dataclass(frozen=True)
class Garbage(StreamIntent):
    data: bytes | None = None  # None: the dialect's own malformed frame


@dataclass(frozen=True)
class StreamFailure(StreamIntent):
    message: str | None = None
