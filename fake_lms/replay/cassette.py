"""Cassette files: one YAML document per test, requests and responses as structured data.

A cassette holds *interactions*, oldest first. Each has a ``kind``; today every interaction is
``http`` (one REST request and its answer, an SSE stream included). The format leaves room for
other kinds (a websocket ``prediction`` channel, for one) beside it: a reader skips kinds it does
not know, and every kind carries its own ``request`` and ``response`` mappings.

Bodies are written as data when that reproduces the bytes exactly (JSON, in the encoding the
server used, checked when recorded), else as text, else as base64, so a replay is byte for byte.
Streams are lists of events, each with ``t``: seconds since the response began.

Writes are atomic (a temporary file beside the cassette, then a rename): an interrupted run
leaves the previous cassette or the new one, never half of one.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FORMAT_VERSION = 1
HEADER_COMMENT = (
    "# A pytest-lmstudio cassette: what a real LM Studio answered, replayed by the fake LM Studio.\n"
    "# Re-record with --lmstudio-record-mode=rewrite (or new_episodes to add missing exchanges).\n"
)


class CassetteError(ValueError):
    """A cassette file that cannot be read; ``str()`` names the file and the problem."""


# -- bodies: data when the bytes can be rebuilt from it, text or base64 otherwise -----------------

ENCODINGS: dict[str, Any] = {
    "compact": {"ensure_ascii": False, "separators": (",", ":")},  # Express, and the fake
    "compact-ascii": {"ensure_ascii": True, "separators": (",", ":")},
    "spaced": {"ensure_ascii": False},
    "indent2": {"ensure_ascii": False, "indent": 2},
}


def encode_json(value: Any, encoding: str = "compact") -> str:
    return json.dumps(value, **ENCODINGS[encoding])


def body_to_data(raw: bytes, *, prefer_json: bool = True) -> dict[str, Any]:
    """The cassette form of a body: ``{"json": value[, "encoding": e]}``, ``{"text": str}`` or
    ``{"base64": str}``; ``{}`` for an empty body. Always rebuilt byte for byte by :func:`data_to_body`."""
    if not raw:
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(raw).decode("ascii")}
    if prefer_json and text[:1] in ("{", "["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        else:
            for name in ENCODINGS:
                if encode_json(value, name) == text:
                    return {"json": value} if name == "compact" else {"json": value, "encoding": name}
    return {"text": text}


def request_body_to_data(raw: bytes) -> dict[str, Any]:
    """A request body as data: its JSON value whatever its spacing (requests are matched, never
    replayed, so their bytes need not be kept), else as :func:`body_to_data` keeps it."""
    try:
        text = raw.decode("utf-8").lstrip("\ufeff")
        if text.strip()[:1] in ("{", "["):
            return {"json": json.loads(text)}
    except ValueError:
        pass
    return body_to_data(raw)


def data_to_body(data: Mapping[str, Any]) -> bytes:
    if "json" in data:
        return encode_json(data["json"], str(data.get("encoding", "compact"))).encode("utf-8")
    if "text" in data:
        return str(data["text"]).encode("utf-8")
    if "base64" in data:
        return base64.b64decode(str(data["base64"]))
    return b""


def body_value(data: Mapping[str, Any]) -> Any:
    """The body as data for matching: the JSON value, else the text (``None`` when empty)."""
    if "json" in data:
        return data["json"]
    if "text" in data:
        return data["text"]
    if "base64" in data:
        return data["base64"]
    return None


# -- SSE events -----------------------------------------------------------------------------------


def split_events(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Complete SSE events (each with its blank-line terminator) at the start of ``buffer``, and the
    rest (an event still arriving)."""
    events: list[bytes] = []
    start = 0
    while True:
        candidates = [i for i in (buffer.find(b"\n\n", start), buffer.find(b"\r\n\r\n", start)) if i >= 0]
        if not candidates:
            return events, buffer[start:]
        end = min(candidates)
        end += 4 if buffer.startswith(b"\r\n\r\n", end) else 2
        events.append(buffer[start:end])
        start = end


def event_to_data(raw: bytes, t: float) -> dict[str, Any]:
    """One SSE event as cassette data: ``{t, event?, json|data}`` when the canonical form rebuilds it
    (``event: E`` / ``data: D`` lines), else ``{t, raw}`` (text or base64)."""
    item: dict[str, Any] = {"t": round(t, 4)}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        item["raw_base64"] = base64.b64encode(raw).decode("ascii")
        return item
    lines = text[:-2].split("\n") if text.endswith("\n\n") and "\r" not in text else None
    if lines is not None and 1 <= len(lines) <= 2:
        event: str | None = None
        if len(lines) == 2 and lines[0].startswith("event: "):
            event = lines[0][len("event: ") :]
            lines = lines[1:]
        if len(lines) == 1 and lines[0].startswith("data: "):
            payload = lines[0][len("data: ") :]
            if event is not None:
                item["event"] = event
            body = body_to_data(payload.encode("utf-8"))
            if "json" in body:
                item.update(body)
            else:
                item["data"] = payload
            if event_from_data(item) == raw:
                return item
            item = {"t": item["t"]}
    item["raw"] = text
    return item


