"""The chat.completion body is written from a template: it must be byte for byte what encoding
the object LM Studio sends gives (the object is spelled out here, as the handler once built it)."""

from __future__ import annotations

from typing import Any

import pytest

from fake_lms.api.openai import _native_blocks, _reasoning_key, _usage, chat_completion_json
from fake_lms.api.types import dumps
from fake_lms.core.context import Resolved
from fake_lms.model import engine
from fake_lms.model.catalog import Catalog
from fake_lms.model.home import Instance

CATALOG = Catalog.default()
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def resolved(key: str, identifier: str | None = None) -> Resolved:
    spec = CATALOG.get(key)
    assert spec is not None
    inst = Instance(identifier or key, key, 4096, 0.0, 0.0)
    return Resolved(inst, spec)


def expected_object(chat_id: str, created: int, res: Resolved, gen: engine.Generation, native: bool) -> Any:
    # content "" beside tool calls: an LM Studio 0.4.x capture (imhansai/koog-learn, gpt-oss-20b, 2026-01)
    message: dict[str, Any] = {"role": "assistant", "content": gen.content if not gen.tool_calls else ""}
    message[_reasoning_key(res)] = gen.reasoning
    message["tool_calls"] = [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in gen.tool_calls
    ]
    out: dict[str, Any] = {
        "id": chat_id,
        "object": "chat.completion",
        "created": created,
        "model": res.identifier,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": gen.finish_reason}],
        "usage": _usage(gen),
        "stats": {},
        "system_fingerprint": res.identifier,
    }
    if native:
        out.update(_native_blocks(gen, res))
    return out


CONTENTS = [
    "What is the capital of France?",
    'Quotes " and \\ backslashes, a tab\tand a newline\n, control \x01 chars',
    "naïve café — 中文 \u2028 emoji 🙂",
    "",
]
CASES = [
    pytest.param("qwen/qwen3-4b", None, {}, id="plain"),
    pytest.param("qwen/qwen3-4b", "qwen/qwen3-4b:2", {}, id="second-instance"),
    pytest.param("qwen/qwen3-4b", None, {"max_tokens": 3}, id="length"),
    pytest.param("qwen/qwen3-4b", None, {"reasoning": True}, id="reasoning_content"),
    pytest.param("openai/gpt-oss-20b", None, {"reasoning": True}, id="gpt-oss-reasoning"),
    pytest.param("qwen/qwen3-4b", None, {"tools": [WEATHER], "tool_choice": "required"}, id="tool-call"),
    pytest.param("google/gemma-3-1b", 'odd "identifier" é', {"scripted_text": "scripted \x7f"}, id="odd-id"),
    pytest.param(
        "qwen/qwen3-4b",
        None,
        {"scripted_tool_calls": [("a", {"x": 1}), ("b", '{"y": "é"}')]},
        id="scripted-tool-calls",
    ),
]


@pytest.mark.parametrize("native", [False, True])
@pytest.mark.parametrize("content", CONTENTS)
@pytest.mark.parametrize(("key", "identifier", "options"), CASES)
def test_template_writes_what_encoding_the_object_writes(
    key: str, identifier: str | None, options: dict[str, Any], content: str, native: bool
) -> None:
    res = resolved(key, identifier)
    gen = engine.generate_chat(res.spec, [{"role": "user", "content": content}], **options)
    body = chat_completion_json("chatcmpl-0123456789abcdef01234", 1795244830, res, gen, native=native)
    assert (
        body
        == dumps(expected_object("chatcmpl-0123456789abcdef01234", 1795244830, res, gen, native)).encode()
    )
