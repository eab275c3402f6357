"""The official openai SDK works unchanged against the fake (issue 2 acceptance)."""

from __future__ import annotations

import json
import math
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from fake_lms import FakeLMStudio

LLM = "qwen/qwen3-4b"  # reasons by default
PLAIN = "google/gemma-3-1b"  # does not reason
EMBED = "text-embedding-nomic-embed-text-v1.5"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}


def _extra(model: BaseModel) -> dict[str, Any]:
    """The fields the openai SDK's models do not declare (``reasoning_content``)."""
    return model.model_extra or {}


@pytest.fixture
def client(fake: FakeLMStudio) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url, api_key="lm-studio", max_retries=0)


def test_models_list(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == [LLM, "google/gemma-3-1b", EMBED]
    assert all(m.owned_by == "organization_owner" for m in client.models.list())


def test_chat_plain(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model=LLM, messages=[{"role": "user", "content": "What is 2+2?"}])
    assert r.object == "chat.completion"
    assert r.id.startswith("chatcmpl-")
    assert r.model == LLM
    assert r.system_fingerprint == LLM
    choice = r.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert "What is 2+2?" in (choice.message.content or "")
    assert r.usage is not None
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    # same request, same reply
    again = client.chat.completions.create(model=LLM, messages=[{"role": "user", "content": "What is 2+2?"}])
    assert again.choices[0].message.content == choice.message.content


def test_chat_stream_matches_plain(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Tell me about the sea"}]
    plain = client.chat.completions.create(model=LLM, messages=messages)
    chunks = list(
        client.chat.completions.create(
            model=LLM, messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    text = "".join(c.choices[0].delta.content or "" for c in content_chunks)
    assert text == plain.choices[0].message.content
    # qwen3 reasons by default (fidelity review §2 row 7): its reasoning deltas come first
    # (spec §1.2 "Reasoning deltas"; bug-tracker #378), then the content
    thinking = [c for c in chunks if c.choices and _extra(c.choices[0].delta).get("reasoning_content")]
    assert thinking and chunks.index(thinking[-1]) < chunks.index(content_chunks[0])
    reasoning = "".join(_extra(c.choices[0].delta)["reasoning_content"] for c in thinking)
    assert reasoning == _extra(plain.choices[0].message)["reasoning_content"]
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finish) == 1 and finish[0].choices[0].finish_reason == "stop"
    assert finish[0].choices[0].delta.content is None
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1 and usage_chunks[0].choices == []
    assert usage_chunks[0].usage.completion_tokens == len(thinking) + len(content_chunks)
    assert usage_chunks[0].usage == plain.usage


def test_stream_without_include_usage_has_no_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(model=LLM, messages=[{"role": "user", "content": "Hi"}], stream=True)
    )
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)  # llama-index needs non-empty choices


def test_max_tokens_gives_length(client: openai.OpenAI) -> None:
    """A model that does not reason spends the limit on content (a reasoning model:
    test_max_tokens_spent_on_reasoning)."""
    r = client.chat.completions.create(
        model=PLAIN, messages=[{"role": "user", "content": "Write a long story"}], max_tokens=3
    )
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 3
    chunks = list(
        client.chat.completions.create(
            model=PLAIN,
            messages=[{"role": "user", "content": "Write a long story"}],
            max_tokens=3,
            stream=True,
        )
    )
    assert sum(1 for c in chunks if c.choices[0].delta.content) == 3
    assert chunks[-1].choices[0].finish_reason == "length"


@pytest.mark.parametrize("limit", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_spent_on_reasoning(client: openai.OpenAI, limit: str) -> None:
    """Issue 14 item 2's acceptance: ``max_tokens: 5`` to a reasoning model, which reasons unasked,
    gives ``finish_reason: "length"``, empty content and the 5 tokens counted as reasoning
    (fidelity review §4.2: gemma-4-e2b conformance report "returned no answer text";
    mrdushidush/claudette#200: reasoning deltas only, then "length")."""
    messages = [{"role": "user", "content": "Write a long story"}]
    body: dict[str, Any] = {"model": LLM, "messages": messages, limit: 5}
    r = client.chat.completions.create(**body)
    assert (r.choices[0].finish_reason, r.choices[0].message.content) == ("length", "")
    assert _extra(r.choices[0].message)["reasoning_content"]
    assert r.usage is not None and r.usage.completion_tokens_details is not None
    assert r.usage.completion_tokens == 5 == r.usage.completion_tokens_details.reasoning_tokens
    chunks = list(client.chat.completions.create(**body, stream=True))
    deltas = [c.choices[0].delta for c in chunks[:-1]]
    assert len(deltas) == 5
    assert all(d.content is None and _extra(d).get("reasoning_content") for d in deltas)
    assert chunks[-1].choices[0].finish_reason == "length"


def test_tool_call(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(
        model=LLM,
        messages=[{"role": "user", "content": "What's the weather in Paris?"}],
        tools=[WEATHER_TOOL],
    )
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert len(call.id) == 9 and call.id.isdigit()
    assert json.loads(call.function.arguments) == {"city": "Paris", "unit": "celsius"}


def test_tool_choice_none_and_required_and_named(client: openai.OpenAI) -> None:
    other = {"type": "function", "function": {"name": "lookup_stock", "parameters": {"type": "object"}}}
    msgs = [{"role": "user", "content": "Hello there"}]
    none = client.chat.completions.create(model=LLM, messages=msgs, tools=[WEATHER_TOOL], tool_choice="none")
    assert none.choices[0].finish_reason == "stop" and not none.choices[0].message.tool_calls
    auto = client.chat.completions.create(model=LLM, messages=msgs, tools=[WEATHER_TOOL])
    assert auto.choices[0].finish_reason == "stop"  # nothing in the prompt relates to the tool
    req = client.chat.completions.create(
        model=LLM, messages=msgs, tools=[WEATHER_TOOL], tool_choice="required"
    )
    assert req.choices[0].message.tool_calls[0].function.name == "get_weather"
    named = client.chat.completions.create(
        model=LLM,
        messages=[{"role": "user", "content": "weather?"}],
        tools=[WEATHER_TOOL, other],
        tool_choice={"type": "function", "function": {"name": "lookup_stock"}},
    )
    assert named.choices[0].message.tool_calls[0].function.name == "lookup_stock"


def test_tool_round_trip_answers_with_text(client: openai.OpenAI) -> None:
    msgs: list = [{"role": "user", "content": "What's the weather in Paris?"}]
    first = client.chat.completions.create(model=LLM, messages=msgs, tools=[WEATHER_TOOL])
    call = first.choices[0].message.tool_calls[0]
    msgs.append(first.choices[0].message.model_dump(exclude_none=True))
    msgs.append({"role": "tool", "tool_call_id": call.id, "content": "18 degrees and sunny"})
    second = client.chat.completions.create(model=LLM, messages=msgs, tools=[WEATHER_TOOL])
    assert second.choices[0].finish_reason == "stop"
    assert "18 degrees and sunny" in second.choices[0].message.content


def test_stream_with_tools(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=LLM,
        messages=[{"role": "user", "content": "What's the weather in Paris?"}],
        tools=[WEATHER_TOOL],
        stream=True,
    )
    chunks = list(stream)
    deltas = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].id and deltas[0].function.name == "get_weather" and deltas[0].function.arguments == ""
    assert all(d.index == 0 for d in deltas)
    args = "".join(d.function.arguments or "" for d in deltas)
    assert json.loads(args) == {"city": "Paris", "unit": "celsius"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_stream_helper_with_tools(client: openai.OpenAI) -> None:
    with client.chat.completions.stream(
        model=LLM,
        messages=[{"role": "user", "content": "What's the weather in Paris?"}],
        tools=[WEATHER_TOOL],
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments)["city"] == "Paris"


class City(BaseModel):
    name: str
    country: str
    population: int
    landmarks: list[str]


class Trip(BaseModel):
    destination: City
    days: int
    budget_eur: float | None


def test_parse_with_pydantic_model(client: openai.OpenAI) -> None:
    r = client.chat.completions.parse(
        model=LLM, messages=[{"role": "user", "content": "Describe Lyon"}], response_format=City
    )
    parsed = r.choices[0].message.parsed
    assert isinstance(parsed, City)
    assert parsed.population >= 1 and parsed.landmarks


def test_parse_nested_model_with_refs(client: openai.OpenAI) -> None:
    r = client.chat.completions.parse(
        model=LLM, messages=[{"role": "user", "content": "Plan a trip"}], response_format=Trip
    )
    assert isinstance(r.choices[0].message.parsed, Trip)


def test_json_schema_output_validates(client: openai.OpenAI) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string", "minLength": 3, "maxLength": 40},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "uniqueItems": True},
            "score": {"type": "number", "minimum": 5, "maximum": 10},
            "count": {"type": "integer", "exclusiveMinimum": 10},
            "kind": {"enum": ["a", "b"]},
            "when": {"type": "string", "format": "date-time"},
            "code": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{3}$"},
            "maybe": {"type": ["string", "null"]},
            "nested": {
                "anyOf": [{"type": "object", "properties": {"x": {"type": "boolean"}}}, {"type": "null"}]
            },
        },
        "required": ["title", "tags", "score", "count", "kind", "when", "code", "maybe", "nested"],
        "additionalProperties": False,
    }
    r = client.chat.completions.create(
        model=LLM,
        messages=[{"role": "user", "content": "Give me data"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "data", "strict": True, "schema": schema},
        },
    )
    data = json.loads(r.choices[0].message.content)
    jsonschema.validate(data, schema)


def test_json_object_rejected_like_lm_studio(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model=LLM, messages=[{"role": "user", "content": "hi"}], response_format={"type": "json_object"}
        )
    assert err.value.status_code == 400
    assert err.value.body == "'response_format.type' must be 'json_schema' or 'text'"


def test_embeddings(client: openai.OpenAI) -> None:
    r = client.embeddings.create(model=EMBED, input=["the cat sat on the mat", "the cat sat", "stock prices"])
    vectors = [d.embedding for d in r.data]
    assert [d.index for d in r.data] == [0, 1, 2]
    assert all(len(v) == 768 for v in vectors)
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-9) for v in vectors)

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b))

    assert cos(vectors[0], vectors[1]) > cos(vectors[0], vectors[2])
    single = client.embeddings.create(model=EMBED, input="the cat sat on the mat")
    assert single.data[0].embedding == vectors[0]
    assert r.model == "text-embedding-nomic-embed-text-v1.5@q4_k_m"


