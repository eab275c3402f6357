"""llm-lmstudio 0.3.1 (clients.md §6) replayed with httpx: the requests it sends, byte for byte as
``requests`` serialises them, and exactly the fields it reads back."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import pytest

from fake_lms import FakeLMStudio

# what `requests` sends (no Authorization header: llm-lmstudio never sends one)
HEADERS = {"User-Agent": "python-requests/2.32.3", "Accept-Encoding": "gzip, deflate", "Accept": "*/*"}


@pytest.fixture
def fake(tmp_path):
    with FakeLMStudio(home=tmp_path / "home") as server:
        yield server


@pytest.fixture
def base(fake):
    return fake.url  # LMSTUDIO_API_BASE: the root, without /v1


def get(url: str) -> httpx.Response:
    return httpx.get(url, headers=HEADERS, timeout=90, verify=False)


def post(url: str, payload: Any) -> httpx.Response:
    body = json.dumps(payload).encode()  # requests: json.dumps with default separators
    return httpx.post(
        url, content=body, headers={**HEADERS, "Content-Type": "application/json"}, timeout=90, verify=False
    )


def post_stream(url: str, payload: Any) -> dict[str, Any]:
    body = json.dumps(payload).encode()
    headers = {**HEADERS, "Content-Type": "application/json"}
    with httpx.stream("POST", url, content=body, headers=headers, timeout=90, verify=False) as resp:
        assert resp.status_code == 200
        return read_stream(resp)


def register_models(base: str) -> tuple[list[dict[str, Any]], list[str]]:
    """``_fetch_models`` + ``register_models`` / ``register_embedding_models``."""
    r = get(f"{base}/api/v0/models")
    assert r.status_code != 404  # a 404 would make the plugin fall back to /v1/models
    meta = r.json().get("data", [])
    for m in meta:
        m["vision"] = m.get("type") == "vlm" or m.get("vision") is True
    chat = [m for m in meta if m.get("type") != "embeddings"]
    embed = [m["id"] for m in meta if m.get("type") == "embeddings"]
    for m in chat:  # what `llm models` shows / `llm inspect` keeps
        for name in ("id", "publisher", "arch", "quantization", "max_context_length", "state"):
            assert m.get(name) is not None, name
    return chat, embed


def is_model_loaded(base: str, raw_id: str) -> bool:
    r = get(f"{base}/api/v0/models/{raw_id}")
    if r.status_code == 200:
        return r.json().get("state") == "loaded"
    assert r.status_code == 404
    r = get(f"{base}/v1/models")
    r.raise_for_status()
    return any(m.get("id") == raw_id for m in r.json().get("data", []))


def attempt_load_model(base: str, raw_id: str) -> dict[str, Any]:
    r = post(f"{base}/api/v1/models/load", {"model": raw_id})
    r.raise_for_status()
    result = r.json()
    assert result.get("status") == "loaded", result
    assert isinstance(result.get("load_time_seconds"), (int, float))
    assert isinstance(result.get("instance_id"), str)
    return result


def read_stream(resp: httpx.Response) -> dict[str, Any]:
    """``_process_stream_line`` / ``_finalize_stream``: text, reasoning, tool calls, usage, model."""
    state: dict[str, Any] = {"text": "", "reasoning": "", "tool_calls": [], "usage": None, "model": None}
    for line in resp.iter_lines():
        if not line or line == "data: [DONE]" or not line.startswith("data:"):
            continue
        chunk = json.loads(line[5:].strip())
        assert isinstance(chunk, dict)
        state["model"] = chunk.get("model", state["model"])
        if isinstance(chunk.get("usage"), dict):
            state["usage"] = chunk["usage"]
        choices = chunk.get("choices")
        if not choices:
            continue
        delta = choices[0].get("delta", {})
        assert isinstance(delta, dict)
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning:
            state["reasoning"] += reasoning
        if delta.get("content"):
            state["text"] += delta["content"]
        for call in delta.get("tool_calls") or []:
            index = call["index"]
            assert isinstance(index, int)
            while len(state["tool_calls"]) <= index:
                state["tool_calls"].append({"id": None, "name": "", "arguments": ""})
            slot = state["tool_calls"][index]
            slot["id"] = call.get("id") or slot["id"]
            fn = call.get("function") or {}
            slot["name"] += fn.get("name") or ""
            slot["arguments"] += fn.get("arguments") or ""
    return state


def chat_payload(raw_id: str, messages: list[dict[str, Any]], stream: bool, **options: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"model": raw_id, "messages": messages, **options}
    payload["stream"] = stream
    if stream:
        payload["stream_options"] = {"include_usage": True}
    return payload


def test_registration_reads_v0_models(base):
    chat, embed = register_models(base)
    assert [m["id"] for m in chat] == ["qwen/qwen3-4b", "google/gemma-3-1b"]
    assert embed == ["text-embedding-nomic-embed-text-v1.5"]
    assert all(m["state"] == "not-loaded" and m["vision"] is False for m in chat)


def test_prompt_flow_check_load_then_stream(fake, base):
    raw_id = "google/gemma-3-1b"
    assert is_model_loaded(base, raw_id) is False
    result = attempt_load_model(base, raw_id)
    assert result["instance_id"] == raw_id
    assert is_model_loaded(base, raw_id) is True
    payload = chat_payload(
        raw_id, [{"role": "user", "content": "Say hi"}], True, temperature=0.7, max_tokens=200, stop=["\n\n"]
    )
    state = post_stream(f"{base}/api/v0/chat/completions", payload)
    assert "Say hi" in state["text"]
    assert state["model"] == raw_id
    usage = state["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    # the model was loaded once, by the explicit load (the chat did not JIT-load it again)
    assert [i.identifier for i in fake.home.instances()] == [raw_id]


def test_non_streaming_prompt(base):
    r = post(
        f"{base}/api/v0/chat/completions",
        chat_payload("qwen/qwen3-4b", [{"role": "user", "content": "Hello"}], False),
    )
    r.raise_for_status()
    body = r.json()
    assert "Hello" in body["choices"][0]["message"]["content"]
    assert isinstance(body["choices"][0]["message"].get("reasoning_content"), str)
    assert body["model"] == "qwen/qwen3-4b"
    assert body["usage"]["prompt_tokens"] > 0 and body["usage"]["completion_tokens"] > 0


def test_tool_round_trip_streamed(base):
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "What is the weather in Paris? Use get_weather."}
    ]
    state = post_stream(
        f"{base}/api/v0/chat/completions", {**chat_payload("qwen/qwen3-4b", messages, True), "tools": tools}
    )
    (call,) = state["tool_calls"]
    assert call["name"] == "get_weather"
    arguments = json.loads(call["arguments"])  # must be a JSON string
    assert isinstance(arguments["city"], str)
    # the next round resends the history with assistant.tool_calls and a tool message
    messages += [
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": state["reasoning"],
            "tool_calls": [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call["id"], "content": "Sunny, 21C"},
    ]
    r = post(
        f"{base}/api/v0/chat/completions", {**chat_payload("qwen/qwen3-4b", messages, False), "tools": tools}
    )
    # LM Studio refuses `content: null`, even beside tool_calls (fidelity review row 9, still so on
    # 2026-02-01): replayed as llm-lmstudio sends it, the second round trips over that
    assert r.status_code == 400
    refused = "Invalid 'content': 'content' field must be a string or an array of objects.."
    assert r.json() == {"error": refused}
    messages[-2]["content"] = ""  # what a client must send instead
    r = post(
        f"{base}/api/v0/chat/completions", {**chat_payload("qwen/qwen3-4b", messages, False), "tools": tools}
    )
    r.raise_for_status()
    assert "Sunny, 21C" in r.json()["choices"][0]["message"]["content"]


def test_schema_prompt_uses_v1_chat_completions(base):
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    payload = {
        "model": "google/gemma-3-1b",
        "messages": [{"role": "user", "content": "Invent a dog"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "llm_generated_schema", "schema": schema},
        },
        "stream": False,
    }
    r = post(f"{base}/v1/chat/completions", payload)
    r.raise_for_status()
    jsonschema.validate(json.loads(r.json()["choices"][0]["message"]["content"]), schema)


def test_embeddings(base):
    r = post(
        f"{base}/api/v0/embeddings",
        {"model": "text-embedding-nomic-embed-text-v1.5", "input": ["hello world", "goodbye"]},
    )
    r.raise_for_status()
    vectors = [item["embedding"] for item in r.json()["data"]]
    assert len(vectors) == 2 and all(len(v) == 768 and isinstance(v[0], float) for v in vectors)


def test_unknown_model_gives_model_not_found_code(base):
    r = post(
        f"{base}/api/v0/chat/completions", chat_payload("nope/nope", [{"role": "user", "content": "x"}], True)
    )
    assert r.status_code >= 400
    assert r.json().get("error", {}).get("code") == "model_not_found"


def test_load_failure_message_is_readable(base):
    r = post(f"{base}/api/v1/models/load", {"model": "openai/gpt-oss-20b"})  # not downloaded
    assert r.status_code >= 400
    assert "openai/gpt-oss-20b" in r.json().get("error", {}).get("message", "")


def test_jit_off_fallback_path(fake, base):
    """JIT off: the model is not listed, /api/v0/models/{id} is 404, the /v1/models fallback says
    not loaded, and the explicit load makes everything work."""
    fake.configure(jit=False)
    raw_id = "google/gemma-3-1b"
    assert register_models(base) == ([], [])
    assert is_model_loaded(base, raw_id) is False
    attempt_load_model(base, raw_id)
    assert is_model_loaded(base, raw_id) is True
    chat, _ = register_models(base)
    assert [m["id"] for m in chat] == [raw_id] and chat[0]["state"] == "loaded"
    r = post(
        f"{base}/api/v0/chat/completions", chat_payload(raw_id, [{"role": "user", "content": "x"}], False)
    )
    assert r.status_code == 200 and r.json()["model"] == raw_id
