"""Scripting speaks in operations and intents, not URL paths: a rule written once applies to every
dialect, ``api=`` / ``operation=`` narrow it, and records say which dialect and operation a
request was. The stream shaping is tested sans-IO on plain event objects."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from fake_lms import FakeLMStudio
from fake_lms.scripting.faults import StreamFault, shape_stream
from fake_lms.scripting.intents import Cut, Garbage, Pause, StreamFailure

LLM = "qwen/qwen3-4b"
EMBED = "text-embedding-nomic-embed-text-v1.5"


def chat(fake: FakeLMStudio, text: str) -> str:
    r = httpx.post(
        fake.base_url + "/chat/completions",
        json={"model": LLM, "messages": [{"role": "user", "content": text}]},
    )
    return r.json()["choices"][0]["message"]["content"]


def anthropic(fake: FakeLMStudio, text: str) -> str:
    r = httpx.post(
        fake.base_url + "/messages",
        json={"model": LLM, "max_tokens": 100, "messages": [{"role": "user", "content": text}]},
    )
    return r.json()["content"][0]["text"]


def native_v1(fake: FakeLMStudio, text: str) -> str:
    r = httpx.post(fake.url + "/api/v1/chat", json={"model": LLM, "input": text})
    return next(o["content"] for o in r.json()["output"] if o["type"] == "message")


def complete(fake: FakeLMStudio, text: str) -> str:
    r = httpx.post(fake.base_url + "/completions", json={"model": LLM, "prompt": text})
    return r.json()["choices"][0]["text"]


def test_one_reply_answers_every_chat_dialect(fake: FakeLMStudio) -> None:
    fake.reply("scripted")
    assert chat(fake, "a") == "scripted"
    assert anthropic(fake, "b") == "scripted"
    assert native_v1(fake, "c") == "scripted"
    assert complete(fake, "d") == "scripted"


def test_match_on_api(fake: FakeLMStudio) -> None:
    fake.reply("for anthropic", match={"api": "anthropic"})
    assert anthropic(fake, "hi") == "for anthropic"
    assert chat(fake, "hi") != "for anthropic"
    assert native_v1(fake, "hi") != "for anthropic"


def test_match_on_operation(fake: FakeLMStudio) -> None:
    fake.reply("completed", match={"operation": "complete"})
    assert complete(fake, "once upon") == "completed"
    assert chat(fake, "hi") != "completed"


def test_fault_on_an_operation_that_is_not_a_generation(fake: FakeLMStudio) -> None:
    """Rules leave listings and loads alone unless asked for by operation."""
    fake.fail(503)
    assert httpx.get(fake.base_url + "/models").status_code == 200
    fake.fail(503, match={"operation": "load"}, times=None)
    r = httpx.post(fake.url + "/api/v1/models/load", json={"model": LLM})
    assert r.status_code == 503
    assert httpx.get(fake.base_url + "/models").status_code == 200


def test_records_carry_api_and_operation(fake: FakeLMStudio) -> None:
    chat(fake, "a")
    anthropic(fake, "b")
    native_v1(fake, "c")
    httpx.post(fake.base_url + "/embeddings", json={"model": EMBED, "input": "x"})
    httpx.get(fake.url + "/api/v0/models")
    httpx.get(fake.url + "/nowhere")
    seen = [(r.api, r.operation) for r in fake.requests]
    assert seen == [
        ("openai", "chat"),
        ("anthropic", "chat"),
        ("native_v1", "chat"),
        ("openai", "embed"),
        ("native_v0", "list"),
        (None, None),
    ]
    fake.assert_called(times=3, operation="chat")
    fake.assert_called_with(api="native_v1", operation="chat")
    assert fake.requests[0].to_dict()["operation"] == "chat"


def test_unknown_match_key_names_the_new_ones(fake: FakeLMStudio) -> None:
    from fake_lms.scripting.rules import ScriptError

    with pytest.raises(ScriptError, match="api, operation"):
        fake.reply("x", match={"dialect": "openai"})


# --------------------------------------------------------------------------------------------
# stream shaping, sans-IO: any event object with a ``token`` flag


@dataclass(frozen=True)
class Event:
    name: str
    token: bool = False


EVENTS = [Event("start"), Event("t1", True), Event("t2", True), Event("t3", True), Event("end")]


def test_cut_after_two_events_never_sends_the_end() -> None:
    out = list(shape_stream(iter(EVENTS), [StreamFault("stream_cut", {"after": 2})]))
    assert out == [Event("start"), Event("t1", True), Cut()]


def test_a_fault_beyond_the_end_acts_before_the_last_event() -> None:
    out = list(shape_stream(iter(EVENTS), [StreamFault("stream_error", {"after": 99, "message": "boom"})]))
    assert out[-1] == StreamFailure("boom") and Event("end") not in out


def test_garbage_and_stall_are_intents_between_events() -> None:
    faults = [
        StreamFault("malformed_chunk", {"after": 1, "data": None}),
        StreamFault("stall", {"after": 1, "seconds": 0.5}),
    ]
    out = list(shape_stream(iter(EVENTS), faults))
    assert out[:3] == [Event("start"), Pause(0.5), Garbage(None)]
    assert out[3:] == EVENTS[1:]


def test_slow_paces_only_token_events() -> None:
    out = list(shape_stream(iter(EVENTS), [StreamFault("slow", {"ttft": 5.0, "tokens_per_second": None})]))
    # nothing is slept here: each token is due ttft after the start, so (consumed at once) each
    # token event comes after a pause that the transport performs; other events come at once
    for i, item in enumerate(out):
        if isinstance(item, Event):
            assert isinstance(out[i - 1], Pause) == item.token
    assert [e for e in out if isinstance(e, Event)] == EVENTS
    assert out[1] == Pause(out[1].seconds) and out[1].seconds > 4.0
