"""A prompt larger than the loaded instance's context (issue 14 item 1).

LM Studio 0.4.x passes on llama.cpp's refusal: a non-streamed request gets 400
``{"error":"The number of tokens to keep from the initial prompt is greater than the context length
(n_keep: N>= n_ctx: M). Try to load the model with a larger context length, or provide a shorter
input."}`` (Gitlawb/openclaude#353); ``/v1/messages`` reports it as a 500 ``api_error``
(lmstudio-surface.md §1.6); a streamed request on 0.4.21 gets HTTP 200 carrying the error
(bug-tracker #2322), and the GGUF path sometimes an empty 200 stream (#2339). Loading the model
with a larger context length fixes it, as in LM Studio."""

from __future__ import annotations

import httpx
import openai
import pytest

from fake_lms import FakeLMStudio

LLM = "qwen/qwen3-4b"
PROMPT = " ".join(f"word{i}" for i in range(20_000))  # 20,000 words: far over 4,096 tokens
PREFIX = "The number of tokens to keep from the initial prompt is greater than the context length (n_keep: "
SUFFIX = ">= n_ctx: 4096). Try to load the model with a larger context length, or provide a shorter input."

CHAT = {"model": LLM, "messages": [{"role": "user", "content": PROMPT}]}
NON_STREAMED = [
    ("/v1/chat/completions", CHAT),
    ("/api/v0/chat/completions", CHAT),
    ("/v1/completions", {"model": LLM, "prompt": PROMPT}),
    ("/api/v0/completions", {"model": LLM, "prompt": PROMPT}),
    ("/v1/responses", {"model": LLM, "input": PROMPT}),
]


def assert_overflow_message(message: str) -> None:
    assert message.startswith(PREFIX) and message.endswith(SUFFIX), message
    n_keep = int(message[len(PREFIX) :].split(">=")[0])
    assert n_keep >= 20_000


@pytest.mark.parametrize(("path", "body"), NON_STREAMED)
def test_openai_dialects_answer_400_with_the_bare_string(fake: FakeLMStudio, path: str, body: dict) -> None:
    r = httpx.post(fake.url + path, json=body, timeout=30)
    assert r.status_code == 400
    assert list(r.json()) == ["error"] and isinstance(r.json()["error"], str)
    assert_overflow_message(r.json()["error"])


def test_anthropic_answers_500_api_error(fake: FakeLMStudio) -> None:
    body = {"model": LLM, "max_tokens": 100, "messages": [{"role": "user", "content": PROMPT}]}
    r = httpx.post(fake.url + "/v1/messages", json=body, timeout=30)
    assert r.status_code == 500 and r.json()["type"] == "error"
    assert r.json()["error"]["type"] == "api_error"
    assert_overflow_message(r.json()["error"]["message"])


def test_native_v1_answers_in_its_own_shape(fake: FakeLMStudio) -> None:
    r = httpx.post(fake.url + "/api/v1/chat", json={"model": LLM, "input": PROMPT}, timeout=30)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert_overflow_message(error["message"])


def test_the_openai_sdk_raises_bad_request(fake: FakeLMStudio) -> None:
    client = openai.OpenAI(base_url=fake.base_url, api_key="lm-studio", max_retries=0)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=LLM, messages=[{"role": "user", "content": PROMPT}])
    # the bare-string body is what LM Studio sends: the SDK's message is then only the status
    assert "n_keep" in info.value.response.text


def test_a_streamed_request_gets_200_carrying_the_error(fake: FakeLMStudio) -> None:
    client = openai.OpenAI(base_url=fake.base_url, api_key="lm-studio", max_retries=0)
    with pytest.raises(openai.APIError) as info:
        for _ in client.chat.completions.create(
            model=LLM, messages=[{"role": "user", "content": PROMPT}], stream=True
        ):
            pass
    assert "n_keep" in str(info.value)
    with httpx.stream("POST", fake.base_url + "/chat/completions", json={**CHAT, "stream": True}) as r:
        text = r.read().decode()
    assert r.status_code == 200 and text.startswith("data: {") and "[DONE]" not in text


def test_anthropic_and_v1_streams_carry_their_error_event(fake: FakeLMStudio) -> None:
    body = {"model": LLM, "max_tokens": 9, "stream": True, "messages": [{"role": "user", "content": PROMPT}]}
    r = httpx.post(fake.url + "/v1/messages", json=body, timeout=30)
    assert r.status_code == 200 and r.text.startswith("event: error\ndata: ")
    r = httpx.post(
        fake.url + "/api/v1/chat", json={"model": LLM, "input": PROMPT, "stream": True}, timeout=30
    )
    assert r.status_code == 200 and r.text.startswith("event: error\ndata: ")


@pytest.mark.parametrize(("mode", "status", "body"), [("status", 400, "n_keep"), ("empty", 200, "")])
def test_older_stream_behaviours_by_setting(fake: FakeLMStudio, mode: str, status: int, body: str) -> None:
    fake.configure(overflow_stream=mode)
    r = httpx.post(fake.base_url + "/chat/completions", json={**CHAT, "stream": True}, timeout=30)
    assert r.status_code == status
    assert (body in r.text) if body else r.text == ""


def test_a_larger_context_length_fixes_it(fake: FakeLMStudio) -> None:
    r = httpx.post(fake.url + "/api/v1/models/load", json={"model": LLM, "context_length": 40960}, timeout=30)
    assert r.status_code == 200
    r = httpx.post(fake.base_url + "/chat/completions", json=CHAT, timeout=30)
    assert r.status_code == 200 and r.json()["usage"]["prompt_tokens"] > 20_000


def test_a_prompt_just_under_the_context_is_answered(fake: FakeLMStudio) -> None:
    words = " ".join(f"w{i}" for i in range(3_900))
    r = httpx.post(
        fake.base_url + "/chat/completions",
        json={"model": LLM, "messages": [{"role": "user", "content": words}]},
    )
    assert r.status_code == 200 and r.json()["usage"]["prompt_tokens"] < 4096