def test_completions_plain_and_stream(client: openai.OpenAI) -> None:
    r = client.completions.create(model=LLM, prompt="Once upon a time", max_tokens=5)
    assert r.object == "text_completion"
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 5
    chunks = list(client.completions.create(model=LLM, prompt="Once upon a time", max_tokens=5, stream=True))
    assert "".join(c.choices[0].text for c in chunks) == r.choices[0].text
    assert chunks[-1].choices[0].finish_reason == "length"


def test_responses_plain_and_previous_response_id(client: openai.OpenAI) -> None:
    first = client.responses.create(model=LLM, input="My name is Ada.")
    assert first.id.startswith("resp_")
    assert first.status == "completed"
    assert "My name is Ada." in first.output_text
    assert first.usage.total_tokens == first.usage.input_tokens + first.usage.output_tokens
    second = client.responses.create(model=LLM, input="What is my name?", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    assert second.usage.input_tokens > first.usage.input_tokens  # the thread was carried over


def test_responses_unknown_previous_id(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model=LLM, input="hi", previous_response_id="resp_nope")
    assert err.value.param == "previous_response_id"


def test_responses_stream_event_order(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model=LLM, input="Hello", stream=True))
    kinds = [e.type for e in events]
    # qwen3 reasons by default (fidelity review §2 row 7): its reasoning item comes first, its
    # text in one response.reasoning_text.done (spec §1.5, earendil-works/pi#4191)
    assert kinds[:7] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_text.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert events[-1].response.output_text == text
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_responses_stream_helper(client: openai.OpenAI) -> None:
    with client.responses.stream(model=LLM, input="Hello") as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert final.status == "completed" and final.output_text


