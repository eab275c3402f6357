"""Every LMStudioClient / AsyncLMStudioClient method against the bundled fake LM Studio."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fake_lms import FakeLMStudio
from pytest_lmstudio.client import AsyncLMStudioClient, LMStudioClient
from pytest_lmstudio.client.config import ClientConfig
from pytest_lmstudio.client.results import ChatResult, DownloadStatus, TextDelta, ToolCallDelta
from pytest_lmstudio.errors import (
    ModelNotFound,
    ModelNotLoaded,
    ServerNotRunning,
    Unauthorized,
    WrongEndpoint,
)
from pytest_lmstudio.lms import Lms

QWEN = "qwen/qwen3-4b"
GEMMA = "google/gemma-3-1b"
NOMIC = "text-embedding-nomic-embed-text-v1.5"
OSS = "openai/gpt-oss-20b"
TOKEN = "sk-lm-Ab3dEf7h:Qr5tUv9wXy1zAb3dEf7h"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
CITY_SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "city",
        "strict": True,
        "schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture
def lmfake() -> Iterator[FakeLMStudio]:
    with FakeLMStudio() as server:
        yield server


def sync_client(url: str, **kw: Any) -> LMStudioClient:
    return LMStudioClient(config=ClientConfig(base_url=url, **kw))


def async_client(url: str, **kw: Any) -> AsyncLMStudioClient:
    return AsyncLMStudioClient(config=ClientConfig(base_url=url, **kw))


# -- sync -----------------------------------------------------------------------------------------


def test_probes(lmfake: FakeLMStudio) -> None:
    with sync_client(lmfake.base_url) as lms:  # the /v1 form is accepted too
        assert lms.base_url == lmfake.url
        assert lms.greeting() == {"lmstudio": True}
        assert lms.is_running() is True
        version = lms.version()
    assert version is not None and version.version.startswith("0.4")


def test_models_and_loaded(lmfake: FakeLMStudio) -> None:
    with sync_client(lmfake.url) as lms:
        models = {m.id: m for m in lms.models()}
        assert {QWEN, GEMMA, NOMIC} <= set(models)
        assert OSS not in models  # in the catalog, not downloaded
        assert (models[QWEN].type, models[QWEN].state) == ("llm", "not-loaded")
        assert "tool_use" in models[QWEN].capabilities
        assert models[NOMIC].type == "embeddings"
        assert lms.loaded() == []


def test_chat_text_tools_and_json(lmfake: FakeLMStudio) -> None:
    with sync_client(lmfake.url) as lms:
        plain = lms.chat("Hello", model=QWEN, temperature=0)
        tools = lms.chat("What is the weather in Paris?", model=QWEN, tools=[WEATHER], tool_choice="required")
        structured = lms.chat("Name a city", model=QWEN, response_format=CITY_SCHEMA)
    assert plain.text and plain.finish_reason == "stop"
    assert plain.model == QWEN
    assert (
        plain.usage is not None
        and plain.usage.total_tokens == plain.usage.prompt_tokens + plain.usage.completion_tokens
    )
    assert tools.finish_reason == "tool_calls"
    call = tools.tool_calls[0]
    assert call.name == "get_weather" and isinstance(call.arguments, dict) and "city" in call.arguments
    assert len(call.id) == 9 and call.id.isdigit()
    assert isinstance(structured.parsed, dict) and isinstance(structured.parsed["city"], str)


def test_stream_text_and_tool_calls(lmfake: FakeLMStudio) -> None:
    with sync_client(lmfake.url) as lms:
        text_events = list(lms.stream("Hello", model=QWEN))
        tool_events = list(
            lms.stream("Weather in Oslo?", model=QWEN, tools=[WEATHER], tool_choice="required")
        )
    final = text_events[-1]
    assert isinstance(final, ChatResult)
    assert "".join(e.text for e in text_events if isinstance(e, TextDelta)) == final.text != ""
    assert final.finish_reason == "stop"
    assert final.usage is not None and final.usage.completion_tokens > 0  # include_usage honoured
    tool_final = tool_events[-1]
    assert isinstance(tool_final, ChatResult)
    assert any(isinstance(e, ToolCallDelta) for e in tool_events)
    assert tool_final.finish_reason == "tool_calls"
    assert tool_final.tool_calls[0].name == "get_weather"
    assert tool_final.tool_calls[0].arguments is not None


def test_complete_embed_respond(lmfake: FakeLMStudio) -> None:
    with sync_client(lmfake.url) as lms:
        completion = lms.complete("Once upon a time", model=GEMMA, max_tokens=5)
        vectors = lms.embed(["a", "b"], model=NOMIC)
        single = lms.embed("a", model=NOMIC)
        first = lms.respond("My name is Ada.", model=QWEN)
        second = lms.respond("What is my name?", model=QWEN, previous_response_id=first.id)
    assert completion.text and completion.finish_reason in ("stop", "length")
    assert [len(v) for v in vectors] == [768, 768]
    assert single == vectors[:1]
    assert first.id.startswith("resp_") and first.output_text
    assert second.id.startswith("resp_") and second.id != first.id
    assert first.usage is not None and first.usage.input_tokens > 0


def test_load_loaded_unload(lmfake: FakeLMStudio) -> None:
    with sync_client(lmfake.url) as lms:
        result = lms.load(GEMMA, identifier="g1", ttl=120, context_length=2048)
        assert (result.instance_id, result.status, result.type) == ("g1", "loaded", "llm")
        assert result.load_config is not None and result.load_config["context_length"] == 2048
        assert [(i.id, i.key, i.context_length) for i in lms.loaded()] == [("g1", GEMMA, 2048)]
        assert {m.id: m.state for m in lms.models()}[GEMMA] == "loaded"
        assert lms.unload("g1") == "g1"
        assert lms.loaded() == []
        with pytest.raises(ModelNotLoaded, match="lms ps"):
            lms.unload("g1")


def test_download_and_already_downloaded(lmfake: FakeLMStudio) -> None:
    seen: list[DownloadStatus] = []
    with sync_client(lmfake.url) as lms:
        final = lms.download(OSS, on_progress=seen.append, poll_interval=0.02)
        assert final.status == "completed"
        assert final.downloaded_bytes == final.total_size_bytes
        assert seen[0].status == "downloading" and seen[-1].status == "completed"
        assert OSS in {m.id for m in lms.models()}
        assert lms.download(OSS).status == "already_downloaded"
        with pytest.raises(ModelNotFound):
            lms.download("nope/not-in-catalog")


def test_ensure_ready(lmfake: FakeLMStudio) -> None:
    with sync_client(lmfake.url) as lms:
        first = lms.ensure_ready(GEMMA, ttl=300)
        again = lms.ensure_ready(GEMMA)
        with pytest.raises(ModelNotFound, match=f"`lms get {OSS}`"):
            lms.ensure_ready(OSS)
        fetched = lms.ensure_ready(OSS, allow_download=True)
        assert {i.key for i in lms.loaded()} == {GEMMA, OSS}
    assert (first.actions, first.instance_id) == (("loaded",), GEMMA)
    assert again.actions == () and again.already_loaded
    assert fetched.actions == ("downloaded", "loaded")


def test_errors_from_the_fake(lmfake: FakeLMStudio) -> None:
    with sync_client(lmfake.url) as lms, pytest.raises(ModelNotFound) as info:
        lms.chat("x", model="o4-mini")
    assert (info.value.status_code, info.value.code) == (400, "model_not_found")
    with sync_client(lmfake.url + "/lmstudio") as lms, pytest.raises(WrongEndpoint) as wrong:
        lms.models()
    assert wrong.value.server_message == "Unexpected endpoint or method. (GET /lmstudio/v1/models)"
    lmfake.configure(jit=False)
    with sync_client(lmfake.url) as lms, pytest.raises(ModelNotLoaded):
        lms.chat("x", model=QWEN)


def test_auth_against_fake() -> None:
    with FakeLMStudio(require_auth=True, api_tokens=[TOKEN]) as server:
        with sync_client(server.url) as lms, pytest.raises(Unauthorized) as info:
            lms.models()
        assert info.value.code == "invalid_api_key"
        with sync_client(server.url, api_key="sk-lm-wrong") as lms, pytest.raises(Unauthorized) as bad:
            lms.chat("x", model=QWEN)
        assert "sk-lm-wrong" not in str(bad.value) and "sk-lm-wrong" not in (bad.value.body or "")
        with sync_client(server.url, api_key=TOKEN) as lms:
            assert lms.chat("hi", model=QWEN).text


def test_stopped_fake_is_server_not_running() -> None:
    server = FakeLMStudio()
    server.start()
    url = server.url
    server.stop()
    with sync_client(url) as lms:
        assert lms.is_running() is False
        with pytest.raises(ServerNotRunning):
            lms.models()


# -- async ----------------------------------------------------------------------------------------


async def test_async_probes_models_loaded(lmfake: FakeLMStudio) -> None:
    async with async_client(lmfake.url) as lms:
        assert await lms.greeting() == {"lmstudio": True}
        assert await lms.is_running() is True
        assert (await lms.version()) is not None
        assert QWEN in {m.id for m in await lms.models()}
        assert await lms.loaded() == []


async def test_async_inference(lmfake: FakeLMStudio) -> None:
    async with async_client(lmfake.url) as lms:
        chat = await lms.chat("Hello", model=QWEN)
        tools = await lms.chat("Weather in Rome?", model=QWEN, tools=[WEATHER], tool_choice="required")
        structured = await lms.chat("A city", model=QWEN, response_format=CITY_SCHEMA)
        events = [e async for e in lms.stream("Hello", model=QWEN)]
        completion = await lms.complete("Once", model=GEMMA, max_tokens=3)
        vectors = await lms.embed(["x", "y", "z"], model=NOMIC)
        response = await lms.respond("Hi", model=QWEN, instructions="Be brief")
    assert chat.text and chat.finish_reason == "stop"
    assert tools.tool_calls[0].name == "get_weather"
    assert isinstance(structured.parsed, dict) and "city" in structured.parsed
    final = events[-1]
    assert isinstance(final, ChatResult) and final.text == "".join(
        e.text for e in events if isinstance(e, TextDelta)
    )
    assert completion.text
    assert [len(v) for v in vectors] == [768, 768, 768]
    assert response.id.startswith("resp_") and response.output_text


async def test_async_model_management(lmfake: FakeLMStudio) -> None:
    progress: list[str] = []

    async def on_progress(status: DownloadStatus) -> None:
        progress.append(status.status)

    async with async_client(lmfake.url) as lms:
        loaded = await lms.load(QWEN, identifier="q", ttl=60)
        assert loaded.instance_id == "q"
        assert [i.id for i in await lms.loaded()] == ["q"]
        assert await lms.unload("q") == "q"
        final = await lms.download(OSS, on_progress=on_progress, poll_interval=0.02)
        assert final.status == "completed" and progress[-1] == "completed"
        report = await lms.ensure_ready(OSS)
        assert report.actions == ("loaded",)
        assert (await lms.ensure_ready(OSS)).already_loaded


async def test_async_errors(lmfake: FakeLMStudio) -> None:
    async with async_client(lmfake.url) as lms:
        with pytest.raises(ModelNotFound):
            await lms.chat("x", model="o4-mini")
        with pytest.raises(ModelNotFound):
            await lms.ensure_ready("qwen/qwen2.5-vl-7b")
        with pytest.raises(ModelNotLoaded):
            await lms.unload("ghost")


# -- the `lms` runner against the fake `lms` ------------------------------------------------------


def test_lms_runner_against_fake_cli(lmfake: FakeLMStudio, tmp_path: Path) -> None:
    pytest.importorskip("fake_lms.cli.main")
    import fake_lms

    if sys.platform == "win32":
        pytest.skip("the wrapper is a POSIX shell script")
    wrapper = tmp_path / "lms"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m fake_lms "$@"\n')
    wrapper.chmod(0o755)
    env = dict(os.environ)
    env["LMS_FAKE_HOME"] = str(lmfake.home.path)
    env["PYTHONPATH"] = str(Path(fake_lms.__file__).resolve().parent.parent)
    lms = Lms(wrapper, env=env, timeout=30)
    assert lms.server_status() == {"running": True, "port": lmfake.port}
    assert {m["modelKey"] for m in lms.ls()} >= {QWEN, GEMMA, NOMIC}
    assert lms.ps() == []
    lms.load(GEMMA, identifier="g", ttl=60, context_length=2048)
    assert [(m["identifier"], m["contextLength"], m["ttlMs"]) for m in lms.ps()] == [("g", 2048, 60000)]
    with sync_client(lmfake.url) as client:  # the CLI and the HTTP server share one state
        assert [i.id for i in client.loaded()] == ["g"]
    assert lms.unload("g").ok
    with pytest.raises(ModelNotFound):
        lms.load("nope/nope")
