"""Reading the request fields the OpenAI-compatible dialects share (and Anthropic's reuses): the
JSON object body, optional integers, ``stop``, the numeric sampling fields. Each raises an
:class:`~fake_lms.api.errors.ApiError` carrying LM Studio's 400."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fake_lms.api import errors
from fake_lms.api.errors import ApiError
from fake_lms.api.types import ApiRequest


def object_body(req: ApiRequest) -> dict[str, Any]:
    """The JSON object body of a request, or an LM Studio-shaped 400."""
    try:
        body = req.json()
    except ValueError as exc:
        raise ApiError(errors.bad_json(req.path, str(exc))) from None
    if not isinstance(body, dict):
        raise ApiError(errors.invalid_field("Request body must be a JSON object"))
    return body


def opt_int(body: Mapping[str, Any], *names: str) -> int | None:
    for name in names:
        if name in body and body[name] is not None:
            value = body[name]
            if isinstance(value, bool) or not isinstance(value, int) or (value < 0 and value != -1):
                raise ApiError(errors.invalid_field(f"'{name}' must be a positive integer or -1", name))
            return None if value == -1 else value
    return None


def stop_list(body: Mapping[str, Any]) -> list[str]:
    stop = body.get("stop")
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return stop
    raise ApiError(errors.invalid_field("'stop' must be a string or an array of strings", "stop"))


NUMERIC_SAMPLING_FIELDS = (  # the order errors are reported in
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "presence_penalty",
    "frequency_penalty",
    "repeat_penalty",
    "seed",
)
_NUMERIC_SAMPLING_SET = frozenset(NUMERIC_SAMPLING_FIELDS)


def sampling(body: Mapping[str, Any]) -> None:
    """Every numeric sampling field the request sets is a number (LM Studio's 400 otherwise)."""
    if _NUMERIC_SAMPLING_SET.isdisjoint(body):
        return
    for name in NUMERIC_SAMPLING_FIELDS:
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ApiError(errors.invalid_field(f"'{name}' must be a number", name))
