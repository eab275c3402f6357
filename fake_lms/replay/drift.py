"""How a model's behaviour changed between two recordings of the same request.

The answer of each recording is reduced to what an application depends on: the text, the tool
calls (name and arguments), the shape of structured output (the JSON value's keys and types), the
finish reason and the token usage. Each dialect's JSON and SSE forms are read: OpenAI chat and
completions (also ``/api/v0``), the Responses API and Anthropic messages.

The kinds of change, as the run's summary words them: ``text only``, ``tool calls changed``,
``structured-output shape changed``, ``finish reason changed``, ``usage changed by more than 20%``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fake_lms.replay.cassette import Interaction, body_value, event_payload
from fake_lms.replay.matching import Request, one_line

USAGE_TOLERANCE = 0.20


@dataclass
class Answer:
    text: str = ""
    tool_calls: list[tuple[str, str]] = field(default_factory=list)  # (name, arguments as JSON text)
    finish: str | None = None
    usage: int | None = None  # total tokens

    def shape(self) -> Any:
        """The structured-output shape of the text, or ``None`` when it is not a JSON value."""
        text = self.text.strip()
        if not text or text[0] not in "[{":
            return None
        try:
            return shape_of(json.loads(text))
        except ValueError:
            return None


def shape_of(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: shape_of(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        shapes = []
        for item in value:
            s = shape_of(item)
            if s not in shapes:
                shapes.append(s)
        return shapes
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    return "string"


def _args(value: Any) -> str:
    if isinstance(value, str):
        try:
            return json.dumps(json.loads(value), sort_keys=True)
        except ValueError:
            return value
    return json.dumps(value, sort_keys=True)


def _total(usage: Any) -> int | None:
    if not isinstance(usage, dict):
        return None
    if isinstance(usage.get("total_tokens"), int):
        return int(usage["total_tokens"])
    parts = [usage.get(k) for k in ("prompt_tokens", "completion_tokens", "input_tokens", "output_tokens")]
    numbers = [int(p) for p in parts if isinstance(p, int)]
    return sum(numbers) if numbers else None


def _chat(body: dict[str, Any], answer: Answer) -> None:
    choices = body.get("choices") or []
    if choices and isinstance(choices[0], dict):
        choice = choices[0]
        message = choice.get("message") or {}
        answer.text = str(message.get("content") or choice.get("text") or "")
        for call in message.get("tool_calls") or []:
            fn = call.get("function") or {}
            answer.tool_calls.append((str(fn.get("name")), _args(fn.get("arguments"))))
        answer.finish = choice.get("finish_reason")
    answer.usage = _total(body.get("usage"))


def _responses(body: dict[str, Any], answer: Answer) -> None:
    texts = []
    for item in body.get("output") or []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "message":
            texts += [str(c.get("text", "")) for c in item.get("content") or [] if isinstance(c, dict)]
        elif item.get("type") == "function_call":
            answer.tool_calls.append((str(item.get("name")), _args(item.get("arguments"))))
    answer.text = "".join(texts)
    answer.finish = body.get("status")
    answer.usage = _total(body.get("usage"))


def _anthropic(body: dict[str, Any], answer: Answer) -> None:
    texts = []
    for block in body.get("content") or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            texts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_use":
            answer.tool_calls.append((str(block.get("name")), _args(block.get("input"))))
    answer.text = "".join(texts)
    answer.finish = body.get("stop_reason")
    answer.usage = _total(body.get("usage"))


def _from_body(path: str, body: Any) -> Answer | None:
    if not isinstance(body, dict):
        return None
    answer = Answer()
    if path.endswith("/responses"):
        _responses(body, answer)
    elif path.endswith("/messages"):
        _anthropic(body, answer)
    elif "choices" in body:
        _chat(body, answer)
    else:
        return None
    return answer


def _from_stream(path: str, events: list[Any]) -> Answer | None:
    answer = Answer()
    calls: dict[int, list[str]] = {}
    texts: list[str] = []
    anthropic_usage: dict[str, int] = {}
    for data in events:
        if not isinstance(data, dict):
            continue
        kind = data.get("type")
        if path.endswith("/responses"):
            if kind in ("response.completed", "response.incomplete", "response.failed"):
                return _from_body(path, data.get("response"))
            continue
        if path.endswith("/messages"):
            if kind == "message_start":
                usage = (data.get("message") or {}).get("usage") or {}
                anthropic_usage.update({k: v for k, v in usage.items() if isinstance(v, int)})
            elif kind == "content_block_start":
                block = data.get("content_block") or {}
                if block.get("type") == "tool_use":
                    calls[int(data.get("index", len(calls)))] = [str(block.get("name")), ""]
            elif kind == "content_block_delta":
                delta = data.get("delta") or {}
                if delta.get("type") == "text_delta":
                    texts.append(str(delta.get("text", "")))
                elif delta.get("type") == "input_json_delta":
                    calls.setdefault(int(data.get("index", 0)), ["?", ""])[1] += str(
                        delta.get("partial_json", "")
                    )
            elif kind == "message_delta":
                answer.finish = (data.get("delta") or {}).get("stop_reason")
                usage = data.get("usage") or {}
                anthropic_usage.update({k: v for k, v in usage.items() if isinstance(v, int)})
            continue
        for choice in data.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") or {}
            texts.append(str(delta.get("content") or choice.get("text") or ""))
            for call in delta.get("tool_calls") or []:
                slot = calls.setdefault(int(call.get("index", len(calls))), ["", ""])
                fn = call.get("function") or {}
                slot[0] += str(fn.get("name") or "")
                slot[1] += str(fn.get("arguments") or "")
            if choice.get("finish_reason"):
                answer.finish = choice["finish_reason"]
        if data.get("usage"):
            answer.usage = _total(data["usage"])
    if anthropic_usage:
        answer.usage = _total(anthropic_usage)
    answer.text = "".join(texts)
    answer.tool_calls = [(name, _args(args)) for _, (name, args) in sorted(calls.items())]
    return answer


def answer_of(interaction: Interaction) -> Answer | None:
    """What the recorded response answered, or ``None`` for a response that is no generation."""
    if interaction.status >= 400:
        return None
    if interaction.is_stream:
        return _from_stream(interaction.path, [event_payload(e) for e in interaction.events()])
    return _from_body(interaction.path, body_value(interaction.response.get("body") or {}))


@dataclass(frozen=True)
class Drift:
    request: str  # the request, in one line
    changes: tuple[str, ...]

    def line(self) -> str:
        return f"{self.request}: {'; '.join(self.changes)}"


def _said(answer: Answer) -> str:
    if answer.tool_calls:
        return ", ".join(f"{name}({args})" for name, args in answer.tool_calls)
    text = answer.text.replace("\n", " ")
    return json.dumps(text if len(text) <= 60 else text[:59] + "…", ensure_ascii=False)


def compare(old: Interaction, new: Interaction) -> Drift | None:
    """How ``new`` answered differently from ``old`` (the same request), or ``None``."""
    a, b = answer_of(old), answer_of(new)
    changes: list[str] = []
    if a is None or b is None:
        if old.status != new.status:
            changes.append(f"status changed ({old.status} → {new.status})")
        return Drift(one_line(Request.of(new)), tuple(changes)) if changes else None
    if a.tool_calls != b.tool_calls:
        changes.append(f"tool calls changed (was {_said(a)}, now {_said(b)})")
    shape_a, shape_b = a.shape(), b.shape()
    if (shape_a is not None or shape_b is not None) and shape_a != shape_b:
        changes.append("structured-output shape changed")
    if a.finish != b.finish:
        changes.append(f"finish reason changed ({a.finish} → {b.finish})")
    if a.usage and b.usage is not None and abs(b.usage - a.usage) / a.usage > USAGE_TOLERANCE:
        changes.append(f"usage changed by more than 20% ({a.usage} → {b.usage} tokens)")
    if not changes and a.text != b.text:
        changes.append(f"text only (was {_said(a)}, now {_said(b)})")
    return Drift(one_line(Request.of(new)), tuple(changes)) if changes else None
