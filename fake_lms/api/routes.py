"""The route table: (method, path) -> handler, plus a few patterned paths."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

from fake_lms.api import anthropic, errors, native_v0, native_v1, openai, responses
from fake_lms.api.types import Reply
from fake_lms.core.errors import CoreError

Handler = Callable[..., Reply]
Render = Callable[[CoreError], Reply]


class Route(NamedTuple):
    """A request's handler, its path parameters, and how its dialect renders a domain error (in a
    reply, and in a stream that has started)."""

    handler: Handler
    params: dict[str, Any]
    render: Render
    render_stream: Render


ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "/lmstudio-greeting"): native_v0.greeting,
    ("GET", "/lms-status"): native_v0.lms_status,
    ("GET", "/v1/models"): openai.list_models,
    ("POST", "/v1/chat/completions"): openai.chat_completions,
    ("POST", "/v1/completions"): openai.completions,
    ("POST", "/v1/embeddings"): openai.embeddings,
    ("POST", "/v1/responses"): responses.responses,
    ("POST", "/v1/messages"): anthropic.messages,
    ("GET", "/api/v0/models"): native_v0.v0_models,
    ("POST", "/api/v0/chat/completions"): native_v0.v0_chat,
    ("POST", "/api/v0/completions"): native_v0.v0_completions,
    ("POST", "/api/v0/embeddings"): native_v0.v0_embeddings,
    **native_v1.ROUTES,
}

PATTERN_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("GET", re.compile(r"/api/v0/models/(?P<model_id>.+)"), native_v0.v0_model_by_id),
    *native_v1.PATTERN_ROUTES,
]

# what each route is, in the words scripting and records use: (api, operation)
OPERATIONS: dict[str, tuple[str, str]] = {
    "/lmstudio-greeting": ("native_v0", "probe"),
    "/lms-status": ("native_v0", "probe"),
    "/v1/models": ("openai", "list"),
    "/v1/chat/completions": ("openai", "chat"),
    "/v1/completions": ("openai", "complete"),
    "/v1/embeddings": ("openai", "embed"),
    "/v1/responses": ("openai", "chat"),
    "/v1/messages": ("anthropic", "chat"),
    "/api/v0/models": ("native_v0", "list"),
    "/api/v0/chat/completions": ("native_v0", "chat"),
    "/api/v0/completions": ("native_v0", "complete"),
    "/api/v0/embeddings": ("native_v0", "embed"),
    "/api/v1/models": ("native_v1", "list"),
    "/api/v1/models/load": ("native_v1", "load"),
    "/api/v1/models/unload": ("native_v1", "unload"),
    "/api/v1/models/download": ("native_v1", "download"),
    "/api/v1/chat": ("native_v1", "chat"),
}


def classify(path: str) -> tuple[str | None, str | None]:
    """The (api, operation) of a request path: ``("openai", "chat")``; ``(None, None)`` for a
    path LM Studio does not serve."""
    found = OPERATIONS.get(path)
    if found is not None:
        return found
    if path.startswith("/api/v0/models/"):
        return "native_v0", "info"
    if path.startswith("/api/v1/models/download/status/"):
        return "native_v1", "download_status"
    return None, None


# probes that answer even when authentication is required
AUTH_EXEMPT = frozenset({"/lmstudio-greeting", "/lms-status"})


def renderer(path: str) -> Render:
    """The error shape of the dialect that serves ``path``."""
    if path.startswith("/api/v1/"):
        return errors.v1_error
    if path == "/v1/messages":
        return anthropic.render_error
    return errors.openai_error


def stream_renderer(path: str) -> Render:
    """How the dialect that serves ``path`` sends an error once a stream was asked for."""
    if path.startswith("/api/v1/"):
        return errors.v1_stream_error
    if path == "/v1/messages":
        return anthropic.render_stream_error
    return errors.openai_stream_error


def find(method: str, path: str) -> Route | None:
    handler = ROUTES.get((method, path))
    if handler is not None:
        return Route(handler, {}, renderer(path), stream_renderer(path))
    for route_method, pattern, pattern_handler in PATTERN_ROUTES:
        if route_method == method:
            match = pattern.fullmatch(path)
            if match:
                return Route(pattern_handler, match.groupdict(), renderer(path), stream_renderer(path))
    return None