def test_responses_function_tool(client: openai.OpenAI) -> None:
    tool = {
        "type": "function",
        "name": "get_weather",
        "description": "weather for a city",
        "parameters": WEATHER_TOOL["function"]["parameters"],
    }
    r = client.responses.create(model=LLM, input="What's the weather in Rome?", tools=[tool])
    reasoning, item = r.output  # qwen3 reasons first, by default (fidelity review §2 row 7)
    assert reasoning.type == "reasoning"
    assert item.type == "function_call" and item.name == "get_weather"
    assert json.loads(item.arguments)["city"] == "Rome"


def test_codex_warmup_request(fake: FakeLMStudio) -> None:
    import httpx

    r = httpx.post(fake.base_url + "/responses", json={"model": LLM, "input": "", "max_output_tokens": 1})
    assert r.status_code == 200
    assert r.json()["object"] == "response"


def test_unknown_model_is_bad_request_model_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="o4-mini", messages=[{"role": "user", "content": "hi"}])
    assert err.value.code == "model_not_found"
    assert err.value.param == "model"
    assert 'Invalid model identifier "o4-mini"' in err.value.message
    assert LLM in err.value.message  # suggestions list known keys


def test_async_client(fake: FakeLMStudio) -> None:
    import asyncio

    async def go() -> str:
        async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="x", max_retries=0) as client:
            stream = await client.chat.completions.create(
                model=LLM, messages=[{"role": "user", "content": "async hi"}], stream=True
            )
            return "".join([c.choices[0].delta.content or "" async for c in stream])

    assert "async hi" in asyncio.run(go())
