"""Unchanged third-party clients against the fake, as their users call them (clients.md §1–§7).

Every test imports its client with ``pytest.importorskip``: the ``compat`` extra installs them all
(CI does; so does ``PYTEST_LMSTUDIO_EXTRAS=test,compat ./run test tests/compat``), and where a
client is missing its tests skip. The wire details they depend on are also asserted over raw HTTP
in ``tests/client/test_client_shapes.py`` and the other ``test_*`` modules. Versions tested and the
results are in ``docs/compatibility.md``. litellm is in the compat extra since 1.110 (1.106 pinned
``openai<3``, which llm and pydantic-ai cannot share).

All tests use the plugin's ``lmstudio_fake`` fixture (one fake per process, reset before each
test), which is also what llm-lmstudio needs: it reads ``LMSTUDIO_API_BASE`` once, at import.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from fake_lms import FakeLMStudio

QWEN = "qwen/qwen3-4b"
GEMMA = "google/gemma-3-1b"
OSS = "openai/gpt-oss-20b"
NOMIC = "text-embedding-nomic-embed-text-v1.5"
PARIS = "What is the weather in Paris?"


class City(BaseModel):
    name: str
    country: str


def get_weather(city: str) -> str:
    """Current weather in a city."""
    return f"sunny in {city}"


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def calls(fake: FakeLMStudio) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in fake.requests]


def load(fake: FakeLMStudio, key: str) -> None:
    """Load a model as a user would before the test (``POST /api/v1/models/load``)."""
    r = httpx.post(fake.url + "/api/v1/models/load", json={"model": key}, timeout=10)
    assert r.json()["status"] == "loaded"
    fake.reset(state=False)  # forget the recorded load: tests assert on what the client sent


# ============================================================================================
# litellm (clients.md §3)


@pytest.fixture
def litellm(lmstudio_fake: FakeLMStudio, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no remote cost-map fetch at import
    module = pytest.importorskip("litellm")
    monkeypatch.setattr(module, "suppress_debug_info", True)
    monkeypatch.setenv("LM_STUDIO_API_BASE", lmstudio_fake.base_url)  # must include /v1
    monkeypatch.delenv("LM_STUDIO_API_KEY", raising=False)
    return module


LL_QWEN = "lm_studio/" + QWEN
ASK = [{"role": "user", "content": PARIS}]


def test_litellm_chat(litellm: Any, lmstudio_fake: FakeLMStudio) -> None:
    r = litellm.completion(model=LL_QWEN, messages=ASK)
    assert "Paris" in r.choices[0].message.content
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    (req,) = lmstudio_fake.requests
    assert (req.path, req.json["model"]) == ("/v1/chat/completions", QWEN)
    assert req.headers["authorization"].startswith("Bearer ")  # LM_STUDIO_API_KEY or "fake-api-key"


def test_litellm_stream_with_usage(litellm: Any, lmstudio_fake: FakeLMStudio) -> None:
    plain = litellm.completion(model=LL_QWEN, messages=ASK).choices[0].message.content
    chunks = list(
        litellm.completion(model=LL_QWEN, messages=ASK, stream=True, stream_options={"include_usage": True})
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain
    built = litellm.stream_chunk_builder(chunks)
    assert built.usage.completion_tokens > 0


def test_litellm_text_completion_and_async(litellm: Any, lmstudio_fake: FakeLMStudio) -> None:
    import asyncio

    assert "Once upon" in litellm.text_completion(model=LL_QWEN, prompt="Once upon a time").choices[0].text
    r = asyncio.run(litellm.acompletion(model=LL_QWEN, messages=ASK))
    assert "Paris" in r.choices[0].message.content


def test_litellm_tools(litellm: Any, lmstudio_fake: FakeLMStudio) -> None:
    pytest.importorskip("mcp")  # litellm 1.106 imports it whenever tools= is passed
    r = litellm.completion(model=LL_QWEN, messages=ASK, tools=[WEATHER_TOOL])
    (call,) = r.choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert r.choices[0].finish_reason == "tool_calls"
    chunks = list(litellm.completion(model=LL_QWEN, messages=ASK, tools=[WEATHER_TOOL], stream=True))
    (streamed,) = litellm.stream_chunk_builder(chunks).choices[0].message.tool_calls
    assert (streamed.id, streamed.function.arguments) == (call.id, call.function.arguments)


def test_litellm_structured_output(litellm: Any, lmstudio_fake: FakeLMStudio) -> None:
    r = litellm.completion(model=LL_QWEN, messages=ASK, response_format=City)
    City.model_validate_json(r.choices[0].message.content)
    fmt = lmstudio_fake.requests[-1].json["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "City"


def test_litellm_json_object_is_rejected_like_lm_studio(litellm: Any, lmstudio_fake: FakeLMStudio) -> None:
    """LM Studio accepts only json_schema/text; litellm passes json_object through (clients.md §3)."""
    with pytest.raises(litellm.BadRequestError):
        litellm.completion(
            model=LL_QWEN, messages=ASK, response_format={"type": "json_object"}, num_retries=0
        )
    assert lmstudio_fake.requests[-1].status == 400


def test_litellm_embeddings(litellm: Any, lmstudio_fake: FakeLMStudio) -> None:
    r = litellm.embedding(model="lm_studio/" + NOMIC, input=["hello", "world"])
    assert [len(d["embedding"]) for d in r.data] == [768, 768]
    (req,) = lmstudio_fake.requests
    assert req.path == "/v1/embeddings" and "encoding_format" not in req.json


def test_litellm_responses_is_bridged_to_chat_completions(litellm: Any, lmstudio_fake: FakeLMStudio) -> None:
    r = litellm.responses(model=LL_QWEN, input="hi")
    assert "hi" in r.output[0].content[0].text
    assert calls(lmstudio_fake) == [("POST", "/v1/chat/completions")]


def test_litellm_base_without_v1_meets_lm_studios_unexpected_endpoint(
    litellm: Any, lmstudio_fake: FakeLMStudio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user error LM Studio answers with HTTP 200 ``{"error": "Unexpected endpoint or method. ..."}``:
    litellm raises an empty-message BadRequestError for chat and returns no vectors for embeddings."""
    monkeypatch.setenv("LM_STUDIO_API_BASE", lmstudio_fake.url)
    with pytest.raises(litellm.BadRequestError):
        litellm.completion(model=LL_QWEN, messages=ASK, num_retries=0)
    assert litellm.embedding(model="lm_studio/" + NOMIC, input=["x"]).data == []
    assert [(r.path, r.status) for r in lmstudio_fake.requests] == [
        ("/chat/completions", 200),
        ("/embeddings", 200),
    ]


