"""The requests an application made to the fake, parsed, and assertions over them.

A :class:`RequestRecord` is one HTTP request as the test wants to see it: method, path, the model,
messages, tools, sampling fields and the raw JSON body, with headers in a case-insensitive mapping
whose credentials are redacted (``Authorization``, ``x-api-key``, ...), so a record can be printed,
logged or sent over the control API without leaking a token.

:func:`assert_called_with`, :func:`assert_called` and :func:`assert_not_called` fail with a message
that lists every request received, one line each (``method path model summary -> status``).
"""

from __future__ import annotations

import json as _json
import re
import time as _time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, cast

from fake_lms.model.engine import content_text


class HttpRequest(Protocol):
    """What a record is made from (``fake_lms.api.types.ApiRequest`` has this shape)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    query: Mapping[str, str]


REDACTED = "<redacted>"
# header names whose values are credentials (compared lower-case)
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie"})
_SECRET_NAME = re.compile(r"key|token|secret|auth|cookie|passw", re.IGNORECASE)


def is_secret(name: str) -> bool:
    """Header or query parameter names that carry credentials (``X-Goog-Api-Key``, ``?api_key=``)."""
    return name.lower() in SECRET_HEADERS or _SECRET_NAME.search(name) is not None


SAMPLING_FIELDS = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "seed",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "repeat_penalty",
    "logit_bias",
)
_MISSING: Any = object()


def redact(name: str, value: str) -> str:
    """``Bearer sk-...`` -> ``Bearer <redacted>``; other secret headers -> ``<redacted>``."""
    if not is_secret(name):
        return value
    scheme, sep, rest = value.partition(" ")
    if sep and rest.strip() and name.lower() in ("authorization", "proxy-authorization"):
        return f"{scheme} {REDACTED}"
    return REDACTED if value else value


class Headers(Mapping[str, str]):
    """Request headers: read-only, case-insensitive, credentials redacted."""

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        self._source: Any = items  # copied and redacted on first use: most records are never read
        self._built: dict[str, tuple[str, str]] | None = None

    @property
    def _items(self) -> dict[str, tuple[str, str]]:
        if self._built is None:
            pairs = self._source.items() if isinstance(self._source, Mapping) else self._source
            built: dict[str, tuple[str, str]] = {}
            for name, value in pairs:
                lowered = name.lower()
                built[lowered] = (name, redact(name, value) if is_secret(lowered) else value)
            self._built, self._source = built, None
        return self._built

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        return len(other) == len(self) and all(k in self and self[k] == v for k, v in other.items())

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


class RequestRecord:
    """One request received by the fake (oldest first in ``fake.requests``).

    ``api`` is the dialect that carried it (``openai``, ``anthropic``, ``native_v0``,
    ``native_v1``, ``sdk``) and ``operation`` what it asked (``chat``, ``complete``, ``embed``,
    ``list``, ``load``, ``unload``, ``download``, ...), ``None`` for a path LM Studio does not
    serve. ``json`` is the parsed body (``None`` when empty or not JSON), parsed on first use so
    that recording costs next to nothing; ``body`` the raw bytes; ``status`` the status answered
    (``None`` while in flight); ``faults`` the injected faults that acted on it; ``scripted``
    whether a scripted reply answered it."""

    def __init__(
        self,
        method: str,
        path: str,
        headers: Headers | None = None,
        json: Any = _MISSING,
        body: bytes = b"",
        query: dict[str, str] | None = None,
        time: float = 0.0,
        status: int | None = None,
        faults: list[str] | None = None,
        scripted: bool = False,
        api: str | None = None,
        operation: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.headers = headers if headers is not None else Headers()
        self._json = json
        self.body = body
        self.query = query if query is not None else {}
        self.time = time
        self.status = status
        self.faults = faults if faults is not None else []
        self.scripted = scripted
        self.api = api
        self.operation = operation

    @property
    def json(self) -> Any:
        if self._json is _MISSING:
            try:
                self._json = _json.loads(self.body) if self.body.strip() else None
            except (ValueError, UnicodeDecodeError, RecursionError):  # not JSON, or nested too deeply
                self._json = None
        return self._json

    def __repr__(self) -> str:
        return f"<RequestRecord {self.summary()}>"

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def from_api_request(
        cls, req: HttpRequest, *, api: str | None = None, operation: str | None = None
    ) -> RequestRecord:
        return cls(
            method=req.method,
            path=req.path,
            headers=Headers(req.headers),
            body=bytes(req.body),
            query={k: redact(k, v) for k, v in req.query.items()} if req.query else {},
            time=_time.time(),
            api=api,
            operation=operation,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (the control API's ``GET /__fake__/requests``)."""
        try:
            text = self.body.decode()
        except UnicodeDecodeError:
            text = self.body.decode("latin-1")
        return {
            "method": self.method,
            "path": self.path,
            "headers": [[name, value] for name, value in self.headers.items()],
            "json": self.json,
            "body": text,
            "query": self.query,
            "time": self.time,
            "status": self.status,
            "faults": list(self.faults),
            "scripted": self.scripted,
            "api": self.api,
            "operation": self.operation,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RequestRecord:
        headers = data.get("headers") or []
        return cls(
            method=data["method"],
            path=data["path"],
            headers=Headers([(str(k), str(v)) for k, v in headers]),
            json=data.get("json"),
            body=str(data.get("body") or "").encode(),
            query=dict(data.get("query") or {}),
            time=float(data.get("time") or 0.0),
            status=data.get("status"),
            faults=list(data.get("faults") or []),
            scripted=bool(data.get("scripted")),
            api=data.get("api"),
            operation=data.get("operation"),
        )

    # -- fields --------------------------------------------------------------------------------
    def get(self, name: str, default: Any = None) -> Any:
        """A top-level field of the JSON body."""
        return self.json.get(name, default) if isinstance(self.json, dict) else default

    @property
    def model(self) -> str | None:
        value = self.get("model")
        return value if isinstance(value, str) else None

    @property
    def messages(self) -> list[dict[str, Any]] | None:
        """Chat messages: ``messages`` of a chat request; for ``/v1/responses`` and ``/api/v1/chat``
        the ``instructions`` (as a system message) and ``input`` turned into chat messages."""
        messages = self.get("messages")
        if isinstance(messages, list):
            return messages
        value = self.get("input")
        if self.path.endswith("/embeddings") or value is None:
            return None
        out: list[dict[str, Any]] = []
        if isinstance(self.get("instructions"), str):
            out.append({"role": "system", "content": self.get("instructions")})
        if isinstance(self.get("system_prompt"), str):
            out.append({"role": "system", "content": self.get("system_prompt")})
        if isinstance(value, str):
            out.append({"role": "user", "content": value})
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, Mapping) and "role" in item:
                    out.append({"role": item["role"], "content": item.get("content")})
                elif isinstance(item, Mapping) and item.get("type") == "text":
                    out.append({"role": "user", "content": item.get("content")})
        return out

    @property
    def last_user_message(self) -> str | None:
        """Text of the last user message (the prompt of a completion, the input of embeddings)."""
        for message in reversed(self.messages or []):
            if isinstance(message, Mapping) and message.get("role") == "user":
                return content_text(message.get("content"))
        prompt = self.get("prompt")
        if isinstance(prompt, str):
            return prompt
        if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
            return "".join(prompt)
        value = self.get("input")
        if self.path.endswith("/embeddings"):
            if isinstance(value, str):
                return value
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return "\n".join(value)
        return None

    @property
    def tools(self) -> list[Any] | None:
        return cast("list[Any] | None", self.get("tools"))

    @property
    def tool_names(self) -> list[str]:
        names: list[str] = []
        tools = self.tools
        for tool in tools if isinstance(tools, list) else []:
            if isinstance(tool, Mapping):
                fn = tool.get("function")
                name = fn.get("name") if isinstance(fn, Mapping) else tool.get("name")
                if isinstance(name, str):
                    names.append(name)
        return names

    @property
    def tool_choice(self) -> Any:
        return self.get("tool_choice")

    @property
    def response_format(self) -> Any:
        """``response_format`` (chat) or ``text.format`` (responses)."""
        value = self.get("response_format")
        if value is None and isinstance(self.get("text"), Mapping):
            value = self.get("text").get("format")
        return value

    @property
    def stream(self) -> bool:
        return bool(self.get("stream"))

    @property
    def max_tokens(self) -> int | None:
        for name in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
            value = self.get(name)
            if value is not None:
                return cast("int", value)
        return None

    @property
    def temperature(self) -> Any:
        return self.get("temperature")

    @property
    def top_p(self) -> Any:
        return self.get("top_p")

    @property
    def top_k(self) -> Any:
        return self.get("top_k")

    @property
    def seed(self) -> Any:
        return self.get("seed")

    @property
    def stop(self) -> Any:
        return self.get("stop")

    @property
    def sampling(self) -> dict[str, Any]:
        """The sampling fields the request set (temperature, top_p, max_tokens, ...)."""
        out = {name: self.get(name) for name in SAMPLING_FIELDS if self.get(name) is not None}
        if self.max_tokens is not None:
            out["max_tokens"] = self.max_tokens
        return out

    def lookup(self, name: str) -> Any:
        """A property of this record, or else the top-level JSON field of that name."""
        if name in _RECORD_FIELDS:
            return getattr(self, name)
        return self.get(name)

    # -- display -------------------------------------------------------------------------------
    def summary(self) -> str:
        """``POST /v1/chat/completions qwen/qwen3-4b stream tools=[get_weather] "Hi" -> 200``."""
        parts = [self.method, self.path]
        if self.model:
            parts.append(self.model)
        if self.stream:
            parts.append("stream")
        if self.tool_names:
            parts.append(f"tools=[{','.join(self.tool_names)}]")
        if self.response_format:
            kind = self.response_format.get("type") if isinstance(self.response_format, Mapping) else "?"
            parts.append(f"format={kind}")
        text = self.last_user_message
        if text:
            text = " ".join(text.split())
            parts.append(_json.dumps(text if len(text) <= 60 else text[:59] + "…", ensure_ascii=False))
        if self.scripted:
            parts.append("[scripted]")
        if self.faults:
            parts.append(f"[fault: {', '.join(self.faults)}]")
        parts.append(f"-> {self.status if self.status is not None else '(in flight)'}")
        return " ".join(parts)

    def __str__(self) -> str:
        return self.summary()


