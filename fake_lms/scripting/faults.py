"""Fault definitions: what each injectable fault does to a request, as intents
(``fake_lms.scripting.intents``) that each dialect renders and the transport performs.

Three families, by when they act:

* **before routing** (``fake_lms.api.app`` calls ``Script.before``): ``status``, ``connection_reset``,
  ``no_models_loaded``, ``context_length_exceeded`` replace the reply; ``expire`` unloads the model
  first (as an idle TTL would), so the request JIT-loads it again.
* **on the stream** (``shape_stream``; streaming requests only): ``slow``, ``stall``,
  ``stream_cut``, ``malformed_chunk``, ``stream_error``. ``slow`` on a non-streaming request delays
  the whole reply by ``ttft``.
* **on a download** (``Script.download``, when a download job starts): ``download_failed`` and
  ``download_paused`` stop the job ``after`` seconds in, as a :class:`DownloadStop` the job keeps;
  ``model`` limits them to one model (any name that resolves to its key).
* **on the listener** (not request-triggered): connection refused, see
  ``FakeLMStudio.refuse_connections``.

Where LM Studio's exact behaviour is unconfirmed the OpenAI convention is used (docs/scripting.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from fake_lms.scripting.intents import Cut, Garbage, Pause, StreamFailure, StreamIntent

T = TypeVar("T")

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
    "download_failed": {"model": None, "after": 0.0, "message": None},
    "download_paused": {"model": None, "after": 0.0},
}
BEFORE_ROUTING = frozenset(
    {"status", "connection_reset", "no_models_loaded", "context_length_exceeded", "expire"}
)
STREAM_FAULTS = frozenset({"slow", "stall", "stream_cut", "malformed_chunk", "stream_error"})
DOWNLOAD_FAULTS = frozenset({"download_failed", "download_paused"})
ALIASES = {"fail": "status", "reset": "connection_reset", "cut": "stream_cut", "malformed": "malformed_chunk"}


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
    if kind in DOWNLOAD_FAULTS:
        _number(kind, "after", out["after"], allow_none=False)
        if out["model"] is not None and not isinstance(out["model"], str):
            raise FaultError(f"fault {kind!r}: model must be a model name, not {out['model']!r}")
        if out.get("message") is not None and not isinstance(out["message"], str):
            raise FaultError(f"fault {kind!r}: message must be a string")
    if kind == "malformed_chunk" and out["data"] is not None and not isinstance(out["data"], (str, bytes)):
        raise FaultError("fault 'malformed_chunk': data must be str or bytes")
    return kind, out


# --------------------------------------------------------------------------------------------
# stream shaping


@dataclass(frozen=True)
class StreamFault:
    kind: str
    params: Mapping[str, Any]


def shape_stream(events: Iterator[T], faults: Sequence[StreamFault]) -> Iterator[T | StreamIntent]:
    """Apply stream faults to an event stream.

    ``events`` are the dialect's (SSE events, websocket messages); one whose ``token`` attribute is
    true carries generated text. ``after=N`` counts events already sent (for chat completions one
    event is one chunk); a fault whose ``after`` is beyond the end of the stream acts just before
    the last event (``[DONE]``, or ``response.completed``), so a cut stream never completes.
    ``slow`` schedules token events at ``start + ttft + i / tokens_per_second`` (``ttft``
    defaults to one token interval); the other events are not delayed.
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
        if isinstance(item, StreamIntent):
            yield item
            continue
        last_event = upcoming is None  # a fault not yet due acts before the final event
        while pending and (pending[0].params["after"] <= sent or last_event):
            fault = pending.pop(0)
            if fault.kind == "stall":
                yield Pause(float(fault.params["seconds"]))
            elif fault.kind == "malformed_chunk":
                data = fault.params.get("data")
                yield Garbage(data.encode() if isinstance(data, str) else data)
            elif fault.kind == "stream_cut":
                yield Cut()
                return
            elif fault.kind == "stream_error":
                yield StreamFailure(fault.params.get("message"))
                return
        if (ttft is not None or tps is not None) and getattr(item, "token", False):
            due = started + (ttft or 0.0) + (tokens / tps if tps else 0.0)
            wait = due - time.monotonic()
            if wait > 0:
                yield Pause(wait)
            tokens += 1
        yield item
        sent += 1
