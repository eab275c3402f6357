"""AsyncLMStudioClient happy paths: the same bodies as the sync tests, awaited."""

from __future__ import annotations

from contextlib import aclosing

import pytest
from _client_samples import (
    CHAT,
    COMPLETION,
    EMBEDDINGS,
    LOAD,
    NATIVE_MODELS,
    RESPONSE,
    TEXT_STREAM,
    TOKEN,
    TOOL_STREAM,
    V0_MODELS,
    V1_MODELS,
    aclient,
    root,
    unexpected,
)
from pytest_httpserver import HTTPServer

from fake_lms.model.identity import LMSTUDIO_VERSION
from pytest_lmstudio.client import AsyncLMStudioClient
from pytest_lmstudio.client.results import ChatResult, DownloadStatus, TextDelta, ToolCallDelta, Usage


async def test_probes(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/lmstudio-greeting").respond_with_json({"lmstudio": True})
    httpserver.expect_request("/lms-status").respond_with_json(
        {"package": "lmstudio", "version": LMSTUDIO_VERSION}
    )
    async with aclient(httpserver) as lms:
        assert await lms.greeting() == {"lmstudio": True}
        assert await lms.is_running() is True
        version = await lms.version()
    assert version is not None and version.version == LMSTUDIO_VERSION


async def test_models_and_fallback(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/api/v0/models").respond_with_json(V0_MODELS)
    httpserver.expect_oneshot_request("/api/v0/models").respond_with_json(unexpected("GET", "/api/v0/models"))
    httpserver.expect_request("/v1/models").respond_with_json(V1_MODELS)
    async with aclient(httpserver) as lms:
        native = await lms.models()
        fallback = await lms.models()
    assert [(m.id, m.type, m.state) for m in native] == [
        ("google/gemma-3-4b", "vlm", "loaded"),
        ("text-embedding-nomic-embed-text-v1.5", "embeddings", "not-loaded"),
    ]
    assert [(m.id, m.source) for m in fallback] == [
        ("qwen/qwen3-4b", "/v1/models"),
        ("text-embedding-nomic-embed-text-v1.5", "/v1/models"),
    ]


async def test_loaded(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/models").respond_with_json(NATIVE_MODELS)
    async with aclient(httpserver) as lms:
        loaded = await lms.loaded()
    assert [i.id for i in loaded] == ["google/gemma-4-26b-a4b", "google/gemma-4-26b-a4b:2"]


async def test_chat_with_key(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/v1/chat/completions",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"model": "qwen/qwen3-4b", "messages": [{"role": "user", "content": "Hi"}], "seed": 1},
    ).respond_with_json(CHAT)
    async with AsyncLMStudioClient(root(httpserver), api_key=TOKEN, default_model="qwen/qwen3-4b") as lms:
        result = await lms.chat("Hi", seed=1)
        assert TOKEN not in repr(lms)
    assert result.text == "Hello! How can I help you today?"
    assert result.usage == Usage(prompt_tokens=10, completion_tokens=10, total_tokens=20, reasoning_tokens=0)


async def test_stream_text_and_tools(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(
        "/v1/chat/completions",
        json={
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    ).respond_with_data(TEXT_STREAM, content_type="text/event-stream")
    httpserver.expect_oneshot_request("/v1/chat/completions").respond_with_data(
        TOOL_STREAM, content_type="text/event-stream"
    )
    async with aclient(httpserver) as lms:
        text_events = [e async for e in lms.stream("hi", model="m")]
        tool_events = [e async for e in lms.stream("weather", model="m")]
    assert text_events[:3] == [TextDelta("Hel"), TextDelta("lo"), TextDelta("!")]
    final = text_events[-1]
    assert isinstance(final, ChatResult) and final.text == "Hello!"
    assert final.usage == Usage(prompt_tokens=7, completion_tokens=3, total_tokens=10)
    assert isinstance(tool_events[0], ToolCallDelta)
    tool_final = tool_events[-1]
    assert isinstance(tool_final, ChatResult)
    assert tool_final.tool_calls[0].arguments == {"location": "San Francisco"}
    assert tool_final.tool_calls[0].id == "814890118"


async def test_stream_can_be_closed_early(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/chat/completions").respond_with_data(
        TEXT_STREAM, content_type="text/event-stream"
    )
    async with aclient(httpserver) as lms:
        async with aclosing(lms.stream("hi")) as events:  # type: ignore[type-var]
            first = await events.__anext__()
    assert first == TextDelta("Hel")


async def test_complete_embed_respond(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/completions", json={"model": "g", "prompt": "p"}).respond_with_json(
        COMPLETION
    )
    httpserver.expect_request("/v1/embeddings", json={"model": "e", "input": ["a", "b"]}).respond_with_json(
        EMBEDDINGS
    )
    httpserver.expect_request(
        "/v1/responses", json={"model": "o", "input": "hi", "instructions": "short"}
    ).respond_with_json(RESPONSE)
    async with aclient(httpserver) as lms:
        completion = await lms.complete("p", model="g")
        vectors = await lms.embed(["a", "b"], model="e")
        response = await lms.respond("hi", model="o", instructions="short")
    assert completion.text == " to find your purpose, and once you have"
    assert vectors == [[-0.0167, 0.0284, 0.5], [0.25, -0.5, 0.125]]
    assert (response.id, response.output_text) == (RESPONSE["id"], "Hello there.")


async def test_load_unload(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/api/v1/models/load", json={"model": "openai/gpt-oss-20b", "echo_load_config": True, "ttl": 60}
    ).respond_with_json(LOAD)
    httpserver.expect_request(
        "/api/v1/models/unload", json={"instance_id": "openai/gpt-oss-20b"}
    ).respond_with_json({"instance_id": "openai/gpt-oss-20b"})
    async with aclient(httpserver) as lms:
        result = await lms.load("openai/gpt-oss-20b", ttl=60)
        assert result.instance_id == "openai/gpt-oss-20b"
        assert await lms.unload(result.instance_id) == "openai/gpt-oss-20b"


async def test_download_with_async_progress_callback(httpserver: HTTPServer) -> None:
    job = "job_1234567890"
    httpserver.expect_request("/api/v1/models/download").respond_with_json(
        {"job_id": job, "status": "downloading", "total_size_bytes": 4}
    )
    httpserver.expect_oneshot_request(f"/api/v1/models/download/status/{job}").respond_with_json(
        {"job_id": job, "status": "downloading", "total_size_bytes": 4, "downloaded_bytes": 2}
    )
    httpserver.expect_oneshot_request(f"/api/v1/models/download/status/{job}").respond_with_json(
        {"job_id": job, "status": "completed", "total_size_bytes": 4, "downloaded_bytes": 4}
    )
    seen: list[tuple[str, float | None]] = []

    async def progress(status: DownloadStatus) -> None:
        seen.append((status.status, status.fraction))

    async with aclient(httpserver) as lms:
        final = await lms.download("x/y", on_progress=progress, poll_interval=0.01)
    assert final.status == "completed"
    assert seen == [("downloading", None), ("downloading", 0.5), ("completed", 1.0)]


async def test_ensure_ready(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/lmstudio-greeting").respond_with_json({"lmstudio": True})
    httpserver.expect_request("/api/v1/models").respond_with_json(NATIVE_MODELS)
    httpserver.expect_request("/api/v1/models/load").respond_with_json(
        {
            "type": "embedding",
            "instance_id": "text-embedding-nomic-embed-text-v1.5-embedding",
            "status": "loaded",
        }
    )
    async with aclient(httpserver) as lms:
        already = await lms.ensure_ready("google/gemma-4-26b-a4b:2")
        loaded = await lms.ensure_ready("text-embedding-nomic-embed-text-v1.5-embedding")
    assert (already.instance_id, already.actions) == ("google/gemma-4-26b-a4b:2", ())
    assert loaded.actions == ("loaded",)


async def test_aclose_closes_pool() -> None:
    lms = AsyncLMStudioClient("http://127.0.0.1:9", api_key="k")
    http = lms._http
    await lms.aclose()
    assert http.is_closed


@pytest.mark.parametrize("value", ["", "   "])
async def test_blank_api_key_means_no_header(httpserver: HTTPServer, value: str) -> None:
    httpserver.expect_request("/lmstudio-greeting").respond_with_json({"lmstudio": True})
    async with AsyncLMStudioClient(root(httpserver), api_key=value) as lms:
        await lms.greeting()
        assert not lms.has_api_key
    request, _ = httpserver.log[0]
    assert "Authorization" not in request.headers