_RECORD_FIELDS = frozenset(
    {
        "method",
        "path",
        "headers",
        "json",
        "body",
        "query",
        "time",
        "status",
        "faults",
        "scripted",
        "api",
        "operation",
        "model",
        "messages",
        "last_user_message",
        "tools",
        "tool_names",
        "tool_choice",
        "response_format",
        "stream",
        "max_tokens",
        "temperature",
        "top_p",
        "top_k",
        "seed",
        "stop",
        "sampling",
    }
)


class RequestLog:
    """Thread-safe, ordered (oldest first), optionally bounded list of records. Appending takes
    no lock (``deque.append`` is atomic); a snapshot taken while one happens is taken again."""

    def __init__(self, limit: int | None = None) -> None:
        self._items: deque[RequestRecord] = deque(maxlen=limit)
        self.dropped = 0  # records pushed out by the limit (oldest first) since the last clear

    def append(self, record: RequestRecord) -> None:
        if self._items.maxlen is not None and len(self._items) == self._items.maxlen:
            self.dropped += 1
        self._items.append(record)

    def clear(self) -> None:
        self._items.clear()
        self.dropped = 0

    def snapshot(self) -> list[RequestRecord]:
        while True:
            try:
                return list(self._items)
            except RuntimeError:  # "deque mutated during iteration": a request came in meanwhile
                continue

    def __len__(self) -> int:
        return len(self._items)


