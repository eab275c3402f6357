"""Fault definitions: what each injectable fault does to a request, as LM Studio-shaped replies and
stream controls (``Pause``, ``RawFrame``, ``Disconnect``) that ``fake_lms.server.http`` turns into real
pauses, raw bytes and abrupt connection shutdowns.

Three families, by when they act:

* **before routing** (``fake_lms.api.app`` calls ``Script.before``): ``status``, ``connection_reset``,
  ``no_models_loaded``, ``context_length_exceeded`` replace the reply; ``expire`` unloads the model
  first (as an idle TTL would), so the request JIT-loads it again.
* **on the stream** (``shape_stream``; streaming requests only): ``slow``, ``stall``,
  ``stream_cut``, ``malformed_chunk``, ``stream_error``. ``slow`` on a non-streaming request delays
  the whole reply by ``ttft``.
* **on the listener** (not request-triggered): connection refused, see
  ``FakeLMStudio.refuse_connections``.

Where LM Studio's exact behaviour is unconfirmed the OpenAI convention is used (docs/scripting.md).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fake_lms.api import errors
from fake_lms.api.types import Disconnect, Pause, RawFrame, Reply, SSEEvent, StreamItem, dumps
from fake_lms.core.errors import NO_MODELS_LOADED, NoModelsLoaded

# kind -> {parameter: default}; ``REQUIRED`` marks parameters without a default
REQUIRED: Any = object()
FAULT_PARAMS: dict[str, dict[str, Any]] = {
    "status": {"status": REQUIRED, "message": None, "retry_after": None, "body": None, "headers": None},
    "connection_reset": {},
    "no_models_loaded": {},
    "context_length_exceeded": {"message": None},
    "expire": {"model": None},
    "slow": {"ttft": None, "tokens_per_second": None},
    "stall": {"after": 1, "seconds": 1.0},
    "stream_cut": {"after": 1},
    "malformed_chunk": {"after": 1, "data": None},
    "stream_error": {"after": 1, "message": None},
}
BEFORE_ROUTING = frozenset(
    {"status", "connection_reset", "no_models_loaded", "context_length_exceeded", "expire"}
)
STREAM_FAULTS = frozenset({"slow", "stall", "stream_cut", "malformed_chunk", "stream_error"})
ALIASES = {"fail": "status", "reset": "connection_reset", "cut": "stream_cut", "malformed": "malformed_chunk"}

CONTEXT_LENGTH_MESSAGE = (
    "The number of tokens to keep from the initial prompt is greater than the context length. "
    "Try to load the model with a larger context length, or provide a shorter input."
)
STREAM_ERROR_MESSAGE = "The model has crashed without additional information. (Exit code: null)"
MALFORMED_CHUNK = b"data: {not json\n\n"


class FaultError(ValueError):
    """A fault description is invalid (unknown kind, unknown or bad parameter)."""


def _number(kind: str, name: str, value: Any, *, minimum: float = 0.0, allow_none: bool = True) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FaultError(f"fault {kind!r}: {name} must be a number, not {value!r}")
    if value < minimum:
        raise FaultError(f"fault {kind!r}: {name} must be >= {minimum:g}, not {value!r}")
    return value


def validate(kind: str, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Check a fault description; returns the canonical kind and its parameters with defaults."""
    kind = ALIASES.get(kind, kind)
    if kind not in FAULT_PARAMS:
        raise FaultError(f"unknown fault {kind!r}; known: {', '.join(sorted(FAULT_PARAMS))}")
    known = FAULT_PARAMS[kind]
    unknown = set(params) - set(known)
    if unknown:
        allowed = ", ".join(known) or "none"
        raise FaultError(
            f"fault {kind!r} got unknown parameter(s) {', '.join(sorted(unknown))}; allowed: {allowed}"
        )
    out = {}
    for name, default in known.items():
        if name in params:
            out[name] = params[name]
        elif default is REQUIRED:
            raise FaultError(f"fault {kind!r} needs {name!r}")
        else:
            out[name] = default
    if kind == "status":
        status = out["status"]
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise FaultError(f"fault 'status': status must be an HTTP status code, not {status!r}")
        _number(kind, "retry_after", out["retry_after"])
        if out["headers"] is not None and not isinstance(out["headers"], Mapping):
            raise FaultError("fault 'status': headers must be a mapping")
    if kind in ("stall", "stream_cut", "malformed_chunk", "stream_error"):
        after = out["after"]
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise FaultError(f"fault {kind!r}: after must be a number of chunks >= 0, not {after!r}")
    if kind == "stall":
        _number(kind, "seconds", out["seconds"], allow_none=False)
    if kind == "slow":
        _number(kind, "ttft", out["ttft"])
        tps = _number(kind, "tokens_per_second", out["tokens_per_second"])
        if tps is not None and tps <= 0:
            raise FaultError("fault 'slow': tokens_per_second must be > 0")
        if out["ttft"] is None and tps is None:
            raise FaultError("fault 'slow' needs ttft and/or tokens_per_second")
    if kind == "malformed_chunk" and out["data"] is not None and not isinstance(out["data"], (str, bytes)):
        raise FaultError("fault 'malformed_chunk': data must be str or bytes")
    return kind, out


# --------------------------------------------------------------------------------------------
# replies for faults that act before routing


