"""``POST /v1/messages``: LM Studio's Anthropic-compatible endpoint (0.4.1+, spec §1.6).

Anthropic clients (the ``anthropic`` SDK, Claude Code with ``ANTHROPIC_BASE_URL`` pointing at the
server root) send Anthropic Messages requests; the answer follows Anthropic's shapes, streamed with
``event:`` lines (``message_start``, ``content_block_start/delta/stop``, ``message_delta``,
``message_stop``). Errors use Anthropic's ``{"type": "error", "error": {...}}``. The content comes
from the same engine (and scripts) as the OpenAI-compatible endpoints.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Iterator, Mapping
from typing import Any

from fake_lms.api.errors import ApiError
from fake_lms.api.fields import object_body
from fake_lms.api.types import ApiRequest, Reply, SSEEvent, StreamItem, dumps
from fake_lms.core import exchange
from fake_lms.core.context import Context, Resolved
from fake_lms.core.errors import ContextOverflow, CoreError
from fake_lms.core.exchange import Ask
from fake_lms.model import engine
from fake_lms.model.catalog import ModelSpec

_ALNUM = string.ascii_letters + string.digits
_RNG = random.Random()
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


def _id(prefix: str) -> str:
    return prefix + "".join(_RNG.choices(_ALNUM, k=24))


def error(status: int, message: str, kind: str = "invalid_request_error") -> Reply:
    return Reply(status, {"type": "error", "error": {"type": kind, "message": message}})


def _invalid(message: str) -> ApiError:
    return ApiError(error(400, message))


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if (
                isinstance(block, Mapping)
                and block.get("type") == "text"
                and isinstance(block.get("text"), str)
            ):
                parts.append(block["text"])
        return "\n".join(parts)
    raise _invalid(f"{where}: content must be a string or a list of content blocks")


def to_chat_messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Anthropic ``system`` + ``messages`` as OpenAI-style chat messages for the engine."""
    messages = body.get("messages")
    if messages is None:
        raise _invalid("messages: Field required")
    if not isinstance(messages, list) or not messages:
        raise _invalid("messages: must be a non-empty list of messages")
    out: list[dict[str, Any]] = []
    system = body.get("system")
    if system is not None:
        out.append({"role": "system", "content": _text(system, "system")})
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or message.get("role") not in ("user", "assistant"):
            raise _invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        content = message.get("content")
        blocks = content if isinstance(content, list) else None
        if message["role"] == "assistant" and blocks:
            calls = [
                {
                    "id": b.get("id", ""),
                    "type": "function",
                    "function": {"name": b.get("name", ""), "arguments": json.dumps(b.get("input", {}))},
                }
                for b in blocks
                if isinstance(b, Mapping) and b.get("type") == "tool_use"
            ]
            out.append(
                {
                    "role": "assistant",
                    "content": _text(content, f"messages.{i}"),
                    **({"tool_calls": calls} if calls else {}),
                }
            )
            continue
        if blocks:
            for block in blocks:
                if isinstance(block, Mapping) and block.get("type") == "tool_result":
                    out.append(
                        {
                            "role": "tool",
                            "tool_call_id": block.get("tool_use_id", ""),
                            "content": _text(block.get("content", ""), f"messages.{i}.tool_result"),
                        }
                    )
            text = _text(content, f"messages.{i}")
            if text or not any(isinstance(b, Mapping) and b.get("type") == "tool_result" for b in blocks):
                out.append({"role": message["role"], "content": text})
        else:
            out.append({"role": message["role"], "content": _text(content, f"messages.{i}")})
    return out


def _tools(body: Mapping[str, Any]) -> tuple[list[dict[str, Any]] | None, Any]:
    tools = body.get("tools")
    if tools is None:
        return None, None
    if not isinstance(tools, list):
        raise _invalid("tools: must be a list")
    converted: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, Mapping) or not isinstance(tool.get("name"), str):
            raise _invalid(f"tools.{i}.name: Field required")
        converted.append(
            {
                "type": "function",
                "function": {
                    "name": tool["name"],
                    "description": tool.get("description", ""),
                    "parameters": tool.get("input_schema") or {"type": "object", "properties": {}},
                },
            }
        )
    choice = body.get("tool_choice") or {"type": "auto"}
    kind = choice.get("type") if isinstance(choice, Mapping) else None
    if kind == "auto":
        return converted, "auto"
    if kind == "any":
        return converted, "required"
    if kind == "none":
        return converted, "none"
    if kind == "tool" and any(t["function"]["name"] == choice.get("name") for t in converted):
        return converted, {"type": "function", "function": {"name": choice["name"]}}
    raise _invalid(
        "tool_choice: must be {'type': 'auto' | 'any' | 'none'} or {'type': 'tool', 'name': <a tool>}"
    )


def _stop_sequences(body: Mapping[str, Any]) -> list[str]:
    stops = body.get("stop_sequences")
    if stops is None:
        return []
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise _invalid("stop_sequences: must be a list of strings")
    return [s for s in stops if s]


def _max_tokens(body: Mapping[str, Any]) -> int | None:
    value = body.get("max_tokens")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _invalid("max_tokens: must be a positive integer")
    return value


def _thinking(body: Mapping[str, Any], spec: ModelSpec) -> bool:
    thinking = body.get("thinking")
    return bool(spec.reasoning) and isinstance(thinking, Mapping) and thinking.get("type") == "enabled"


def messages(ctx: Context, req: ApiRequest) -> Reply:
    try:
        return _messages(ctx, req)
    except ApiError as exc:  # OpenAI/LM Studio-shaped errors of the field readers it shares, reshaped
        return _as_anthropic(exc.reply)