# --------------------------------------------------------------------------------------------
# matching records against expected fields


def _value_matches(name: str, actual: Any, expected: Any) -> bool:
    if isinstance(expected, re.Pattern):
        return (
            actual is not None
            and expected.search(actual if isinstance(actual, str) else str(actual)) is not None
        )
    if callable(expected) and not isinstance(expected, type):
        return bool(expected(actual))
    if name == "headers" and isinstance(expected, Mapping):
        return all(
            key in actual and _value_matches("header", actual[key], value) for key, value in expected.items()
        )
    if isinstance(expected, tuple) and isinstance(actual, list):
        expected = list(expected)
    return bool(actual == expected)


def _names_only(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, str) for v in value)


def mismatches(record: RequestRecord, fields: Mapping[str, Any]) -> list[str]:
    """The fields of ``record`` that differ from ``fields``, as ``name=actual`` strings."""
    out = []
    for name, expected in fields.items():
        actual = record.lookup(name)
        if name == "tools" and _names_only(expected):
            actual = record.tool_names if record.tools is not None else None
            expected = list(expected)
        if not _value_matches(name, actual, expected):
            shown = repr(actual)
            out.append(f"{name}={shown if len(shown) <= 120 else shown[:119] + '…'}")
    return out


def filter_records(records: Iterable[RequestRecord], fields: Mapping[str, Any]) -> list[RequestRecord]:
    return [r for r in records if not mismatches(r, fields)]


