"""LMStudioClient happy paths against pytest-httpserver serving LM Studio-shaped bodies."""

from __future__ import annotations

import json

import pytest
from _client_samples import (
    CHAT,
    COMPLETION,
    EMBEDDINGS,
    LOAD,
    NATIVE_MODELS,
    RESPONSE,
    SEARCH_TOOL,
    TEXT_STREAM,
    TOKEN,
    TOOL_CHAT,
    TOOL_STREAM,
    V0_MODELS,
    V1_MODELS,
    client,
    root,
    unexpected,
)
from pytest_httpserver import HTTPServer

from fake_lms.model.identity import LMSTUDIO_VERSION
from pytest_lmstudio.client import LMStudioClient
from pytest_lmstudio.client.config import ClientConfig
from pytest_lmstudio.client.results import (
    ChatResult,
    DownloadStatus,
    LoadedInstance,
    ModelInfo,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)


def test_greeting_is_running_and_version(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/lmstudio-greeting", method="GET").respond_with_json({"lmstudio": True})
    httpserver.expect_request("/lms-status", method="GET").respond_with_json(
        {"package": "lmstudio", "version": LMSTUDIO_VERSION}
    )
    with client(httpserver) as lms:
        assert lms.greeting() == {"lmstudio": True}
        assert lms.is_running() is True
        version = lms.version()
    assert version is not None
    assert (version.version, version.package) == (LMSTUDIO_VERSION, "lmstudio")


def test_version_is_none_when_server_lacks_lms_status(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/lms-status").respond_with_json(unexpected("GET", "/lms-status"))
    with client(httpserver) as lms:
        assert lms.version() is None


def test_models_from_native_v0(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v0/models", method="GET").respond_with_json(V0_MODELS)
    with client(httpserver) as lms:
        models = lms.models()
    assert [m.id for m in models] == ["google/gemma-3-4b", "text-embedding-nomic-embed-text-v1.5"]
    gemma, nomic = models
    assert gemma == ModelInfo(
        id="google/gemma-3-4b",
        type="vlm",
        state="loaded",
        publisher="google",
        arch="gemma3",
        compatibility_type="gguf",
        quantization="Q4_K_M",
        max_context_length=131072,
        loaded_context_length=12918,
        capabilities=("tool_use",),
    )
    assert gemma.is_loaded and not gemma.is_embedding
    assert nomic.type == "embeddings" and nomic.state == "not-loaded"
    assert nomic.loaded_context_length is None and nomic.capabilities == ()
    assert nomic.is_embedding and not nomic.is_loaded


def test_models_falls_back_to_v1_models_on_unexpected_endpoint(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v0/models").respond_with_json(unexpected("GET", "/api/v0/models"))
    httpserver.expect_request("/v1/models").respond_with_json(V1_MODELS)
    with client(httpserver) as lms:
        models = lms.models()
    assert [(m.id, m.type, m.state, m.source) for m in models] == [
        ("qwen/qwen3-4b", None, None, "/v1/models"),
        ("text-embedding-nomic-embed-text-v1.5", None, None, "/v1/models"),
    ]


def test_models_falls_back_to_v1_models_on_404(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v0/models").respond_with_data("Not Found", status=404)
    httpserver.expect_request("/v1/models").respond_with_json(V1_MODELS)
    with client(httpserver) as lms:
        assert [m.id for m in lms.models()] == ["qwen/qwen3-4b", "text-embedding-nomic-embed-text-v1.5"]


def test_loaded_from_native_v1(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/models", method="GET").respond_with_json(NATIVE_MODELS)
    with client(httpserver) as lms:
        loaded = lms.loaded()
    assert [(i.id, i.key, i.type, i.context_length) for i in loaded] == [
        ("google/gemma-4-26b-a4b", "google/gemma-4-26b-a4b", "llm", 4096),
        ("google/gemma-4-26b-a4b:2", "google/gemma-4-26b-a4b", "llm", 8192),
    ]
    assert loaded[0].display_name == "Gemma 4 26B A4B"
    assert loaded[0].config["num_experts"] == 8


def test_loaded_falls_back_to_v0_state(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/models").respond_with_json(unexpected("GET", "/api/v1/models"))
    httpserver.expect_request("/api/v0/models").respond_with_json(V0_MODELS)
    with client(httpserver) as lms:
        assert lms.loaded() == [
            LoadedInstance(
                id="google/gemma-3-4b",
                key="google/gemma-3-4b",
                type="vlm",
                context_length=12918,
                publisher="google",
                source="/api/v0/models",
            )
        ]


def test_chat_plain_string_becomes_user_message(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/v1/chat/completions",
        method="POST",
        json={"model": "qwen/qwen3-4b", "messages": [{"role": "user", "content": "Hi"}], "temperature": 0},
    ).respond_with_json(CHAT)
    with client(httpserver) as lms:
        result = lms.chat("Hi", model="qwen/qwen3-4b", temperature=0)
    assert result.text == "Hello! How can I help you today?"
    assert result.finish_reason == "stop"
    assert result.model == "google/gemma-4-e4b"
    assert result.id == "chatcmpl-0y6dbfrovvc94gvie5mdry1"
    assert result.usage == Usage(prompt_tokens=10, completion_tokens=10, total_tokens=20, reasoning_tokens=0)
    assert result.tool_calls == []
    assert result.reasoning is None
    assert result.parsed is None
    assert result.raw["system_fingerprint"] == "google/gemma-4-e4b"


def test_chat_uses_default_model_and_sends_bearer_key(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/v1/chat/completions",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"model": "google/gemma-3-1b", "messages": [{"role": "system", "content": "Be brief"}]},
    ).respond_with_json(CHAT)
    with LMStudioClient(root(httpserver) + "/v1/", api_key=TOKEN, default_model="google/gemma-3-1b") as lms:
        assert lms.chat([{"role": "system", "content": "Be brief"}]).text.startswith("Hello!")
        assert TOKEN not in repr(lms)
        assert "api_key='***'" in repr(lms)


def test_chat_without_any_model_sends_no_model_field(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]}
    ).respond_with_json(CHAT)
    with client(httpserver) as lms:
        assert lms.chat("x").text == "Hello! How can I help you today?"


def test_chat_tool_calls(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/v1/chat/completions",
        json={
            "model": "qwen/qwen3-4b",
            "messages": [{"role": "user", "content": "find a dell"}],
            "tools": [SEARCH_TOOL],
            "tool_choice": "required",
        },
    ).respond_with_json(TOOL_CHAT)
    with client(httpserver) as lms:
        result = lms.chat("find a dell", model="qwen/qwen3-4b", tools=[SEARCH_TOOL], tool_choice="required")
    assert result.text == ""
    assert result.finish_reason == "tool_calls"
    assert result.tool_calls == [
        ToolCall(
            id="365174485",
            name="search_products",
            arguments={"query": "dell", "category": "electronics", "max_price": 50},
            arguments_json='{"query":"dell","category":"electronics","max_price":50}',
        )
    ]
    assert result.tool_call is result.tool_calls[0]


SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def test_chat_json_schema_parsed(httpserver: HTTPServer) -> None:
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "city", "strict": True, "schema": SCHEMA},
    }
    body = json.loads(json.dumps(CHAT))
    body["choices"][0]["message"]["content"] = '{"city": "Paris"}'
    httpserver.expect_request(
        "/v1/chat/completions",
        json={
            "model": "m",
            "messages": [{"role": "user", "content": "where"}],
            "response_format": response_format,
        },
    ).respond_with_json(body)
    with client(httpserver) as lms:
        result = lms.chat("where", model="m", response_format=response_format)
    assert result.parsed == {"city": "Paris"}


def test_chat_bare_schema_and_pydantic_model_are_wrapped(httpserver: HTTPServer) -> None:
    pydantic = pytest.importorskip("pydantic")

    class City(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        city: str

    body = json.loads(json.dumps(CHAT))
    body["choices"][0]["message"]["content"] = '{"city": "Oslo"}'
    httpserver.expect_request("/v1/chat/completions").respond_with_json(body)
    with client(httpserver) as lms:
        bare = lms.chat("where", model="m", response_format=SCHEMA)
        typed = lms.chat("where", model="m", response_format=City)
    assert bare.parsed == {"city": "Oslo"}
    assert isinstance(typed.parsed, City) and typed.parsed.city == "Oslo"
    sent = [json.loads(req.get_data()) for req, _ in httpserver.log]
    assert sent[0]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "strict": True, "schema": SCHEMA},
    }
    assert sent[1]["response_format"]["json_schema"]["name"] == "City"
    assert sent[1]["response_format"]["json_schema"]["schema"]["required"] == ["city"]


def test_chat_invalid_json_content_gives_parsed_none(httpserver: HTTPServer) -> None:
    body = json.loads(json.dumps(CHAT))
    body["choices"][0]["message"]["content"] = "not json"
    httpserver.expect_request("/v1/chat/completions").respond_with_json(body)
    with client(httpserver) as lms:
        result = lms.chat("x", model="m", response_format=SCHEMA)
    assert (result.text, result.parsed) == ("not json", None)


def test_chat_reasoning_from_gpt_oss_field(httpserver: HTTPServer) -> None:
    body = json.loads(json.dumps(CHAT))
    del body["choices"][0]["message"]["reasoning_content"]
    body["choices"][0]["message"]["reasoning"] = "Thinking..."
    httpserver.expect_request("/v1/chat/completions").respond_with_json(body)
    with client(httpserver) as lms:
        assert lms.chat("x").reasoning == "Thinking..."


def test_stream_text_with_usage(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/v1/chat/completions",
        json={
            "model": "qwen/qwen3-4b",
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 5,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    ).respond_with_data(TEXT_STREAM, content_type="text/event-stream")
    with client(httpserver) as lms:
        events = list(lms.stream("hi", model="qwen/qwen3-4b", max_tokens=5))
    assert events[:3] == [TextDelta("Hel"), TextDelta("lo"), TextDelta("!")]
    final = events[-1]
    assert len(events) == 4 and isinstance(final, ChatResult)
    assert final.text == "Hello!"
    assert final.finish_reason == "stop"
    assert final.usage == Usage(prompt_tokens=7, completion_tokens=3, total_tokens=10)
    assert final.model == "qwen/qwen3-4b"
    assert final.id == "chatcmpl-um3b2l9t12bzrtha63q8"


def test_stream_tool_call_fragments(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/chat/completions").respond_with_data(
        TOOL_STREAM, content_type="text/event-stream"
    )
    with client(httpserver) as lms:
        events = list(lms.stream("weather?", model="qwen/qwen3-4b", tools=[SEARCH_TOOL]))
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert deltas[0] == ToolCallDelta(index=0, id="814890118", name="get_current_weather", arguments="")
    assert [d.arguments for d in deltas[1:]] == ['{"', "location", '":"', "San Francisco", '"}']
    assert all(d.name is None and d.id is None for d in deltas[1:])
    final = events[-1]
    assert isinstance(final, ChatResult)
    assert final.finish_reason == "tool_calls"
    assert final.usage is None
    assert final.tool_calls == [
        ToolCall(
            id="814890118",
            name="get_current_weather",
            arguments={"location": "San Francisco"},
            arguments_json='{"location":"San Francisco"}',
        )
    ]


def test_stream_reasoning_deltas(httpserver: HTTPServer) -> None:
    from _client_samples import chunk, sse

    body = sse(
        chunk({"role": "assistant", "reasoning_content": "Let me think"}),
        chunk({"role": "assistant", "reasoning": "."}),
        chunk({"role": "assistant", "content": "42"}),
        chunk({}, "stop"),
    )
    httpserver.expect_request("/v1/chat/completions").respond_with_data(
        body, content_type="text/event-stream"
    )
    with client(httpserver) as lms:
        events = list(lms.stream("q"))
    assert events[:3] == [ReasoningDelta("Let me think"), ReasoningDelta("."), TextDelta("42")]
    final = events[-1]
    assert isinstance(final, ChatResult)
    assert (final.text, final.reasoning) == ("42", "Let me think.")


def test_stream_accepts_eof_after_finish_reason_without_done(httpserver: HTTPServer) -> None:
    from _client_samples import chunk, sse

    body = sse(chunk({"content": "ok"}), chunk({}, "length"), done=False)
    httpserver.expect_request("/v1/chat/completions").respond_with_data(
        body, content_type="text/event-stream"
    )
    with client(httpserver) as lms:
        final = list(lms.stream("q"))[-1]
    assert isinstance(final, ChatResult)
    assert (final.text, final.finish_reason) == ("ok", "length")


def test_stream_server_ignoring_stream_flag_still_yields_result(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/chat/completions").respond_with_json(CHAT)
    with client(httpserver) as lms:
        events = list(lms.stream("q"))
    assert events[0] == TextDelta("Hello! How can I help you today?")
    assert isinstance(events[-1], ChatResult) and events[-1].text == "Hello! How can I help you today?"


def test_complete(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/v1/completions",
        method="POST",
        json={"model": "granite", "prompt": "The meaning of life is", "max_tokens": 9, "stop": ["\n"]},
    ).respond_with_json(COMPLETION)
    with client(httpserver) as lms:
        result = lms.complete("The meaning of life is", model="granite", max_tokens=9, stop=["\n"])
    assert result.text == " to find your purpose, and once you have"
    assert result.finish_reason == "length"
    assert result.usage == Usage(prompt_tokens=5, completion_tokens=9, total_tokens=14)
    assert result.model == "granite-3.0-2b-instruct"


def test_embed_list_sorted_by_index(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/v1/embeddings", json={"model": "text-embedding-nomic-embed-text-v1.5", "input": ["a", "b"]}
    ).respond_with_json(EMBEDDINGS)
    with client(httpserver) as lms:
        vectors = lms.embed(["a", "b"], model="text-embedding-nomic-embed-text-v1.5")
    assert vectors == [[-0.0167, 0.0284, 0.5], [0.25, -0.5, 0.125]]


def test_embed_single_string_uses_default_embedding_model(httpserver: HTTPServer) -> None:
    one = {**EMBEDDINGS, "data": [{"object": "embedding", "embedding": [1, 2], "index": 0}]}
    httpserver.expect_request("/v1/embeddings", json={"model": "nomic", "input": "a"}).respond_with_json(one)
    with client(httpserver, default_embedding_model="nomic", default_model="llm") as lms:
        assert lms.embed("a") == [[1.0, 2.0]]


def test_respond(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/v1/responses",
        method="POST",
        json={
            "model": "openai/gpt-oss-20b",
            "input": "Say hello",
            "previous_response_id": "resp_abc",
            "instructions": "Be terse",
            "reasoning": {"effort": "low"},
        },
    ).respond_with_json(RESPONSE)
    with client(httpserver) as lms:
        result = lms.respond(
            "Say hello",
            model="openai/gpt-oss-20b",
            previous_response_id="resp_abc",
            instructions="Be terse",
            reasoning={"effort": "low"},
        )
    assert result.id == RESPONSE["id"]
    assert result.output_text == "Hello there."
    assert result.status == "completed"
    assert result.usage is not None
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.total_tokens) == (12, 4, 16)


def test_respond_function_call_items(httpserver: HTTPServer) -> None:
    body = {
        "id": "resp_1",
        "object": "response",
        "output": [
            {"type": "function_call", "call_id": "123456789", "name": "f", "arguments": '{"a":1}'},
        ],
    }
    httpserver.expect_request("/v1/responses").respond_with_json(body)
    with client(httpserver) as lms:
        result = lms.respond([{"role": "user", "content": "x"}], model="m")
    assert result.output_text == ""
    assert result.tool_calls == [
        ToolCall(id="123456789", name="f", arguments={"a": 1}, arguments_json='{"a":1}')
    ]


def test_load_sends_echo_ttl_identifier(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/api/v1/models/load",
        method="POST",
        json={
            "model": "openai/gpt-oss-20b",
            "context_length": 16384,
            "flash_attention": True,
            "echo_load_config": True,
            "ttl": 300,
            "identifier": "oss",
        },
    ).respond_with_json(LOAD)
    with client(httpserver) as lms:
        result = lms.load(
            "openai/gpt-oss-20b", identifier="oss", ttl=300, context_length=16384, flash_attention=True
        )
    assert result.instance_id == "openai/gpt-oss-20b"
    assert result.status == "loaded"
    assert result.type == "llm"
    assert result.load_time_seconds == pytest.approx(9.099)
    assert result.load_config is not None and result.load_config["context_length"] == 16384


def test_load_minimal_body(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/api/v1/models/load", json={"model": "qwen/qwen3-4b", "echo_load_config": True}
    ).respond_with_json(
        {"type": "llm", "instance_id": "qwen/qwen3-4b", "load_time_seconds": 1, "status": "loaded"}
    )
    with client(httpserver) as lms:
        result = lms.load("qwen/qwen3-4b")
    assert (result.instance_id, result.load_config) == ("qwen/qwen3-4b", None)


def test_unload(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/api/v1/models/unload", method="POST", json={"instance_id": "qwen/qwen3-4b:2"}
    ).respond_with_json({"instance_id": "qwen/qwen3-4b:2"})
    with client(httpserver) as lms:
        assert lms.unload("qwen/qwen3-4b:2") == "qwen/qwen3-4b:2"


def test_download_polls_until_completed(httpserver: HTTPServer) -> None:
    job = "job_493c7c9ded"
    started = {
        "job_id": job,
        "status": "downloading",
        "total_size_bytes": 1000,
        "started_at": "2025-10-03T15:33:23.496Z",
    }
    httpserver.expect_request(
        "/api/v1/models/download", method="POST", json={"model": "openai/gpt-oss-20b"}
    ).respond_with_json(started)
    status_url = f"/api/v1/models/download/status/{job}"
    httpserver.expect_oneshot_request(status_url).respond_with_json(
        {**started, "downloaded_bytes": 400, "bytes_per_second": 100.0}
    )
    httpserver.expect_oneshot_request(status_url).respond_with_json(
        {**started, "status": "paused", "downloaded_bytes": 400}
    )
    httpserver.expect_oneshot_request(status_url).respond_with_json(
        {
            **started,
            "status": "completed",
            "downloaded_bytes": 1000,
            "completed_at": "2025-10-03T15:43:12.102Z",
        }
    )
    seen: list[DownloadStatus] = []
    with client(httpserver) as lms:
        final = lms.download("openai/gpt-oss-20b", on_progress=seen.append, poll_interval=0.01)
    assert final.status == "completed" and final.done
    assert final.completed_at == "2025-10-03T15:43:12.102Z"
    assert [(s.status, s.downloaded_bytes) for s in seen] == [
        ("downloading", None),
        ("downloading", 400),
        ("paused", 400),
        ("completed", 1000),
    ]
    assert seen[1].fraction == pytest.approx(0.4)
    httpserver.check_assertions()


def test_download_already_downloaded(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/models/download").respond_with_json({"status": "already_downloaded"})
    with client(httpserver) as lms:
        result = lms.download("qwen/qwen3-4b")
    assert (result.status, result.job_id, result.done, result.fraction) == (
        "already_downloaded",
        None,
        True,
        1.0,
    )
    assert len(httpserver.log) == 1


def test_ensure_ready_already_loaded(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/lmstudio-greeting").respond_with_json({"lmstudio": True})
    httpserver.expect_request("/api/v1/models").respond_with_json(NATIVE_MODELS)
    with client(httpserver) as lms:
        report = lms.ensure_ready("google/gemma-4-26b-a4b")
    assert (report.instance_id, report.actions, report.already_loaded) == ("google/gemma-4-26b-a4b", (), True)
    assert [req.path for req, _ in httpserver.log] == ["/lmstudio-greeting", "/api/v1/models"]


def test_ensure_ready_loads_downloaded_model_with_ttl(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/lmstudio-greeting").respond_with_json({"lmstudio": True})
    httpserver.expect_request("/api/v1/models").respond_with_json(NATIVE_MODELS)
    httpserver.expect_request(
        "/api/v1/models/load",
        json={
            "model": "text-embedding-nomic-embed-text-v1.5-embedding",
            "echo_load_config": True,
            "ttl": 600,
        },
    ).respond_with_json(
        {
            "type": "embedding",
            "instance_id": "text-embedding-nomic-embed-text-v1.5-embedding",
            "status": "loaded",
        }
    )
    with client(httpserver) as lms:
        report = lms.ensure_ready("text-embedding-nomic-embed-text-v1.5-embedding", ttl=600)
    assert report.actions == ("loaded",)
    assert report.loaded and not report.downloaded and not report.already_loaded


def test_ensure_ready_downloads_when_allowed(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/lmstudio-greeting").respond_with_json({"lmstudio": True})
    httpserver.expect_request("/api/v1/models").respond_with_json(NATIVE_MODELS)
    httpserver.expect_request(
        "/api/v1/models/download", json={"model": "openai/gpt-oss-20b"}
    ).respond_with_json({"job_id": "job_0123456789", "status": "downloading", "total_size_bytes": 10})
    httpserver.expect_request("/api/v1/models/download/status/job_0123456789").respond_with_json(
        {"job_id": "job_0123456789", "status": "completed", "total_size_bytes": 10, "downloaded_bytes": 10}
    )
    httpserver.expect_request("/api/v1/models/load").respond_with_json(LOAD)
    with client(httpserver) as lms:
        report = lms.ensure_ready("openai/gpt-oss-20b", allow_download=True)
    assert report.actions == ("downloaded", "loaded")
    assert report.instance_id == "openai/gpt-oss-20b"


def test_ensure_ready_on_v0_only_server(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/lmstudio-greeting").respond_with_json({"lmstudio": True})
    httpserver.expect_request("/api/v1/models").respond_with_json(unexpected("GET", "/api/v1/models"))
    httpserver.expect_request("/api/v0/models").respond_with_json(V0_MODELS)
    with client(httpserver) as lms:
        report = lms.ensure_ready("google/gemma-3-4b")
    assert (report.instance_id, report.actions) == ("google/gemma-3-4b", ())


def test_client_reads_env_and_explicit_args_win(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LMSTUDIO_URL", root(httpserver) + "/v1")
    monkeypatch.setenv("LM_API_TOKEN", TOKEN)
    monkeypatch.delenv("LMSTUDIO_API_KEY", raising=False)
    httpserver.expect_request(
        "/lmstudio-greeting", headers={"Authorization": f"Bearer {TOKEN}"}
    ).respond_with_json({"lmstudio": True})
    with LMStudioClient() as lms:
        assert lms.base_url == root(httpserver)
        assert lms.openai_base_url == root(httpserver) + "/v1"
        assert lms.config.api_key_source == "LM_API_TOKEN"
        assert lms.greeting() == {"lmstudio": True}
    with LMStudioClient("http://127.0.0.1:9", api_key="other") as lms:
        assert lms.base_url == "http://127.0.0.1:9"
        assert lms.config.api_key == "other"


def test_config_object_and_overrides() -> None:
    cfg = ClientConfig(base_url="localhost:1234/v1/", default_model="a", timeout=3)
    with LMStudioClient(config=cfg, default_model="b") as lms:
        assert lms.base_url == "http://localhost:1234"
        assert lms.default_model == "b"
        assert lms.config.timeout == 3


def test_one_pooled_http_client_is_reused(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/lmstudio-greeting").respond_with_json({"lmstudio": True})
    with client(httpserver) as lms:
        http = lms._http
        lms.greeting()
        lms.greeting()
        assert lms._http is http
        assert http.timeout.connect == 5.0 and http.timeout.read == 120.0
    assert http.is_closed


def test_stream_and_chat_reject_wrong_kwargs(httpserver: HTTPServer) -> None:
    with client(httpserver) as lms:
        with pytest.raises(TypeError, match="use stream"):
            lms.chat("x", stream=True)
        with pytest.raises(TypeError, match="dict like"):
            lms.chat(["not a dict"])  # type: ignore[list-item]
        with pytest.raises(TypeError, match="needs a model"):
            lms.ensure_ready()