def render_error(exc: CoreError) -> Reply:
    """A domain error in the Anthropic shape; a context overflow is an HTTP 500 ``api_error``
    (lmstudio-surface.md §1.6)."""
    if isinstance(exc, ContextOverflow):
        return error(500, exc.message, "api_error")
    return error(exc.status, exc.message, "invalid_request_error" if exc.status < 500 else "api_error")


def render_stream_error(exc: CoreError) -> Reply:
    """A streamed request's error: HTTP 200 and Anthropic's ``error`` event."""
    kind = "api_error" if isinstance(exc, ContextOverflow) or exc.status >= 500 else "invalid_request_error"
    data = dumps({"type": "error", "error": {"type": kind, "message": exc.message}})
    return Reply(200, stream=[SSEEvent(data, event="error")])


def _as_anthropic(reply: Reply) -> Reply:
    body = reply.body if isinstance(reply.body, Mapping) else {}
    if body.get("type") == "error":
        return reply
    err = body.get("error")
    message = err.get("message") if isinstance(err, Mapping) else err
    kind = "invalid_request_error" if reply.status < 500 else "api_error"
    if reply.status == 401:
        kind = "authentication_error"
    return Reply(
        reply.status,
        {"type": "error", "error": {"type": kind, "message": str(message or "error")}},
        headers=reply.headers,
    )


def _messages(ctx: Context, req: ApiRequest) -> Reply:
    body = object_body(req)
    chat = to_chat_messages(body)
    tools, tool_choice = _tools(body)
    stops = _stop_sequences(body)
    max_tokens = _max_tokens(body)
    ask = Ask(
        "chat",
        body.get("model"),
        req.record,
        messages=chat,
        tools=tools,
        tool_choice=tool_choice,
        max_tokens=max_tokens,
        stop=stops,
        reasoning=lambda spec: _thinking(body, spec),
        ttl=body.get("ttl"),
        wanted="messages",
    )
    done = exchange.generate(ctx, ask)
    res, gen = done.resolved, done.generation
    stop_sequence = gen.stop_sequence
    stop_reason = "stop_sequence" if stop_sequence is not None else STOP_REASONS[gen.finish_reason]
    message = _Message(_id("msg_"), res, gen, stop_reason, stop_sequence)
    usage = (gen.prompt_tokens, gen.completion_tokens)
    if body.get("stream"):
        return Reply(
            200,
            stream=done.shape(message.events()),
            model=res.identifier,
            usage=usage,
            notes=done.notes,
            claim=done.claim,
        )
    return Reply(
        200,
        message.body(),
        model=res.identifier,
        usage=usage,
        notes=done.notes,
        claim=done.claim,
        delay=done.delay,
    )


class _Message:
    def __init__(
        self, msg_id: str, res: Resolved, gen: engine.Generation, stop_reason: str, stop_sequence: str | None
    ) -> None:
        self.id = msg_id
        self.res = res
        self.gen = gen
        self.stop_reason = stop_reason
        self.stop_sequence = stop_sequence
        self.tool_ids = [_id("toolu_") for _ in gen.tool_calls]

    def usage(self, output_tokens: int) -> dict[str, int]:
        return {
            "input_tokens": self.gen.prompt_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }

    def blocks(self) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        if self.gen.reasoning:
            blocks.append({"type": "thinking", "thinking": self.gen.reasoning, "signature": ""})
        for call, tool_id in zip(self.gen.tool_calls, self.tool_ids):
            blocks.append(
                {"type": "tool_use", "id": tool_id, "name": call.name, "input": json.loads(call.arguments)}
            )
        if not self.gen.tool_calls:
            blocks.append({"type": "text", "text": self.gen.content})
        return blocks

    def body(self, content: list[dict[str, Any]] | None = None, final: bool = True) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.res.identifier,
            "content": self.blocks() if content is None else content,
            "stop_reason": self.stop_reason if final else None,
            "stop_sequence": self.stop_sequence if final else None,
            "usage": self.usage(self.gen.completion_tokens if final else 0),
        }

    @staticmethod
    def _event(kind: str, **payload: Any) -> SSEEvent:
        return SSEEvent(dumps({"type": kind, **payload}), event=kind, token=kind == "content_block_delta")

    def events(self) -> Iterator[StreamItem]:
        yield self._event("message_start", message=self.body(content=[], final=False))
        index = 0
        if self.gen.reasoning:
            yield self._event(
                "content_block_start",
                index=index,
                content_block={"type": "thinking", "thinking": "", "signature": ""},
            )
            for tok in self.gen.reasoning_tokens:
                yield self._event(
                    "content_block_delta", index=index, delta={"type": "thinking_delta", "thinking": tok}
                )
            yield self._event("content_block_stop", index=index)
            index += 1
        for call, tool_id in zip(self.gen.tool_calls, self.tool_ids):
            yield self._event(
                "content_block_start",
                index=index,
                content_block={"type": "tool_use", "id": tool_id, "name": call.name, "input": {}},
            )
            for frag in engine.tokenize(call.arguments):
                yield self._event(
                    "content_block_delta",
                    index=index,
                    delta={"type": "input_json_delta", "partial_json": frag},
                )
            yield self._event("content_block_stop", index=index)
            index += 1
        if not self.gen.tool_calls:
            yield self._event("content_block_start", index=index, content_block={"type": "text", "text": ""})
            for tok in self.gen.content_tokens:
                yield self._event(
                    "content_block_delta", index=index, delta={"type": "text_delta", "text": tok}
                )
            yield self._event("content_block_stop", index=index)
        yield self._event(
            "message_delta",
            delta={"stop_reason": self.stop_reason, "stop_sequence": self.stop_sequence},
            usage={"output_tokens": self.gen.completion_tokens},
        )
        yield self._event("message_stop")