def _describe_fields(fields: Mapping[str, Any]) -> str:
    parts = []
    for name, value in fields.items():
        if isinstance(value, re.Pattern):
            parts.append(f"{name}=re.compile({value.pattern!r})")
        else:
            shown = repr(value)
            parts.append(f"{name}={shown if len(shown) <= 120 else shown[:119] + '…'}")
    return ", ".join(parts) or "(any request)"


def describe_requests(records: Sequence[RequestRecord], fields: Mapping[str, Any] | None = None) -> str:
    """One line per request, numbered; with ``fields``, what differed from them."""
    if not records:
        return "  (no requests were received)"
    lines = []
    for i, record in enumerate(records, 1):
        line = f"  {i}. {record.summary()}"
        if fields:
            diff = mismatches(record, fields)
            if diff:
                line += f"   <- differs: {', '.join(diff)}"
        lines.append(line)
    return "\n".join(lines)


def _check_fields(fields: Mapping[str, Any]) -> None:
    if "times" in fields:
        raise TypeError("'times' is an argument of assert_called(), not a request field")


def assert_called_with(records: Sequence[RequestRecord], **fields: Any) -> RequestRecord:
    """Some request matched every given field; returns the last one that did.

    Field values compare with ``==``; a compiled regex searches the value, a callable is a
    predicate, ``headers={...}`` checks only the given headers (case-insensitively) and
    ``tools=["name", ...]`` compares tool names. Any other name is looked up in the JSON body.
    """
    _check_fields(fields)
    found = filter_records(records, fields)
    if not found:
        raise AssertionError(
            f"expected a request with {_describe_fields(fields)}; none of the {len(records)} "
            f"request(s) received matched:\n{describe_requests(records, fields)}"
        )
    return found[-1]


def assert_called(
    records: Sequence[RequestRecord], times: int | None = None, **fields: Any
) -> list[RequestRecord]:
    """At least one request (``times=None``) or exactly ``times`` requests matched the fields."""
    _check_fields(fields)
    found = filter_records(records, fields)
    if (times is None and not found) or (times is not None and len(found) != times):
        wanted = "at least 1 request" if times is None else f"{times} request(s)"
        raise AssertionError(
            f"expected {wanted} with {_describe_fields(fields)}, got {len(found)}; "
            f"{len(records)} request(s) received:\n{describe_requests(records, fields)}"
        )
    return found


def assert_not_called(records: Sequence[RequestRecord], **fields: Any) -> None:
    """No request matched the fields."""
    _check_fields(fields)
    found = filter_records(records, fields)
    if found:
        raise AssertionError(
            f"expected no request with {_describe_fields(fields)}, got {len(found)}; "
            f"{len(records)} request(s) received:\n{describe_requests(records)}"
        )


Predicate = Callable[[RequestRecord], bool]