# ============================================================================================
# langchain-openai (clients.md §4)


@pytest.fixture
def lc(lmstudio_fake: FakeLMStudio, monkeypatch: pytest.MonkeyPatch) -> Any:
    module = pytest.importorskip("langchain_openai")
    monkeypatch.setenv("OPENAI_API_KEY", "lm-studio")  # the SDK refuses to start without one
    return module


def chat_openai(lc: Any, fake: FakeLMStudio, **kw: Any) -> Any:
    return lc.ChatOpenAI(model=kw.pop("model", QWEN), base_url=fake.base_url, max_retries=0, **kw)


def weather_tool() -> Any:
    from langchain_core.tools import tool

    return tool(get_weather)


def test_langchain_invoke_and_stream(lc: Any, lmstudio_fake: FakeLMStudio) -> None:
    llm = chat_openai(lc, lmstudio_fake)
    msg = llm.invoke("hello there")
    assert "hello there" in msg.content
    assert msg.response_metadata["model_name"] == QWEN
    assert "".join(c.content for c in llm.stream("hello there")) == msg.content
    assert [r.json["stream"] for r in lmstudio_fake.requests] == [False, True]


def test_langchain_stream_usage(lc: Any, lmstudio_fake: FakeLMStudio) -> None:
    acc = None
    for chunk in chat_openai(lc, lmstudio_fake, stream_usage=True).stream("hi"):
        acc = chunk if acc is None else acc + chunk
    assert acc.usage_metadata["output_tokens"] > 0
    assert lmstudio_fake.requests[-1].json["stream_options"] == {"include_usage": True}


