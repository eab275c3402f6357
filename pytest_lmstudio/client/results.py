"""Typed values the client returns, each built from LM Studio's JSON by a ``from_api`` classmethod.

Every value keeps the JSON it came from in ``raw``. Parsing is lenient about extra or missing
optional fields (LM Studio versions differ) and strict only where a test would otherwise silently
read nothing: a chat completion without ``choices`` raises :class:`~pytest_lmstudio.errors.BadResponse`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_lmstudio.errors import BadResponse

__all__ = [
    "ChatResult",
    "CompletionResult",
    "DownloadStatus",
    "LoadResult",
    "LoadedInstance",
    "ModelInfo",
    "ReadyReport",
    "ReasoningDelta",
    "ResponseResult",
    "ServerVersion",
    "StreamEvent",
    "TextDelta",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    return float(value) if isinstance(value, (int, float)) else None


@dataclass(frozen=True)
class Usage:
    """Token counts. For ``/v1/responses`` ``input_tokens``/``output_tokens`` land in
    ``prompt_tokens``/``completion_tokens`` (aliases are provided)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    reasoning_tokens: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def input_tokens(self) -> int:
        return self.prompt_tokens

    @property
    def output_tokens(self) -> int:
        return self.completion_tokens

    @classmethod
    def from_api(cls, data: Any) -> Usage | None:
        if not isinstance(data, Mapping):
            return None
        prompt = _int(data.get("prompt_tokens"))
        if prompt is None:
            prompt = _int(data.get("input_tokens"))
        completion = _int(data.get("completion_tokens"))
        if completion is None:
            completion = _int(data.get("output_tokens"))
        prompt = prompt or 0
        completion = completion or 0
        total = _int(data.get("total_tokens"))
        details = data.get("completion_tokens_details") or data.get("output_tokens_details") or {}
        reasoning = _int(details.get("reasoning_tokens")) if isinstance(details, Mapping) else None
        return cls(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=prompt + completion if total is None else total,
            reasoning_tokens=reasoning,
            raw=dict(data),
        )


@dataclass(frozen=True)
class ToolCall:
    """One tool call. ``arguments`` is the parsed JSON object, or ``None`` when the model produced
    arguments that are not a JSON object (then look at ``arguments_json``, the raw string)."""

    id: str
    name: str
    arguments: dict[str, Any] | None
    arguments_json: str
    type: str = "function"

    @classmethod
    def from_parts(cls, *, id: str | None, name: str | None, arguments_json: str | None) -> ToolCall:
        raw_args = arguments_json or ""
        parsed: dict[str, Any] | None
        try:
            value = json.loads(raw_args) if raw_args.strip() else {}
            parsed = value if isinstance(value, dict) else None
        except ValueError:
            parsed = None
        return cls(id=id or "", name=name or "", arguments=parsed, arguments_json=raw_args)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ToolCall:
        function = data.get("function") or {}
        args = function.get("arguments")
        if isinstance(args, Mapping):  # tolerate servers that send an object
            args = json.dumps(args)
        return cls.from_parts(id=_str(data.get("id")), name=_str(function.get("name")), arguments_json=args)


def parse_structured(text: str, response_format: Any) -> Any:
    """The JSON value of ``text`` when a JSON response was asked for; ``None`` if it does not parse.

    When ``response_format`` is a pydantic model class the value is validated into an instance (the
    plain JSON is returned if validation fails, so a test can still see what came back)."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(response_format, type) and hasattr(response_format, "model_validate"):
        try:
            return response_format.model_validate(value)
        except Exception:
            return value
    return value


OPENAI_FORMAT_TYPES = ("json_schema", "json_object", "text")


def wants_json(response_format: Any) -> bool:
    """True when ``response_format`` asks for JSON: a pydantic model class, an OpenAI
    ``json_schema``/``json_object`` format, or a bare JSON schema (which the client wraps)."""
    if response_format is None:
        return False
    if isinstance(response_format, type) and hasattr(response_format, "model_json_schema"):
        return True
    if not isinstance(response_format, Mapping):
        return False
    return response_format.get("type") != "text"


@dataclass(frozen=True)
class ChatResult:
    """A chat completion: ``text`` ("" when the model only called tools), ``tool_calls``,
    ``parsed`` (the JSON value when ``response_format`` asked for JSON; a pydantic instance when a
    pydantic model class was given; ``None`` if the text is not valid JSON), ``reasoning`` (from
    ``reasoning_content`` or ``reasoning``), ``usage``, ``finish_reason``, ``model``, ``id``, ``raw``."""

    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    model: str | None = None
    usage: Usage | None = None
    parsed: Any = None
    reasoning: str | None = None
    id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def tool_call(self) -> ToolCall | None:
        """The first tool call, if any."""
        return self.tool_calls[0] if self.tool_calls else None

    @classmethod
    def from_api(cls, data: Any, *, response_format: Any = None) -> ChatResult:
        if not isinstance(data, Mapping):
            raise BadResponse(f"a chat completion must be a JSON object, got {type(data).__name__}")
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
            raise BadResponse(
                f"LM Studio returned a chat completion without choices: {json.dumps(data)[:300]}"
            )
        choice = choices[0]
        message = choice.get("message") or {}
        text = _str(message.get("content")) or ""
        reasoning = _str(message.get("reasoning_content")) or _str(message.get("reasoning")) or None
        calls = [ToolCall.from_api(c) for c in (message.get("tool_calls") or []) if isinstance(c, Mapping)]
        return cls(
            text=text,
            tool_calls=calls,
            finish_reason=_str(choice.get("finish_reason")),
            model=_str(data.get("model")),
            usage=Usage.from_api(data.get("usage")),
            parsed=parse_structured(text, response_format) if wants_json(response_format) else None,
            reasoning=reasoning,
            id=_str(data.get("id")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class TextDelta:
    """A piece of streamed answer text."""

    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """A piece of streamed reasoning (``delta.reasoning_content`` or ``delta.reasoning``)."""

    text: str


@dataclass(frozen=True)
class ToolCallDelta:
    """A streamed tool-call fragment: ``id``/``name`` on the first fragment of a call, then argument
    pieces. ``index`` says which call it belongs to."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


