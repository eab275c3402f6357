from __future__ import annotations

import json

import pytest

from fake_lms.model import engine
from fake_lms.model.catalog import Catalog

SPEC = Catalog.default().get("qwen/qwen3-4b")


@pytest.mark.parametrize(
    "text", ["", "Hello, world!", "  leading and trailing  ", "naïve café — ok?\nnew line"]
)
def test_tokens_join_back_to_the_text(text: str) -> None:
    assert "".join(engine.tokenize(text)) == text


def test_same_request_same_reply_and_derived_from_last_user_message() -> None:
    msgs = [{"role": "system", "content": "be nice"}, {"role": "user", "content": "What is a fjord?"}]
    a = engine.generate_chat(SPEC, msgs)
    b = engine.generate_chat(SPEC, msgs)
    assert a.content == b.content and "What is a fjord?" in a.content
    assert a.completion_tokens == len(engine.tokenize(a.content))


QUESTIONS = [
    "What is a fjord?",
    "  padded   with\tmixed \n whitespace  ",
    'He said "hi" and left.',
    "'quoted' words, and trailing punctuation!!!",
    "naïve café — 中文 ok\u00a0nbsp\u2003em-space",
    "word" * 80,  # truncated to 200 characters with an ellipsis
    "x " * 150,
    "ends with an apostrophe'",
    "",
]


@pytest.mark.parametrize("question", QUESTIONS)
@pytest.mark.parametrize("max_tokens", [None, 1, 7, 500])
def test_default_reply_counts_as_if_tokenized_whole(question: str, max_tokens: int | None) -> None:
    """The default reply tokenizes only the echoed question (the text around it once per model),
    and reuses that count for the prompt: both must equal tokenizing the whole texts."""
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": question}]
    gen = engine.generate_chat(SPEC, msgs, max_tokens=max_tokens)
    whole = engine.tokenize(engine.default_reply(SPEC.key, msgs))
    expected = whole if max_tokens is None else whole[:max_tokens]
    assert gen.content_tokens == expected and "".join(expected) == gen.content
    assert gen.prompt_tokens == engine.prompt_token_count(msgs)


def test_max_tokens_and_stop() -> None:
    msgs = [{"role": "user", "content": "one two three four five"}]
    cut = engine.generate_chat(SPEC, msgs, max_tokens=2)
    assert cut.finish_reason == "length" and cut.completion_tokens == 2
    stopped = engine.generate_chat(SPEC, msgs, stop=["three"])
    assert "three" not in stopped.content and stopped.finish_reason == "stop"
    assert stopped.stop_reason == "stopStringFound"


def test_content_parts_are_read() -> None:
    msgs = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {}}],
        }
    ]
    assert "look" in engine.generate_chat(SPEC, msgs).content


def test_tool_call_ids_are_nine_digits_and_deterministic() -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "search_docs",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}},
                "required": ["query"],
            },
        },
    }
    msgs = [{"role": "user", "content": "search the docs for pytest fixtures"}]
    a = engine.generate_chat(SPEC, msgs, tools=[tool], tool_choice="auto")
    b = engine.generate_chat(SPEC, msgs, tools=[tool], tool_choice="auto")
    assert a.tool_calls == b.tool_calls
    (call,) = a.tool_calls
    assert len(call.id) == 9 and call.id.isdigit()
    assert json.loads(call.arguments) == {"query": "search the docs for pytest fixtures"}
    assert a.finish_reason == "tool_calls" and a.stop_reason == "toolCalls"


def test_reasoning_is_empty_unless_asked() -> None:
    msgs = [{"role": "user", "content": "think"}]
    assert engine.generate_chat(SPEC, msgs).reasoning == ""
    thought = engine.generate_chat(SPEC, msgs, reasoning=True)
    assert thought.reasoning and thought.completion_tokens == len(thought.content_tokens) + len(
        thought.reasoning_tokens
    )


def test_schema_instance_handles_refs_and_unions() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = {
        "$defs": {
            "Item": {
                "type": "object",
                "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 3}},
                "required": ["sku", "qty"],
            }
        },
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "minItems": 2, "maxItems": 2},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "tuple": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "boolean"}]},
            "all": {"allOf": [{"type": "object", "properties": {"a": {"const": 1}}}, {"required": ["a"]}]},
            "price": {"type": "number", "multipleOf": 0.25, "minimum": 2.1},
        },
        "required": ["items", "note", "tuple", "all", "price"],
    }
    value = engine.SchemaInstance(schema).build()
    jsonschema.validate(value, schema)
    assert len(value["items"]) == 2


def test_embeddings_unit_length_and_similarity() -> None:
    a = engine.embed("red apples are sweet", 64)
    b = engine.embed("green apples are sour", 64)
    c = engine.embed("quantum chromodynamics lecture", 64)
    assert abs(sum(x * x for x in a) - 1) < 1e-9
    dot = lambda x, y: sum(p * q for p, q in zip(x, y))  # noqa: E731
    assert dot(a, b) > dot(a, c)
    assert engine.embed("red apples are sweet", 64) == a
