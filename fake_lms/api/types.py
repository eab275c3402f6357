"""Engine-free protocol types: a parsed HTTP request in, a reply out.

Nothing here knows about werkzeug or sockets; ``fake_lms.server.http`` adapts these to a real server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fake_lms.core.jsonio import dumps, json_str, parse_json
from fake_lms.core.slots import Claim
from fake_lms.scripting.intents import Pause, StreamIntent

__all__ = [
    "ApiRequest",
    "BadJSON",
    "Disconnect",
    "Pause",
    "RawFrame",
    "Reply",
    "SSEEvent",
    "StreamControl",
    "StreamItem",
    "dumps",
    "json_str",
    "parse_json",
]


class BadJSON(ValueError):
    """The request body is not valid JSON."""


_UNSET: Any = object()
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # where a lone surrogate could hide


@dataclass(slots=True)
class ApiRequest:
    """An HTTP request as the protocol layer sees it."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)  # names lower-cased
    body: bytes = b""
    query: Mapping[str, str] = field(default_factory=dict)
    _json: Any = field(default=_UNSET, repr=False)
    record: Any = field(default=None, repr=False)  # the server's RequestRecord of it

    def json(self) -> Any:
        """The body parsed as JSON (cached). Raises :class:`BadJSON`, also for a string holding
        a lone surrogate (``"\\ud800"``): JavaScript accepts one, but it cannot be stored or sent
        back as UTF-8, so the fake refuses it before anything is changed (docs/fidelity.md)."""
        if self._json is _UNSET:
            if not self.body.strip():
                raise BadJSON("Unexpected end of JSON input")
            try:
                text = self.body.decode()  # UTF-8, as LM Studio's body parser reads it
                value = parse_json(text[1:] if text[:1] == "\ufeff" else text)
            except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # too deeply nested
                raise BadJSON(str(exc)) from None
            if _SURROGATE_ESCAPE.search(text):
                try:
                    dumps(value).encode()
                except UnicodeEncodeError:
                    raise BadJSON("a string holds a lone UTF-16 surrogate (\\ud800-\\udfff)") from None
            self._json = value
        return self._json

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)


@dataclass(frozen=True)
class SSEEvent:
    """One server-sent event. ``data`` is sent verbatim (already JSON-encoded or ``[DONE]``);
    ``token``: it carries generated text (a token, a reasoning token, tool-call arguments), which
    a scripted ``slow`` paces."""

    data: str
    event: str | None = None
    token: bool = False

    def encode(self) -> bytes:
        if self.event is None:
            return b"data: " + self.data.encode() + b"\n\n"
        return b"event: " + self.event.encode() + b"\ndata: " + self.data.encode() + b"\n\n"


class StreamControl:
    """Marker objects a stream may yield besides events, for the transport to perform."""


@dataclass(frozen=True)
class RawFrame(StreamControl):
    """Bytes written as they are (a malformed chunk, for instance)."""

    data: bytes


@dataclass(frozen=True)
class Disconnect(StreamControl):
    """Close the connection abruptly, without finishing the chunked body."""


# a script's stream intents are rendered by the app (api/intents.py); a Pause the transport performs
StreamItem = SSEEvent | StreamControl | StreamIntent


@dataclass(slots=True)
class Reply:
    """What the protocol layer answers: a JSON body, raw bytes, or an SSE stream."""

    status: int = 200
    body: Any = None
    stream: Iterable[StreamItem] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str | None = None
    # filled in for the request log
    model: str | None = None
    usage: tuple[int, int] | None = None  # (prompt tokens, completion tokens)
    notes: dict[str, Any] | None = None  # a load, unload or download: action, model key, instance
    delay: float = 0.0  # seconds the transport waits before sending a non-streamed reply
    claim: Claim | None = None  # the instance slot the transport holds while it sends the answer

    def body_bytes(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return dumps(self.body).encode()

    def json(self) -> Any:
        """The body as JSON data: ``body``, or ``raw`` parsed (some handlers write JSON directly)."""
        if self.raw is not None:
            return json.loads(self.raw)
        return self.body

    def iter_stream(self) -> Iterator[StreamItem]:
        assert self.stream is not None
        return iter(self.stream)
