"""LM Studio's Anthropic-compatible POST /v1/messages, with the real anthropic SDK and raw HTTP."""

from __future__ import annotations

import httpx
import pytest

from fake_lms import FakeLMStudio

anthropic = pytest.importorskip("anthropic")
LLM = "qwen/qwen3-4b"
WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
def client(fake: FakeLMStudio) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.url, api_key="lmstudio", max_retries=0)  # root, no /v1


def test_plain_message(client: anthropic.Anthropic) -> None:
    msg = client.messages.create(
        model=LLM,
        max_tokens=200,
        system="Be brief.",
        messages=[{"role": "user", "content": "Hello from Claude Code"}],
    )
    assert msg.type == "message" and msg.role == "assistant" and msg.id.startswith("msg_")
    assert msg.model == LLM
    assert msg.stop_reason == "end_turn" and msg.stop_sequence is None
    assert "Hello from Claude Code" in msg.content[0].text
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0


def test_max_tokens_and_stop_sequences(client: anthropic.Anthropic) -> None:
    cut = client.messages.create(model=LLM, max_tokens=3, messages=[{"role": "user", "content": "a b c d e"}])
    assert cut.stop_reason == "max_tokens" and cut.usage.output_tokens == 3
    stopped = client.messages.create(
        model=LLM, max_tokens=200, stop_sequences=["reply"], messages=[{"role": "user", "content": "hi"}]
    )
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == "reply"
    assert "reply" not in stopped.content[0].text


def test_stream_text_matches_plain(client: anthropic.Anthropic) -> None:
    plain = client.messages.create(
        model=LLM, max_tokens=200, messages=[{"role": "user", "content": "stream me"}]
    )
    with client.messages.stream(
        model=LLM, max_tokens=200, messages=[{"role": "user", "content": "stream me"}]
    ) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == plain.content[0].text == final.content[0].text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == plain.usage.output_tokens


def test_tool_use_round_trip(client: anthropic.Anthropic) -> None:
    first = client.messages.create(
        model=LLM,
        max_tokens=200,
        tools=[WEATHER],
        messages=[{"role": "user", "content": "What's the weather in Oslo?"}],
    )
    assert first.stop_reason == "tool_use"
    (block,) = first.content
    assert block.type == "tool_use" and block.name == "get_weather" and block.input == {"city": "Oslo"}
    assert block.id.startswith("toolu_")
    second = client.messages.create(
        model=LLM,
        max_tokens=200,
        tools=[WEATHER],
        messages=[
            {"role": "user", "content": "What's the weather in Oslo?"},
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "-3C, snow"}],
            },
        ],
    )
    assert second.stop_reason == "end_turn" and "-3C, snow" in second.content[0].text


def test_streamed_tool_use(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model=LLM,
        max_tokens=200,
        tools=[WEATHER],
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "hi"}],
    ) as s:
        final = s.get_final_message()
    assert final.content[0].type == "tool_use" and final.content[0].input == {"city": "Paris"}


def test_sse_event_names_and_no_done(fake: FakeLMStudio) -> None:
    r = httpx.post(
        fake.url + "/v1/messages",
        json={"model": LLM, "max_tokens": 5, "stream": True, "messages": [{"role": "user", "content": "x"}]},
    )
    events = [line[len("event: ") :] for line in r.text.splitlines() if line.startswith("event: ")]
    assert events[0] == "message_start" and events[1] == "content_block_start"
    assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert "[DONE]" not in r.text


def test_errors_are_anthropic_shaped(client: anthropic.Anthropic, fake: FakeLMStudio) -> None:
    with pytest.raises(anthropic.BadRequestError) as err:
        client.messages.create(
            model="nope/missing", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert err.value.body["type"] == "error"
    assert err.value.body["error"]["type"] == "invalid_request_error"
    assert 'Invalid model identifier "nope/missing"' in err.value.body["error"]["message"]
    r = httpx.post(fake.url + "/v1/messages", json={"model": LLM})
    assert r.status_code == 400 and r.json() == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "messages: Field required"},
    }


def test_x_api_key_is_accepted_when_auth_is_required() -> None:
    token = "sk-lm-abcdefgh:abcdefghijabcdefghij"
    with FakeLMStudio(require_auth=True, api_tokens=[token]) as fake:
        ok = anthropic.Anthropic(base_url=fake.url, api_key=token, max_retries=0)
        assert ok.messages.create(
            model=LLM, max_tokens=5, messages=[{"role": "user", "content": "x"}]
        ).content
        with pytest.raises(anthropic.AuthenticationError):
            anthropic.Anthropic(base_url=fake.url, api_key="wrong", max_retries=0).messages.create(
                model=LLM, max_tokens=5, messages=[{"role": "user", "content": "x"}]
            )
        # x-api-key is for /v1/messages only, as documented
        r = httpx.get(fake.url + "/v1/models", headers={"x-api-key": token})
        assert r.status_code == 401


def test_scripted_reply_applies(fake: FakeLMStudio, client: anthropic.Anthropic) -> None:
    fake.reply("Scripted for Claude")
    msg = client.messages.create(model=LLM, max_tokens=50, messages=[{"role": "user", "content": "x"}])
    assert msg.content[0].text == "Scripted for Claude"
