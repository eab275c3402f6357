"""Server-sent events, parsed by hand, and the accumulator that turns chat-completion chunks into
deltas and a final :class:`~pytest_lmstudio.client.results.ChatResult`.

All are sans-IO: feed them bytes / lines / events, they return what they decoded. The sync and
async clients share them.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pytest_lmstudio.client.results import (
    ChatResult,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
    parse_structured,
    wants_json,
)
from pytest_lmstudio.errors import StreamError, parse_error_body

__all__ = ["ChatStreamAccumulator", "LineSplitter", "SSEDecoder", "SSEMessage"]

_LINE_END = re.compile(r"\r\n|\r|\n")  # SSE's line endings (not str.splitlines', which has more)


class LineSplitter:
    """Bytes in, complete lines out (without their endings), however the chunks cut them: the
    drivers read a stream chunk by chunk, so that they see every byte arrive (and their deadline
    with it), not only whole lines."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def feed(self, chunk: bytes) -> list[str]:
        text = self._pending + self._decoder.decode(chunk)
        held = ""
        if text.endswith("\r"):  # maybe the first half of a CRLF: decided by the next chunk
            text, held = text[:-1], "\r"
        lines = _LINE_END.split(text)
        self._pending = lines.pop() + held
        return lines

    def flush(self) -> list[str]:
        """At the end of the stream: the last line, if it had no line ending."""
        text = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        lines = _LINE_END.split(text)
        if lines[-1] == "":
            lines.pop()
        return lines


@dataclass(frozen=True)
class SSEMessage:
    """One event: ``data`` joined with ``\\n`` when it spanned several ``data:`` lines."""

    data: str
    event: str | None = None


class SSEDecoder:
    """Incremental SSE decoder (WHATWG rules for ``data:``, ``event:``, comments, blank-line dispatch)."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event: str | None = None

    def feed_line(self, line: str) -> list[SSEMessage]:
        """Feed one line (without its line ending); returns the events completed by it."""
        line = line.rstrip("\r\n")
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return []
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        # id / retry / unknown fields: ignored
        return []

    def feed_lines(self, lines: Iterable[str]) -> list[SSEMessage]:
        out: list[SSEMessage] = []
        for line in lines:
            out.extend(self.feed_line(line))
        return out

    def flush(self) -> list[SSEMessage]:
        """At end of input: an event still pending (no blank line after it) is dispatched; the
        consumer decides whether it is complete."""
        return self._dispatch()

    def _dispatch(self) -> list[SSEMessage]:
        if not self._data:
            self._event = None
            return []
        message = SSEMessage(data="\n".join(self._data), event=self._event)
        self._data = []
        self._event = None
        return [message]


@dataclass
class _ToolCallParts:
    id: str | None = None
    name: str | None = None
    arguments: list[str] = field(default_factory=list)


class ChatStreamAccumulator:
    """Reads ``chat.completion.chunk`` events; returns deltas; builds the final :class:`ChatResult`.

    ``description`` (e.g. ``"POST /v1/chat/completions at http://127.0.0.1:1234"``) is used in
    :class:`~pytest_lmstudio.errors.StreamError` messages.
    """

    def __init__(self, *, description: str = "the chat stream", response_format: Any = None) -> None:
        self.description = description
        self.response_format = response_format
        self.done = False  # saw [DONE]
        self.chunks = 0
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.model: str | None = None
        self.id: str | None = None
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, _ToolCallParts] = {}
        self._last_chunk: dict[str, Any] = {}

    def feed(self, message: SSEMessage) -> list[TextDelta | ReasoningDelta | ToolCallDelta]:
        if self.done:
            return []
        data = message.data.strip()
        if data == "[DONE]":
            self.done = True
            return []
        try:
            chunk = json.loads(data)
        except ValueError:
            raise StreamError(
                f"{self.description} sent a frame that is not JSON after {self.chunks} chunk(s):"
                f" {data[:200]!r}. The stream is corrupt or was cut mid-frame; check `lms log stream`."
            ) from None
        if not isinstance(chunk, dict):
            raise StreamError(f"{self.description} sent a non-object frame: {data[:200]!r}")
        if "error" in chunk:
            msg, code, _param, _ = parse_error_body(data)
            raise StreamError(
                f"{self.description} reported an error mid-stream after {self.chunks} chunk(s)"
                f"{f' ({code})' if code else ''}: {msg or data[:200]}. Check the server log with"
                f" `lms log stream`.",
                server_message=msg,
                code=code,
                body=data[:2000],
            )
        self.chunks += 1
        self._last_chunk = chunk
        if self.id is None and isinstance(chunk.get("id"), str):
            self.id = chunk["id"]
        if isinstance(chunk.get("model"), str):
            self.model = chunk["model"]
        usage = Usage.from_api(chunk.get("usage"))
        if usage is not None:
            self.usage = usage
        out: list[TextDelta | ReasoningDelta | ToolCallDelta] = []
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content")
            if not isinstance(reasoning, str) or not reasoning:
                reasoning = delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                self._reasoning.append(reasoning)
                out.append(ReasoningDelta(reasoning))
            content = delta.get("content")
            if isinstance(content, str) and content:
                self._text.append(content)
                out.append(TextDelta(content))
            for call in delta.get("tool_calls") or []:
                if not isinstance(call, dict):
                    continue
                index = call.get("index", 0)
                if not isinstance(index, int):
                    index = 0
                parts = self._calls.setdefault(index, _ToolCallParts())
                function = call.get("function") or {}
                call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else None
                name = function.get("name") if isinstance(function.get("name"), str) else None
                name = name or None  # LM Studio 0.3.15 sent "" on later fragments
                raw_args = function.get("arguments")
                args: str = raw_args if isinstance(raw_args, str) else ""
                if call_id and parts.id is None:
                    parts.id = call_id
                if name and parts.name is None:
                    parts.name = name
                if args:
                    parts.arguments.append(args)
                out.append(ToolCallDelta(index=index, id=call_id, name=name, arguments=args))
            finish = choice.get("finish_reason")
            if isinstance(finish, str) and finish:
                self.finish_reason = finish
        return out

    def finish(self) -> ChatResult:
        """The assembled result. Raises StreamError when the stream ended without ``[DONE]`` and
        without any ``finish_reason`` (a truncated stream)."""
        if not self.done and self.finish_reason is None:
            raise StreamError(
                f"{self.description} ended after {self.chunks} chunk(s) without `data: [DONE]` and without"
                f" a finish_reason: the connection closed mid-answer (model crashed, unloaded or server"
                f" stopped?). Check `lms ps` and `lms log stream`."
            )
        text = "".join(self._text)
        calls = [
            ToolCall.from_parts(id=p.id, name=p.name, arguments_json="".join(p.arguments))
            for _, p in sorted(self._calls.items())
        ]
        raw = {
            "id": self.id,
            "object": "chat.completion",
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": text,
                        **({"reasoning_content": "".join(self._reasoning)} if self._reasoning else {}),
                        "tool_calls": [
                            {
                                "id": c.id,
                                "type": "function",
                                "function": {"name": c.name, "arguments": c.arguments_json},
                            }
                            for c in calls
                        ],
                    },
                    "finish_reason": self.finish_reason,
                }
            ],
            **({"usage": dict(self.usage.raw)} if self.usage is not None else {}),
        }
        return ChatResult(
            text=text,
            tool_calls=calls,
            finish_reason=self.finish_reason,
            model=self.model,
            usage=self.usage,
            parsed=parse_structured(text, self.response_format) if wants_json(self.response_format) else None,
            reasoning="".join(self._reasoning) or None,
            id=self.id,
            raw=raw,
        )
