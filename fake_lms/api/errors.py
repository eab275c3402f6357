"""LM Studio's error bodies, in one place (spec: lmstudio-surface.md §3).

LM Studio uses two shapes: the OpenAI shape ``{"error": {"message", "type", "param", "code"}}``
and a bare string ``{"error": "..."}``; the native v1 API uses ``type`` values of its own.
Where LM Studio's exact body is unconfirmed we follow the OpenAI convention (docs/fidelity.md).
"""

from __future__ import annotations

from typing import Any

from fake_lms.api.types import Reply, SSEEvent, dumps
from fake_lms.core.errors import NO_MODELS_LOADED, CoreError

__all__ = ["NO_MODELS_LOADED", "ApiError", "openai_error", "v1_error"]
AUTH_DOCS = "https://lmstudio.ai/docs/developer/core/authentication"


class ApiError(Exception):
    """Raised inside handlers; carries the reply to send."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.body)
        self.reply = reply


def oai(
    status: int,
    message: str,
    *,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> Reply:
    return Reply(status, {"error": {"message": message, "type": type, "param": param, "code": code}})


def plain(status: int, message: str) -> Reply:
    return Reply(status, {"error": message})


def v1(
    status: int,
    message: str,
    *,
    type: str = "invalid_request",
    code: str | None = None,
    param: str | None = None,
) -> Reply:
    error: dict[str, Any] = {"message": message, "type": type}
    if code is not None:
        error["code"] = code
    if param is not None:
        error["param"] = param
    return Reply(status, {"error": error})


def unexpected_endpoint(method: str, path: str) -> Reply:
    """LM Studio answers unknown routes and wrong methods with HTTP 200 (sic)."""
    return Reply(200, {"error": f"Unexpected endpoint or method. ({method} {path})"})


def messages_required() -> Reply:
    return plain(400, "'messages' field is required")


def field_required(name: str) -> Reply:
    return plain(400, f"'{name}' field is required")


def json_object_rejected() -> Reply:
    return plain(400, "'response_format.type' must be 'json_schema' or 'text'")


def openai_error(exc: CoreError) -> Reply:
    """A domain error in the OpenAI shape (the OpenAI-compatible and /api/v0 endpoints), or in LM
    Studio's bare-string shape where it uses that (a context overflow: llama.cpp's message passed
    on; an LLM asked to embed)."""
    if exc.bare:
        return plain(exc.status, exc.message)
    return oai(exc.status, exc.message, param=exc.param, code=exc.code)


def openai_stream_error(exc: CoreError) -> Reply:
    """A streamed request's error as LM Studio 0.4.21 sends it: HTTP 200, one error event."""
    error = {"message": exc.message, "type": "invalid_request_error", "param": exc.param, "code": exc.code}
    return Reply(200, stream=[SSEEvent(dumps({"error": error}))])


def v1_stream_error(exc: CoreError) -> Reply:
    """The same on ``/api/v1/chat``: its ``error`` event."""
    error = {"type": "invalid_request", "message": exc.message, "code": exc.code, "param": exc.param}
    return Reply(200, stream=[SSEEvent(dumps({"type": "error", "error": error}), event="error")])


def v1_error(exc: CoreError) -> Reply:
    """A domain error in the native v1 shape: ``type`` is LM Studio's own (``model_not_found``
    for an unknown model, ``invalid_request`` otherwise), ``code`` and ``param`` only if set."""
    kind = "model_not_found" if exc.code == "model_not_found" else "invalid_request"
    return v1(exc.status, exc.message, type=kind, code=exc.code, param=exc.param)


def bad_json(path: str, detail: str) -> Reply:
    return oai(400, f"Received request for {path} with invalid JSON: {detail}", code="invalid_json")


def invalid_field(message: str, param: str | None = None) -> Reply:
    return oai(400, message, param=param)


def missing_token() -> Reply:
    return Reply(
        401,
        {
            "error": {
                "type": "invalid_request",
                "code": "invalid_api_key",
                "message": "An LM Studio API token is required to make requests to this server, but none was "
                "provided using the Authorization header using the 'Bearer' scheme (i.e., "
                "'Authorization: Bearer $LM_API_TOKEN'). Learn more at: " + AUTH_DOCS + ".",
            }
        },
    )


def malformed_token() -> Reply:
    """LM Studio shows the first ~10 characters of the token here; the fake shows none (they may
    be part of a real secret and would land in test reports; docs/fidelity.md)."""
    return Reply(
        401,
        {
            "error": {
                "type": "invalid_request",
                "code": "invalid_api_key",
                "message": "Malformed LM Studio API token provided: ***... "
                "Ensure you are using a valid token.",
            }
        },
    )


def unknown_token() -> Reply:
    return Reply(
        401,
        {
            "error": {
                "type": "invalid_request",
                "code": "invalid_api_key",
                "message": "The provided LM Studio API token is not valid. It may have been revoked. "
                "Learn more at: " + AUTH_DOCS + ".",
            }
        },
    )


def internal_error(message: str) -> Reply:
    return oai(500, f"[Server Error] {message}", type="internal_error")