def test_langchain_async(lc: Any, lmstudio_fake: FakeLMStudio) -> None:
    import asyncio

    assert "hi" in asyncio.run(chat_openai(lc, lmstudio_fake).ainvoke("hi")).content


def test_langchain_tools(lc: Any, lmstudio_fake: FakeLMStudio) -> None:
    llm = chat_openai(lc, lmstudio_fake).bind_tools([weather_tool()])
    (call,) = llm.invoke(PARIS).tool_calls
    assert (call["name"], call["args"]) == ("get_weather", {"city": "Paris"})
    acc = None
    for chunk in llm.stream(PARIS):
        acc = chunk if acc is None else acc + chunk
    assert acc.tool_calls == [call]


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_langchain_structured_output(lc: Any, lmstudio_fake: FakeLMStudio, method: str) -> None:
    llm = chat_openai(lc, lmstudio_fake).with_structured_output(City, method=method)
    assert isinstance(llm.invoke("Capital of France?"), City)
    sent = lmstudio_fake.requests[-1].json
    if method == "function_calling":
        assert sent["tool_choice"] == {"type": "function", "function": {"name": "City"}}
    else:
        assert sent["response_format"]["type"] == "json_schema"


def test_langchain_structured_output_streamed(lc: Any, lmstudio_fake: FakeLMStudio) -> None:
    """A streamed call with response_format goes through the SDK's ``.stream()`` helper, which
    drops chunks without ``object: "chat.completion.chunk"``."""
    out = list(chat_openai(lc, lmstudio_fake).with_structured_output(City).stream("Capital of France?"))
    assert isinstance(out[-1], City)


def test_langchain_json_mode_is_rejected_like_lm_studio(lc: Any, lmstudio_fake: FakeLMStudio) -> None:
    import openai

    llm = chat_openai(lc, lmstudio_fake).with_structured_output(City, method="json_mode")
    with pytest.raises(openai.BadRequestError):
        llm.invoke("Capital of France? Answer in JSON.")
    assert lmstudio_fake.requests[-1].json["response_format"] == {"type": "json_object"}


def test_langchain_responses_api(lc: Any, lmstudio_fake: FakeLMStudio) -> None:
    llm = chat_openai(lc, lmstudio_fake, use_responses_api=True)
    assert "hello" in llm.invoke("hello").text
    assert "hello" in "".join(c.text for c in llm.stream("hello"))
    (call,) = llm.bind_tools([weather_tool()]).invoke(PARIS).tool_calls
    assert call["args"] == {"city": "Paris"}
    acc = None
    for chunk in llm.bind_tools([weather_tool()]).stream(PARIS):
        acc = chunk if acc is None else acc + chunk
    assert acc.tool_calls == [call]
    assert isinstance(llm.with_structured_output(City).invoke("Capital of France?"), City)
    assert set(calls(lmstudio_fake)) == {("POST", "/v1/responses")}


def test_langchain_responses_previous_response_id(lc: Any, lmstudio_fake: FakeLMStudio) -> None:
    from langchain_core.messages import HumanMessage

    llm = chat_openai(lc, lmstudio_fake, use_responses_api=True, use_previous_response_id=True)
    first = llm.invoke("hello")
    second = llm.invoke([HumanMessage("hello"), first, HumanMessage("again")])
    assert "again" in second.text
    sent = lmstudio_fake.requests[-1].json
    assert sent["previous_response_id"] == first.response_metadata["id"]
    assert [i["content"] for i in sent["input"]] == ["again"]


