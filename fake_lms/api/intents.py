"""How the REST dialects render a test script's intents (``fake_lms.scripting.intents``): error
replies with LM Studio's bodies, and the transport items a shaped stream becomes.

Where LM Studio's exact body is unconfirmed the OpenAI convention is used (docs/scripting.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from http import HTTPStatus
from typing import Any

from fake_lms.api import errors
from fake_lms.api.types import Disconnect, RawFrame, Reply, SSEEvent, StreamItem, dumps
from fake_lms.core.errors import CONTEXT_LENGTH_MESSAGE, MODEL_CRASHED_MESSAGE, CoreError, NoModelsLoaded
from fake_lms.scripting.intents import (
    BeforeIntent,
    ContextOverflow,
    Cut,
    DropConnection,
    Fail,
    Garbage,
    NoModels,
    ScriptBroke,
    StreamFailure,
)

MALFORMED_CHUNK = b"data: {not json\n\n"


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
        if retry_after < 1:
            # the openai SDKs ignore a Retry-After of 0 (and round nothing below a second) and
            # back off 0.5-8 s instead; they read retry-after-ms first, so a scripted "retry at
            # once" costs a millisecond, not seconds (docs/scripting.md)
            reply.headers["retry-after-ms"] = _retry_after_header(max(1.0, retry_after * 1000))
    if headers:
        reply.headers.update({str(k): str(v) for k, v in headers.items()})
    return reply


def before_reply(intent: BeforeIntent, render: Callable[[CoreError], Reply]) -> Reply:
    """The reply for an intent that acts before routing; ``render``: the dialect's error shape."""
    if isinstance(intent, Fail):
        return status_reply(
            intent.status,
            message=intent.message,
            retry_after=intent.retry_after,
            body=intent.body,
            headers=intent.headers,
            model=intent.model,
        )
    if isinstance(intent, DropConnection):
        return Reply(200, stream=[Disconnect()])  # closed before a single byte
    if isinstance(intent, NoModels):
        return render(NoModelsLoaded())
    if isinstance(intent, ContextOverflow):
        return errors.oai(
            400, intent.message or CONTEXT_LENGTH_MESSAGE, param="messages", code="context_length_exceeded"
        )
    assert isinstance(intent, ScriptBroke)
    return errors.internal_error(intent.message)


def stream_error_event(message: str | None) -> SSEEvent:
    error = {"message": message or MODEL_CRASHED_MESSAGE, "type": "internal_error", "param": None}
    return SSEEvent(dumps({"error": {**error, "code": None}}))


def render_stream(items: Iterable[Any]) -> Iterator[StreamItem]:
    """A dialect's SSE events with the script's stream intents turned into what the transport
    sends: a pause, raw bytes, an abrupt close, the OpenAI-style error event."""
    for item in items:
        if isinstance(item, Garbage):
            yield RawFrame(MALFORMED_CHUNK if item.data is None else item.data)
        elif isinstance(item, Cut):
            yield Disconnect()
        elif isinstance(item, StreamFailure):
            yield stream_error_event(item.message)
        else:  # the dialect's own events, pauses and transport controls
            yield item
