"""Engine-free protocol types: a parsed HTTP request in, a reply out.

Nothing here knows about werkzeug or sockets; ``fake_lms.server.http`` adapts these to a real server.
"""

from __future__ import annotations

import json
import json.scanner
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fake_lms.scripting.intents import Pause


class BadJSON(ValueError):
    """The request body is not valid JSON."""


_UNSET: Any = object()
_DECODER = json.JSONDecoder()
_SCAN = json.scanner.make_scanner(_DECODER)  # the C scanner where there is one


def parse_json(text: str) -> Any:
    """``json.loads(text)``. A document that starts and ends with its value (as clients send
    them) goes straight to the scanner; anything else, errors included, through ``json``'s own
    decoder, so the result and the error messages are the same."""
    if text[:1] in ("{", "["):
        try:
            value, end = _SCAN(text, 0)
        except StopIteration:
            pass
        else:
            if end == len(text):
                return value
    return _DECODER.decode(text)


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
        """The body parsed as JSON (cached). Raises :class:`BadJSON`."""
        if self._json is _UNSET:
            if not self.body.strip():
                raise BadJSON("Unexpected end of JSON input")
            try:
                text = self.body.decode()  # UTF-8, as LM Studio's body parser reads it
                self._json = parse_json(text[1:] if text[:1] == "\ufeff" else text)
            except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # too deeply nested
                raise BadJSON(str(exc)) from None
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


StreamItem = SSEEvent | StreamControl | Pause  # Pause: a wait the transport performs


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

    def body_bytes(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return _ENCODER.encode(self.body).encode()

    def json(self) -> Any:
        """The body as JSON data: ``body``, or ``raw`` parsed (some handlers write JSON directly)."""
        if self.raw is not None:
            return json.loads(self.raw)
        return self.body

    def iter_stream(self) -> Iterator[StreamItem]:
        assert self.stream is not None
        return iter(self.stream)


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # one encoder, not one per call


def dumps(obj: Any) -> str:
    """Compact JSON as LM Studio (Express) writes it."""
    return _ENCODER.encode(obj)


json_str = json.encoder.encode_basestring
"""A string as a JSON string literal, non-ASCII kept: what :func:`dumps` writes for a ``str``."""