def test_langchain_embeddings(lc: Any, lmstudio_fake: FakeLMStudio) -> None:
    # check_embedding_ctx_length=True (the default) needs tiktoken data from the network
    emb = lc.OpenAIEmbeddings(model=NOMIC, base_url=lmstudio_fake.base_url, check_embedding_ctx_length=False)
    assert [len(v) for v in emb.embed_documents(["a", "b"])] == [768, 768]
    assert len(emb.embed_query("hello")) == 768
    assert lmstudio_fake.requests[-1].json["encoding_format"] == "base64"


def test_langchain_reasoning_gpt_oss(lc: Any, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.home.mark_downloaded(OSS)
    msg = chat_openai(
        lc, lmstudio_fake, model=OSS, use_responses_api=True, reasoning={"effort": "low"}
    ).invoke("hi")
    kinds = [block["type"] for block in msg.content]
    assert kinds == ["reasoning", "text"]
    assert "hi" in "".join(
        c.content for c in chat_openai(lc, lmstudio_fake, model=OSS, reasoning_effort="low").stream("hi")
    )


# ============================================================================================
# llama-index-llms-lmstudio (clients.md §5): the strictest SSE parser


@pytest.fixture
def llama(lmstudio_fake: FakeLMStudio) -> Any:
    module = pytest.importorskip("llama_index.llms.lmstudio")
    return module.LMStudio(model_name=QWEN, base_url=lmstudio_fake.base_url, temperature=0.2)


def _li_messages() -> list[Any]:
    from llama_index.core.llms import ChatMessage

    return [ChatMessage(role="system", content="be brief"), ChatMessage(role="user", content="hello there")]


def test_llama_index_chat_and_complete(llama: Any, lmstudio_fake: FakeLMStudio) -> None:
    r = llama.chat(_li_messages())
    assert r.message.role.value == "assistant"
    assert "hello there" in r.message.content
    assert "Once upon" in llama.complete("Once upon a time").text
    req = lmstudio_fake.requests[0]
    assert "authorization" not in req.headers
    assert req.json["options"] == {"temperature": 0.2, "num_ctx": 3900}  # not top-level: ignored


def test_llama_index_streams(llama: Any, lmstudio_fake: FakeLMStudio) -> None:
    plain = llama.chat(_li_messages()).message.content
    chunks = list(llama.stream_chat(_li_messages()))
    assert chunks[-1].message.content == plain
    assert "".join(c.delta for c in chunks) == plain
    assert "Once upon" in list(llama.stream_complete("Once upon"))[-1].text


async def test_llama_index_async(llama: Any, lmstudio_fake: FakeLMStudio) -> None:
    assert "hello there" in (await llama.achat(_li_messages())).message.content
    assert "hi" in (await llama.acomplete("hi")).text
    text = "".join([r.delta async for r in await llama.astream_chat(_li_messages())])
    assert "hello there" in text


def test_llama_index_error_is_lm_studios_status(llama: Any, lmstudio_fake: FakeLMStudio) -> None:
    """The body is never read: users see httpx's message with Express's status line."""
    llama.model_name = "no/such-model"
    with pytest.raises(httpx.HTTPStatusError, match=r"Client error '400 Bad Request' for url"):
        llama.chat(_li_messages())


# ============================================================================================
# llm + llm-lmstudio (clients.md §6): the native API, model auto-load

_LLM_REGISTRATION: list[tuple[str, str]] = []  # what the plugin sent when it first registered models


@pytest.fixture
def llm(lmstudio_fake: FakeLMStudio, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    monkeypatch.setenv("LLM_USER_PATH", str(tmp_path / "llm-user"))  # keys and logs out of $HOME
    if "llm_lmstudio" not in sys.modules:
        monkeypatch.setenv("LMSTUDIO_API_BASE", lmstudio_fake.url)  # read once, at plugin import
    module = pytest.importorskip("llm")
    pytest.importorskip("llm_lmstudio")
    first = not _LLM_REGISTRATION
    module.get_models()  # loads plugins: registration (cached by the plugin for the process)
    import llm_lmstudio

    servers = llm_lmstudio.SERVER_LIST
    if servers != [lmstudio_fake.url]:
        pytest.skip("llm-lmstudio was imported in this process against another server")
    if first:
        _LLM_REGISTRATION.extend(calls(lmstudio_fake))
    lmstudio_fake.reset(state=False)
    return module


def test_llm_registers_models_from_api_v0(llm: Any, lmstudio_fake: FakeLMStudio) -> None:
    assert ("GET", "/api/v0/models") in _LLM_REGISTRATION
    ids = [m.model_id for m in llm.get_models()]
    assert {"lmstudio/" + QWEN, "lmstudio/" + GEMMA} <= set(ids)
    assert NOMIC in [m.model_id for m in llm.get_embedding_models()]  # type == "embeddings"


def test_llm_auto_loads_then_streams_with_usage(llm: Any, lmstudio_fake: FakeLMStudio) -> None:
    response = llm.get_model("lmstudio/" + QWEN).prompt("hello there")
    assert "hello there" in response.text()
    usage = response.usage()
    assert usage.input > 0 and usage.output > 0
    assert calls(lmstudio_fake) == [
        ("GET", "/api/v0/models/" + QWEN),  # state: not-loaded
        ("POST", "/api/v1/models/load"),  # answered status: loaded
        ("POST", "/api/v0/chat/completions"),
    ]
    chat = lmstudio_fake.requests[-1].json
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}


def test_llm_prompt_without_stream(llm: Any, lmstudio_fake: FakeLMStudio) -> None:
    load(lmstudio_fake, QWEN)
    assert "hello again" in llm.get_model("lmstudio/" + QWEN).prompt("hello again", stream=False).text()
    assert calls(lmstudio_fake) == [("GET", "/api/v0/models/" + QWEN), ("POST", "/api/v0/chat/completions")]


def test_llm_schema(llm: Any, lmstudio_fake: FakeLMStudio) -> None:
    load(lmstudio_fake, QWEN)
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    out = json.loads(llm.get_model("lmstudio/" + QWEN).prompt("Invent a city", schema=schema).text())
    assert isinstance(out["name"], str)
    sent = lmstudio_fake.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.json["response_format"]["json_schema"]["name"] == "llm_generated_schema"


@pytest.mark.parametrize("stream", [True, False])
def test_llm_tool_chain(llm: Any, lmstudio_fake: FakeLMStudio, stream: bool) -> None:
    """llm-lmstudio 0.3.1 resends the assistant's tool-call turn with ``content: null``, which LM
    Studio refuses (fidelity review row 9; bug-tracker #261, still so in 2026:
    langgraph-agentic-scaffold#89, thane-ai-agent#1229): the second round trips over it, on LM
    Studio as on the fake (docs/compatibility.md)."""
    load(lmstudio_fake, QWEN)
    chain = llm.get_model("lmstudio/" + QWEN).chain(PARIS, tools=[get_weather], stream=stream)
    with pytest.raises(llm.ModelError, match=r"400 Client Error"):
        chain.text()
    rounds = [r for r in lmstudio_fake.requests if r.path == "/api/v0/chat/completions"]
    assert [r.status for r in rounds] == [200, 400]
    assert [m["role"] for m in rounds[1].json["messages"]] == ["user", "assistant", "tool"]
    assert rounds[1].json["messages"][1]["content"] is None


def test_llm_async_model(llm: Any, lmstudio_fake: FakeLMStudio) -> None:
    import asyncio

    load(lmstudio_fake, QWEN)

    async def go() -> str:
        return await llm.get_async_model("lmstudio/" + QWEN).prompt("async hello").text()

    assert "async hello" in asyncio.run(go())


def test_llm_embeddings(llm: Any, lmstudio_fake: FakeLMStudio) -> None:
    assert len(llm.get_embedding_model(NOMIC).embed("hello")) == 768
    (req,) = lmstudio_fake.requests
    assert (req.path, req.json) == ("/api/v0/embeddings", {"model": NOMIC, "input": ["hello"]})


def test_llm_error_shows_express_status_line(llm: Any, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.fail(400, match={"path": "/api/v0/embeddings"})
    with pytest.raises(llm.ModelError, match=r"400 Client Error: Bad Request for url"):
        llm.get_embedding_model(NOMIC).embed("hello")


@pytest.mark.xfail(strict=True, reason="llm-lmstudio 0.3.1 bug: embed_batch posts llm's generator as JSON")
def test_llm_embed_multi(llm: Any, lmstudio_fake: FakeLMStudio) -> None:
    assert [len(v) for v in llm.get_embedding_model(NOMIC).embed_multi(["a", "b"])] == [768, 768]


# ============================================================================================
# pydantic-ai (clients.md §7): "openai:" is the Responses API, "openai-chat:" chat completions

API_PATH = {"openai": "/v1/responses", "openai-chat": "/v1/chat/completions"}


@pytest.fixture(params=["openai", "openai-chat"])
def agent_model(
    request: pytest.FixtureRequest, lmstudio_fake: FakeLMStudio, monkeypatch: pytest.MonkeyPatch
) -> str:
    pytest.importorskip("pydantic_ai")
    monkeypatch.setenv("OPENAI_BASE_URL", lmstudio_fake.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "lm-studio")
    return f"{request.param}:{QWEN}"


def _only_path(fake: FakeLMStudio, model: str) -> None:
    assert {path for _, path in calls(fake)} == {API_PATH[model.split(":")[0]]}


def test_pydantic_ai_run_and_history(agent_model: str, lmstudio_fake: FakeLMStudio) -> None:
    from pydantic_ai import Agent

    agent = Agent(agent_model)
    first = agent.run_sync("hello there")
    assert "hello there" in first.output
    assert first.usage.output_tokens > 0
    assert "again" in agent.run_sync("again", message_history=first.all_messages()).output
    _only_path(lmstudio_fake, agent_model)


async def test_pydantic_ai_run_stream(agent_model: str, lmstudio_fake: FakeLMStudio) -> None:
    from pydantic_ai import Agent

    async with Agent(agent_model).run_stream("hello there") as result:
        text = "".join([t async for t in result.stream_text(delta=True)])
    assert "hello there" in text
    assert result.usage.output_tokens > 0
    _only_path(lmstudio_fake, agent_model)


async def test_pydantic_ai_tools(agent_model: str, lmstudio_fake: FakeLMStudio) -> None:
    from pydantic_ai import Agent

    if agent_model.startswith("openai-chat:") or "chat" in agent_model.split(":")[0]:
        pytest.skip(
            "pydantic-ai's chat-completions model resends a tool-call turn with content: null, which LM "
            "Studio refuses (fidelity review row 9); tested in test_pydantic_ai_chat_tool_round_trips"
        )
    agent = Agent(agent_model, tools=[get_weather])
    expected = "Based on the tool result, here is the answer: sunny in Paris"
    assert (await agent.run(PARIS)).output == expected
    async with agent.run_stream(PARIS) as result:
        assert await result.get_output() == expected
    tools = lmstudio_fake.requests[0].json["tools"]
    assert tools[0].get("strict", tools[0].get("function", {}).get("strict")) is True


async def test_pydantic_ai_chat_tool_round_trips(agent_model: str, lmstudio_fake: FakeLMStudio) -> None:
    """The chat-completions model's second tool round carries ``content: null`` and is refused,
    as LM Studio refuses it (docs/compatibility.md)."""
    from pydantic_ai import Agent
    from pydantic_ai.exceptions import ModelHTTPError

    if not (agent_model.startswith("openai-chat:") or "chat" in agent_model.split(":")[0]):
        pytest.skip("only the chat-completions model sends content: null")
    with pytest.raises(ModelHTTPError, match="content"):
        await Agent(agent_model, tools=[get_weather]).run(PARIS)


async def test_pydantic_ai_structured_output(agent_model: str, lmstudio_fake: FakeLMStudio) -> None:
    from pydantic_ai import Agent, NativeOutput

    assert isinstance((await Agent(agent_model, output_type=City).run("Capital of France?")).output, City)
    assert lmstudio_fake.requests[-1].json["tool_choice"] == "required"  # the final_result tool
    native = await Agent(agent_model, output_type=NativeOutput(City)).run("Capital of France?")
    assert isinstance(native.output, City)
    async with Agent(agent_model, output_type=City).run_stream("Capital of France?") as result:
        assert isinstance(await result.get_output(), City)
    _only_path(lmstudio_fake, agent_model)


async def test_pydantic_ai_reasoning_gpt_oss(agent_model: str, lmstudio_fake: FakeLMStudio) -> None:
    from pydantic_ai import Agent
    from pydantic_ai.messages import TextPart, ThinkingPart

    lmstudio_fake.home.mark_downloaded(OSS)
    model = agent_model.replace(QWEN, OSS)
    result = await Agent(model, model_settings={"openai_reasoning_effort": "low"}).run("hello")
    assert [type(p) for p in result.all_messages()[-1].parts] == [ThinkingPart, TextPart]


async def test_pydantic_ai_embeddings(lmstudio_fake: FakeLMStudio) -> None:
    pytest.importorskip("pydantic_ai")
    from pydantic_ai import Embedder
    from pydantic_ai.embeddings.openai import OpenAIEmbeddingModel
    from pydantic_ai.providers.openai import OpenAIProvider

    provider = OpenAIProvider(base_url=lmstudio_fake.base_url, api_key="lm-studio")
    embedder = Embedder(OpenAIEmbeddingModel(NOMIC, provider=provider))
    assert len((await embedder.embed_query("hello")).embeddings[0]) == 768
    assert [len(v) for v in (await embedder.embed_documents(["a", "b"])).embeddings] == [768, 768]
    assert lmstudio_fake.requests[-1].json["encoding_format"] == "base64"


# ============================================================================================
# openai SDK (clients.md §1): what tests/test_openai_sdk.py does not cover (reasoning)


@pytest.fixture
def oai(lmstudio_fake: FakeLMStudio) -> Any:
    openai = pytest.importorskip("openai")
    lmstudio_fake.home.mark_downloaded(OSS)
    return openai.OpenAI(base_url=lmstudio_fake.base_url, api_key="lm-studio", max_retries=0)


@pytest.mark.parametrize("model", [OSS, QWEN])
def test_openai_responses_stream_helper_with_reasoning(oai: Any, model: str) -> None:
    with oai.responses.stream(model=model, input="hello", reasoning={"effort": "low"}) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert [o.type for o in final.output] == ["reasoning", "message"]
    assert "hello" in final.output_text
    assert final.usage.output_tokens_details.reasoning_tokens > 0


@pytest.mark.parametrize(("model", "field"), [(OSS, "reasoning"), (QWEN, "reasoning_content")])
def test_openai_chat_stream_helper_with_reasoning(oai: Any, model: str, field: str) -> None:
    with oai.chat.completions.stream(
        model=model, messages=[{"role": "user", "content": "hi"}], reasoning_effort="low"
    ) as stream:
        for _ in stream:
            pass
        message = stream.get_final_completion().choices[0].message
    assert "hi" in message.content
    assert (message.model_extra or {}).get(field)