def event_from_data(item: Mapping[str, Any]) -> bytes:
    if "raw" in item:
        return str(item["raw"]).encode("utf-8")
    if "raw_base64" in item:
        return base64.b64decode(str(item["raw_base64"]))
    payload = (
        encode_json(item["json"], str(item.get("encoding", "compact")))
        if "json" in item
        else str(item.get("data", ""))
    )
    head = f"event: {item['event']}\n" if item.get("event") is not None else ""
    return f"{head}data: {payload}\n\n".encode()


def event_payload(item: Mapping[str, Any]) -> Any:
    """An event's data as a value: the JSON, else the text (for drift and summaries)."""
    if "json" in item:
        return item["json"]
    if "data" in item:
        return item["data"]
    raw = str(item.get("raw", ""))
    values = [line[5:].lstrip() for line in raw.splitlines() if line.startswith("data:")]
    joined = "\n".join(values)
    try:
        return json.loads(joined)
    except ValueError:
        return joined


# -- interactions ---------------------------------------------------------------------------------


@dataclass
class Interaction:
    """One exchange. ``request``: method, path, query, headers, body. ``response``: status, headers,
    and a body (``json``/``text``/``base64``) or a ``stream`` of events."""

    request: dict[str, Any]
    response: dict[str, Any]
    kind: str = "http"
    extra: dict[str, Any] = field(default_factory=dict)  # what a newer writer added; kept as is

    @property
    def method(self) -> str:
        return str(self.request.get("method", "GET")).upper()

    @property
    def path(self) -> str:
        return str(self.request.get("path", "/"))

    @property
    def body(self) -> Any:
        """The request body as data (the JSON value, else text)."""
        return body_value(self.request.get("body") or {})

    @property
    def is_stream(self) -> bool:
        return "stream" in self.response

    @property
    def status(self) -> int:
        return int(self.response.get("status", 200))

    def response_headers(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in (self.response.get("headers") or {}).items()}

    def response_body(self) -> bytes:
        return data_to_body(self.response.get("body") or {})

    def events(self) -> list[dict[str, Any]]:
        return list(self.response.get("stream") or [])

    def iter_stream(self) -> Iterator[tuple[float, bytes]]:
        for item in self.events():
            yield float(item.get("t", 0.0)), event_from_data(item)

    def to_data(self) -> dict[str, Any]:
        return {"kind": self.kind, "request": self.request, "response": self.response, **self.extra}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Interaction:
        extra = {k: v for k, v in data.items() if k not in ("kind", "request", "response")}
        return cls(
            request=dict(data.get("request") or {}),
            response=dict(data.get("response") or {}),
            kind=str(data.get("kind", "http")),
            extra=extra,
        )


@dataclass
class Cassette:
    interactions: list[Interaction] = field(default_factory=list)
    path: Path | None = None

    def http(self) -> list[Interaction]:
        """The interactions this version replays (kinds it does not know are kept, not replayed)."""
        return [i for i in self.interactions if i.kind == "http"]

    def to_data(self) -> dict[str, Any]:
        return {"version": FORMAT_VERSION, "interactions": [i.to_data() for i in self.interactions]}

    def dump(self) -> str:
        return HEADER_COMMENT + yaml.dump(
            self.to_data(), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110
        )

    @classmethod
    def parse(cls, text: str, path: Path | None = None) -> Cassette:
        where = str(path) if path is not None else "cassette"
        try:
            data = yaml.load(text, Loader=_Loader)
        except yaml.YAMLError as exc:
            raise CassetteError(f"{where}: not valid YAML: {exc}") from None
        if data is None:
            return cls(path=path)
        if not isinstance(data, dict) or not isinstance(data.get("interactions", []), list):
            raise CassetteError(f"{where}: expected a mapping with an `interactions` list")
        version = data.get("version", FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise CassetteError(
                f"{where}: cassette format version {version!r} is newer than this pytest-lmstudio "
                f"reads ({FORMAT_VERSION}); upgrade pytest-lmstudio"
            )
        items = data.get("interactions") or []
        if not all(isinstance(i, dict) for i in items):
            raise CassetteError(f"{where}: every interaction must be a mapping")
        return cls([Interaction.from_data(i) for i in items], path=path)

    @classmethod
    def load(cls, path: Path) -> Cassette:
        return cls.parse(path.read_text(encoding="utf-8"), path)

    def save(self, path: Path | None = None, *, scrub: Iterable[str] = ()) -> Path:
        """Write atomically. Every string in ``scrub`` (secrets seen while recording) is replaced by
        ``<redacted>`` wherever it occurs, as a last guard."""
        target = path or self.path
        if target is None:
            raise ValueError("a cassette needs a path to be saved")
        text = self.dump()
        for secret in sorted(set(scrub), key=len, reverse=True):
            if len(secret) >= 4:
                text = text.replace(secret, "<redacted>")
        write_atomic(target, text.encode("utf-8"))
        self.path = target
        return target


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, flush it to disk, rename it over ``path``; the
    temporary file is removed if anything (a ``KeyboardInterrupt`` included) stops the write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# -- YAML: readable multi-line strings, plain data only ----------------------------------------------

_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Dumper(_BaseDumper):  # type: ignore[misc]
    pass


def _str(dumper: Any, value: str) -> Any:
    if "\n" in value and len(value) < 20000 and not value.endswith((" ", "\t")):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)