def _retry_after_header(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def status_reply(
    status: int,
    *,
    message: str | None = None,
    retry_after: float | None = None,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    model: str | None = None,
) -> Reply:
    """An error reply with LM Studio's body for that status (OpenAI shape where unconfirmed)."""
    if body is not None:
        reply = Reply(status, body)
    elif status == 401:
        reply = errors.missing_token()
        if message:
            reply.body["error"]["message"] = message
    elif status == 404:
        shown = model or "unknown"
        reply = errors.oai(
            404,
            message or f'Model "{shown}" not found. Please specify a valid model.',
            param="model",
            code="model_not_found",
        )
    elif status == 500:
        reply = errors.internal_error(message or "Internal server error")
    elif status == 503:
        reply = errors.oai(
            503,
            message or "Service Unavailable: the server is busy. Please try again later.",
            type="server_error",
        )
    elif status == 429:
        reply = errors.oai(
            429, message or "Too many requests. Please try again later.", type="rate_limit_error"
        )
    elif status == 400:
        reply = errors.oai(400, message or "Bad Request")
    else:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        reply = errors.oai(
            status, message or phrase, type="server_error" if status >= 500 else "invalid_request_error"
        )
    if retry_after is not None:
        reply.headers["Retry-After"] = _retry_after_header(retry_after)
    if headers:
        reply.headers.update({str(k): str(v) for k, v in headers.items()})
    return reply


def connection_reset_reply() -> Reply:
    """Close the connection before sending a single byte."""
    return Reply(200, stream=[Disconnect()])


def no_models_loaded_reply(path: str) -> Reply:
    reply = errors.openai_error(NoModelsLoaded())
    if path.startswith("/api/v1/"):
        reply = errors.v1(400, NO_MODELS_LOADED, param="model")
    return reply


def context_length_reply(message: str | None = None) -> Reply:
    """HTTP 400, OpenAI shape with code ``context_length_exceeded`` and llama.cpp's sentence."""
    return errors.oai(
        400, message or CONTEXT_LENGTH_MESSAGE, param="messages", code="context_length_exceeded"
    )


# --------------------------------------------------------------------------------------------
# stream shaping


@dataclass(frozen=True)
class StreamFault:
    kind: str
    params: Mapping[str, Any]


def is_token_event(event: SSEEvent) -> bool:
    """Does this event carry generated text (a token, a reasoning token or tool-call arguments)?"""
    if event.event is not None:
        return event.event.endswith(".delta")
    if event.data.startswith("[DONE]"):
        return False
    try:
        data = json.loads(event.data)
    except ValueError:
        return False
    choices = data.get("choices") if isinstance(data, dict) else None
    if not choices or not isinstance(choices[0], dict):
        return False
    choice = choices[0]
    delta = choice.get("delta")
    if isinstance(delta, dict):
        return any(delta.get(k) for k in ("content", "reasoning_content", "reasoning", "tool_calls"))
    return bool(choice.get("text"))


def stream_error_event(message: str | None) -> SSEEvent:
    return SSEEvent(
        dumps(
            {
                "error": {
                    "message": message or STREAM_ERROR_MESSAGE,
                    "type": "internal_error",
                    "param": None,
                    "code": None,
                }
            }
        )
    )


def shape_stream(events: Iterator[StreamItem], faults: Sequence[StreamFault]) -> Iterator[StreamItem]:
    """Apply stream faults to an event stream.

    ``after=N`` counts SSE events already sent (for chat completions one event is one chunk); a
    fault whose ``after`` is beyond the end of the stream acts just before the last event
    (``[DONE]``, or ``response.completed``), so a cut stream never completes. ``slow`` schedules
    token events at ``start + ttft + i / tokens_per_second`` (``ttft`` defaults to one token
    interval); the other events are not delayed.
    """
    slow = [f for f in faults if f.kind == "slow"]
    ttft = None
    tps = None
    for f in slow:  # several slow faults: the slowest setting wins
        if f.params.get("ttft") is not None:
            ttft = max(ttft or 0.0, float(f.params["ttft"]))
        if f.params.get("tokens_per_second") is not None:
            tps = min(tps or math.inf, float(f.params["tokens_per_second"]))
    if ttft is None and tps is not None:
        ttft = 1.0 / tps
    pending = sorted(
        (f for f in faults if f.kind != "slow"), key=lambda f: (f.params["after"], f.kind != "stall")
    )
    started: float | None = None
    sent = 0
    tokens = 0
    iterator = iter(events)
    upcoming = next(iterator, None)
    while upcoming is not None:
        item = upcoming
        upcoming = next(iterator, None)
        if started is None:
            started = time.monotonic()
        if not isinstance(item, SSEEvent):
            yield item
            continue
        last_event = upcoming is None  # a fault not yet due acts before the final event
        while pending and (pending[0].params["after"] <= sent or last_event):
            fault = pending.pop(0)
            if fault.kind == "stall":
                yield Pause(float(fault.params["seconds"]))
            elif fault.kind == "malformed_chunk":
                data = fault.params.get("data")
                if data is None:
                    yield RawFrame(MALFORMED_CHUNK)
                else:
                    yield RawFrame(data.encode() if isinstance(data, str) else data)
            elif fault.kind == "stream_cut":
                yield Disconnect()
                return
            elif fault.kind == "stream_error":
                yield stream_error_event(fault.params.get("message"))
                return
        if (ttft is not None or tps is not None) and is_token_event(item):
            due = started + (ttft or 0.0) + (tokens / tps if tps else 0.0)
            wait = due - time.monotonic()
            if wait > 0:
                yield Pause(wait)
            tokens += 1
        yield item
        sent += 1