StreamEvent = TextDelta | ReasoningDelta | ToolCallDelta | ChatResult


@dataclass(frozen=True)
class CompletionResult:
    """A legacy text completion (``POST /v1/completions``)."""

    text: str
    finish_reason: str | None = None
    model: str | None = None
    usage: Usage | None = None
    id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Any) -> CompletionResult:
        if not isinstance(data, Mapping):
            raise BadResponse(f"a completion must be a JSON object, got {type(data).__name__}")
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
            raise BadResponse(f"LM Studio returned a completion without choices: {json.dumps(data)[:300]}")
        choice = choices[0]
        return cls(
            text=_str(choice.get("text")) or "",
            finish_reason=_str(choice.get("finish_reason")),
            model=_str(data.get("model")),
            usage=Usage.from_api(data.get("usage")),
            id=_str(data.get("id")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class ResponseResult:
    """A ``POST /v1/responses`` answer. ``output_text`` joins every ``output_text`` part of every
    ``message`` output item (or is the server's own ``output_text`` field when present)."""

    id: str
    output_text: str
    status: str | None = None
    model: str | None = None
    usage: Usage | None = None
    output: list[Any] = field(default_factory=list)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def tool_calls(self) -> list[ToolCall]:
        """``function_call`` output items as :class:`ToolCall` (``call_id`` becomes ``id``)."""
        calls = []
        for item in self.output:
            if isinstance(item, Mapping) and item.get("type") == "function_call":
                args = item.get("arguments")
                calls.append(
                    ToolCall.from_parts(
                        id=_str(item.get("call_id")) or _str(item.get("id")),
                        name=_str(item.get("name")),
                        arguments_json=args if isinstance(args, str) else json.dumps(args or {}),
                    )
                )
        return calls

    @classmethod
    def from_api(cls, data: Any) -> ResponseResult:
        if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
            raise BadResponse(f"LM Studio returned a response object without an id: {json.dumps(data)[:300]}")
        raw_output = data.get("output")
        output: list[Any] = raw_output if isinstance(raw_output, list) else []
        text = _str(data.get("output_text"))
        if text is None:
            pieces: list[str] = []
            for item in output:
                if not isinstance(item, Mapping) or item.get("type") != "message":
                    continue
                content = item.get("content")
                if isinstance(content, str):
                    pieces.append(content)
                    continue
                for part in content or []:
                    if isinstance(part, Mapping) and part.get("type") in ("output_text", "text"):
                        pieces.append(_str(part.get("text")) or "")
            text = "".join(pieces)
        return cls(
            id=data["id"],
            output_text=text,
            status=_str(data.get("status")),
            model=_str(data.get("model")),
            usage=Usage.from_api(data.get("usage")),
            output=list(output),
            raw=dict(data),
        )


@dataclass(frozen=True)
class ModelInfo:
    """A model as ``GET /api/v0/models`` describes it.

    ``type`` is ``llm``, ``vlm`` or ``embeddings``; ``state`` is ``loaded`` or ``not-loaded``. When the
    server has no native API and the list came from ``/v1/models``, only ``id`` is known and the other
    fields are ``None`` (``source`` says which endpoint answered)."""

    id: str
    type: str | None = None
    state: str | None = None
    publisher: str | None = None
    arch: str | None = None
    compatibility_type: str | None = None
    quantization: str | None = None
    max_context_length: int | None = None
    loaded_context_length: int | None = None
    capabilities: tuple[str, ...] = ()
    source: str = "/api/v0/models"
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_loaded(self) -> bool:
        return self.state == "loaded"

    @property
    def is_embedding(self) -> bool:
        return self.type == "embeddings"

    @classmethod
    def from_api(cls, data: Mapping[str, Any], *, source: str = "/api/v0/models") -> ModelInfo:
        caps = data.get("capabilities")
        return cls(
            id=str(data.get("id", "")),
            type=_str(data.get("type")),
            state=_str(data.get("state")),
            publisher=_str(data.get("publisher")),
            arch=_str(data.get("arch")),
            compatibility_type=_str(data.get("compatibility_type")),
            quantization=_str(data.get("quantization")),
            max_context_length=_int(data.get("max_context_length")),
            loaded_context_length=_int(data.get("loaded_context_length")),
            capabilities=tuple(c for c in caps if isinstance(c, str)) if isinstance(caps, list) else (),
            source=source,
            raw=dict(data),
        )


@dataclass(frozen=True)
class LoadedInstance:
    """One loaded model instance. ``id`` is the instance identifier (what requests and ``unload``
    take); ``key`` the model key. From ``GET /api/v1/models`` ``loaded_instances`` when available,
    else from ``/api/v0/models`` (then ``id == key``)."""

    id: str
    key: str
    type: str | None = None
    context_length: int | None = None
    display_name: str | None = None
    publisher: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    source: str = "/api/v1/models"


@dataclass(frozen=True)
class LoadResult:
    """``POST /api/v1/models/load`` answer."""

    instance_id: str
    type: str | None = None
    status: str | None = None
    load_time_seconds: float | None = None
    load_config: Mapping[str, Any] | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Any) -> LoadResult:
        if not isinstance(data, Mapping) or not isinstance(data.get("instance_id"), str):
            raise BadResponse(f"LM Studio's load answer has no instance_id: {json.dumps(data)[:300]}")
        config = data.get("load_config")
        return cls(
            instance_id=data["instance_id"],
            type=_str(data.get("type")),
            status=_str(data.get("status")),
            load_time_seconds=_float(data.get("load_time_seconds")),
            load_config=dict(config) if isinstance(config, Mapping) else None,
            raw=dict(data),
        )


@dataclass(frozen=True)
class DownloadStatus:
    """A download job's state: ``status`` is ``downloading``, ``paused``, ``completed``, ``failed`` or
    ``already_downloaded`` (then there is no ``job_id``)."""

    status: str
    job_id: str | None = None
    downloaded_bytes: int | None = None
    total_size_bytes: int | None = None
    bytes_per_second: float | None = None
    started_at: str | None = None
    completed_at: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def done(self) -> bool:
        return self.status in ("completed", "already_downloaded")

    @property
    def fraction(self) -> float | None:
        """Downloaded share 0..1, when sizes are known."""
        if self.status in ("completed", "already_downloaded"):
            return 1.0
        if self.downloaded_bytes is None or not self.total_size_bytes:
            return None
        return min(1.0, self.downloaded_bytes / self.total_size_bytes)

    @classmethod
    def from_api(cls, data: Any) -> DownloadStatus:
        if not isinstance(data, Mapping) or not isinstance(data.get("status"), str):
            raise BadResponse(f"LM Studio's download answer has no status: {json.dumps(data)[:300]}")
        return cls(
            status=data["status"],
            job_id=_str(data.get("job_id")),
            downloaded_bytes=_int(data.get("downloaded_bytes")),
            total_size_bytes=_int(data.get("total_size_bytes")),
            bytes_per_second=_float(data.get("bytes_per_second")),
            started_at=_str(data.get("started_at")),
            completed_at=_str(data.get("completed_at")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class ServerVersion:
    """``GET /lms-status``: ``{"package": ..., "version": ...}``."""

    version: str
    package: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class ReadyReport:
    """What :meth:`LMStudioClient.ensure_ready` did. ``actions`` is a subset of
    ``("downloaded", "loaded")`` in order; empty when the model was already loaded."""

    model: str
    instance_id: str
    actions: tuple[str, ...] = ()

    @property
    def downloaded(self) -> bool:
        return "downloaded" in self.actions

    @property
    def loaded(self) -> bool:
        """True when this call loaded the model (False when it was already loaded)."""
        return "loaded" in self.actions

    @property
    def already_loaded(self) -> bool:
        return not self.actions
