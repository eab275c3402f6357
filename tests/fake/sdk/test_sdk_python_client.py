"""The real ``lmstudio`` Python SDK (1.5) against the in-process fake, over the websocket."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fake_lms import FakeLMStudio

lms = pytest.importorskip("lmstudio")
pydantic = pytest.importorskip("pydantic")

LLM = "qwen/qwen3-4b"
SMALL = "google/gemma-3-1b"
EMBED = "text-embedding-nomic-embed-text-v1.5"


@pytest.fixture
def client(fake: FakeLMStudio) -> Iterator[lms.Client]:
    with lms.Client(fake.api_host) as c:
        yield c


class Book(pydantic.BaseModel):
    title: str
    year: int


def rest_loaded(fake: FakeLMStudio) -> dict[str, list[str]]:
    models = httpx.get(fake.url + "/api/v1/models").json()["models"]
    return {m["key"]: [i["id"] for i in m["loaded_instances"]] for m in models if m["loaded_instances"]}


# -- models ------------------------------------------------------------------------------------


def test_lists_downloaded_models_with_types(client: lms.Client) -> None:
    downloaded = {m.model_key: m for m in client.list_downloaded_models()}
    assert set(downloaded) == {LLM, SMALL, EMBED}
    assert downloaded[LLM].type == "llm" and downloaded[EMBED].type == "embedding"
    assert [m.model_key for m in client.llm.list_downloaded()] == [LLM, SMALL]
    assert client.list_loaded_models() == []


def test_model_jit_loads_and_rest_sees_it(fake: FakeLMStudio, client: lms.Client) -> None:
    model = client.llm.model(LLM)
    assert model.identifier == LLM
    assert [m.identifier for m in client.list_loaded_models("llm")] == [LLM]
    assert rest_loaded(fake) == {LLM: [LLM]}
    # the second call finds the loaded instance instead of loading another
    assert client.llm.model(LLM).identifier == LLM
    assert len(fake.home.instances()) == 1


def test_model_loaded_over_rest_is_listed_and_used(fake: FakeLMStudio, client: lms.Client) -> None:
    reply = httpx.post(fake.url + "/api/v1/models/load", json={"model": SMALL})
    assert reply.status_code == 200
    assert [m.identifier for m in client.list_loaded_models()] == [SMALL]
    assert "gemma-3-1b" in client.llm.model().respond("hi").content


def test_load_new_instance_with_identifier_ttl_and_context(fake: FakeLMStudio, client: lms.Client) -> None:
    model = client.llm.load_new_instance(SMALL, "my-gemma", ttl=60, config={"contextLength": 8192})
    assert model.identifier == "my-gemma"
    assert model.get_context_length() == 8192
    info = model.get_info()
    assert info.model_key == SMALL and info.identifier == "my-gemma" and info.context_length == 8192
    (inst,) = fake.home.instances()
    assert (inst.identifier, inst.context_length, inst.ttl_seconds, inst.jit) == (
        "my-gemma",
        8192,
        60.0,
        False,
    )
    assert rest_loaded(fake) == {SMALL: ["my-gemma"]}
    model.unload()
    assert client.list_loaded_models() == []
    assert fake.home.instances() == []


def test_load_takes_the_simulated_load_time(fake: FakeLMStudio, client: lms.Client) -> None:
    fake.configure(load_seconds=0.4)
    started = time.monotonic()
    client.llm.load_new_instance(SMALL)
    assert time.monotonic() - started >= 0.4


def test_unknown_model_is_the_sdks_not_found_error(client: lms.Client) -> None:
    with pytest.raises(lms.LMStudioModelNotFoundError, match="nope/nope"):
        client.llm.model("nope/nope")
    with pytest.raises(lms.LMStudioServerError, match=r"generic\.pathNotFound"):
        client.llm.load_new_instance("nope/nope")


def test_embedding_model_asked_for_as_llm_fails(client: lms.Client) -> None:
    with pytest.raises(lms.LMStudioServerError, match="embedding model"):
        client.llm.model(EMBED)


# -- generation --------------------------------------------------------------------------------


def test_respond_and_stream_agree(client: lms.Client) -> None:
    model = client.llm.model(SMALL)  # does not reason: every fragment is content
    result = model.respond("Hello there")
    assert (
        result.content
        == 'You said: "Hello there". This is a reply from google/gemma-3-1b on the fake LM Studio.'
    )
    assert result.stats.stop_reason == "eosFound"
    assert result.model_info.model_key == SMALL
    stream = model.respond_stream("Hello there")
    fragments = [f.content for f in stream]
    assert len(fragments) > 5
    assert "".join(fragments) == result.content == stream.result().content
    assert stream.result().stats.predicted_tokens_count == len(fragments)


def test_chat_history_reaches_the_model(fake: FakeLMStudio, client: lms.Client) -> None:
    chat = lms.Chat("You are terse.")
    chat.add_user_message("What is 2+2?")
    client.llm.model(LLM).respond(chat)
    record = fake.assert_called_with(model=LLM)
    assert record.method == "WS" and record.path == "/llm/predict"
    assert record.json["messages"][0] == {"role": "system", "content": "You are terse."}
    assert record.last_user_message == "What is 2+2?"


def test_config_max_tokens_and_stop_strings(client: lms.Client) -> None:
    model = client.llm.model(SMALL)
    result = model.respond("Hello there", config={"maxTokens": 3})
    assert result.stats.stop_reason == "maxPredictedTokensReached"
    assert result.content == "You said:"  # three tokens: "You", " said", ":"
    result = model.respond("Hello there", config={"stopStrings": ["reply"]})
    assert result.stats.stop_reason == "stopStringFound" and result.content.endswith("This is a ")


def test_complete_continues_the_prompt(client: lms.Client) -> None:
    result = client.llm.model(SMALL).complete("Once upon a time")
    assert result.content.startswith(" and so the story continues after “Once upon a time”")


def test_structured_output(client: lms.Client) -> None:
    model = client.llm.model(LLM)
    parsed = model.respond("A book please", response_format=Book).parsed
    assert Book.model_validate(parsed)
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    assert isinstance(model.respond("A number", response_format=schema).parsed["n"], int)


def test_act_calls_the_tool_and_answers(client: lms.Client) -> None:
    calls: list[str] = []

    def get_weather(city: str) -> str:
        """Get the weather in a city."""
        calls.append(city)
        return f"sunny in {city}"

    messages: list[str] = []
    result = client.llm.model(LLM).act(
        "What is the weather in Paris?", [get_weather], on_message=lambda m: messages.append(str(m))
    )
    assert result.rounds == 2
    assert len(calls) == 1
    assert any("Based on the tool result" in m and "sunny in" in m for m in messages)


def test_scripted_tool_call_and_reply(fake: FakeLMStudio, client: lms.Client) -> None:
    fake.reply_tool_call("add", {"a": 2, "b": 3}, times=1)
    fake.reply("The sum is 5.")
    seen: list[tuple[int, int]] = []

    def add(a: int, b: int) -> int:
        """Add two numbers."""
        seen.append((a, b))
        return a + b

    result = client.llm.model(LLM).act("add 2 and 3", [add])
    assert seen == [(2, 3)] and result.rounds == 2
    last = fake.requests[-1]
    assert last.json["messages"][-1]["role"] == "tool" and last.json["messages"][-1]["content"] == "5"


def test_embed_tokenize_count(client: lms.Client) -> None:
    model = client.embedding.model(EMBED)
    vector = model.embed("hello world")
    assert len(vector) == 768
    assert model.embed(["hello world", "other"])[0] == vector
    assert model.get_context_length() == 2048
    llm = client.llm.model(SMALL)
    tokens = llm.tokenize("Hello world!")
    assert len(tokens) == llm.count_tokens("Hello world!") == 3
    assert all(isinstance(t, int) for t in tokens)


def test_cancel_ends_with_user_stopped(fake: FakeLMStudio, client: lms.Client) -> None:
    model = client.llm.model(LLM)
    fake.slow(ttft=0.05, tokens_per_second=20)
    stream = model.respond_stream("Tell me something long")
    fragments = iter(stream)
    first = next(fragments)
    stream.cancel()
    rest = list(fragments)
    result = stream.result()
    assert result.stats.stop_reason == "userStopped"
    assert result.content == first.content + "".join(f.content for f in rest)
    assert len(rest) <= 1  # at most one fragment was already on its way


# -- faults --------------------------------------------------------------------------------------


def test_handshake_refused(fake: FakeLMStudio) -> None:
    fake.configure(require_auth=True)
    # LM Studio's server library sends the reason as a string; the Python SDK 1.5 then fails to
    # build its own error (spec §3): that client bug is what a real refusal looks like
    with pytest.raises(ValueError, match="dictionary update sequence"):
        lms.Client(fake.api_host).list_downloaded_models()
    fake.sdk_options["auth_error_shape"] = "object"
    with pytest.raises(lms.LMStudioServerError, match="Authentication failed: Authentication required"):
        lms.Client(fake.api_host).list_downloaded_models()


def test_rpc_error(fake: FakeLMStudio, client: lms.Client) -> None:
    with pytest.raises(lms.LMStudioServerError, match='identifier "ghost"'):
        client.llm.unload("ghost")
    model = client.embedding.model(EMBED)
    fake.fail(503, message="embedding backend down")
    with pytest.raises(lms.LMStudioServerError, match="embedding backend down"):
        model.embed("x")
    assert len(model.embed("x")) == 768  # the fault was used up


def test_prediction_errors(fake: FakeLMStudio, client: lms.Client) -> None:
    model = client.llm.model(LLM)
    fake.fail(500, message="boom")
    with pytest.raises(lms.LMStudioServerError, match="boom"):
        model.respond("hi")
    fake.stream_error(after=2, message="The model has crashed")
    stream = model.respond_stream("hi")
    got: list[str] = []
    with pytest.raises(lms.LMStudioServerError, match="The model has crashed"):
        for fragment in stream:
            got.append(fragment.content)
    assert len(got) == 2
    assert model.respond("hi").stats.stop_reason == "eosFound"


def test_socket_closed_mid_prediction_leaves_other_connections(fake: FakeLMStudio) -> None:
    with lms.Client(fake.api_host) as victim, lms.Client(fake.api_host) as bystander:
        model = victim.llm.model(LLM)
        other = bystander.llm.model(LLM)
        fake.stream_cut(after=2)
        with pytest.raises(lms.LMStudioWebsocketError):
            model.respond("hi")
        assert other.respond("still there?").stats.stop_reason == "eosFound"
    assert httpx.get(fake.url + "/lmstudio-greeting").json() == {"lmstudio": True}


def test_garbage_frame_and_reset_are_websocket_errors(fake: FakeLMStudio) -> None:
    for inject in (fake.malformed_chunk, fake.connection_reset):
        with lms.Client(fake.api_host) as client:
            model = client.llm.model(LLM)
            inject()
            with pytest.raises(lms.LMStudioWebsocketError):
                model.respond("hi")


# -- the async client ----------------------------------------------------------------------------


async def test_async_client(fake: FakeLMStudio) -> None:
    async with lms.AsyncClient(fake.api_host) as client:
        assert {m.model_key for m in await client.list_downloaded_models()} == {LLM, SMALL, EMBED}
        model = await client.llm.model(LLM)
        result = await model.respond("Hello async")
        assert "Hello async" in result.content
        stream = await model.respond_stream("Hello async")
        fragments = [f.content async for f in stream]
        assert "".join(fragments) == result.content
        assert await model.count_tokens("a b c") == 3
        # a JIT load evicts the previous JIT-loaded model (auto-evict, as over REST)
        embedder = await client.embedding.model(EMBED)
        assert len(await embedder.embed("x")) == 768
        assert [m.identifier for m in await client.list_loaded_models()] == [EMBED]
        model = await client.llm.load_new_instance(LLM)
        fake.fail(500, message="async boom")
        with pytest.raises(lms.LMStudioServerError, match="async boom"):
            await model.respond("hi")
        loaded = await client.llm.load_new_instance(SMALL, "async-gemma", config={"contextLength": 2048})
        assert await loaded.get_context_length() == 2048
        await loaded.unload()
        assert [m.identifier for m in await client.list_loaded_models()] == [LLM, EMBED]


def test_reset_forgets_sdk_options_and_passkeys(fake: FakeLMStudio) -> None:
    fake.sdk_options["fail_fast"] = False
    assert fake.sdk_backend.authenticate("same-id", "first") is None
    assert fake.sdk_backend.authenticate("same-id", "second") == "Invalid client passkey"
    fake.reset()
    assert fake.sdk_options == {}
    assert fake.sdk_backend.authenticate("same-id", "second") is None


PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def test_image_in_a_chat(fake: FakeLMStudio, client: lms.Client, tmp_path: Path) -> None:
    path = tmp_path / "pixel.png"
    path.write_bytes(PNG)
    image = client.files.prepare_image(path)
    chat = lms.Chat()
    chat.add_user_message("What is in this picture?", images=[image])
    assert "What is in this picture?" in client.llm.model(LLM).respond(chat).content
    assert fake.requests[-1].last_user_message.startswith("What is in this picture?")


def test_model_info_load_config_prompt_template_and_default_client(
    fake: FakeLMStudio, client: lms.Client
) -> None:
    model = client.llm.model(LLM)
    assert model.get_load_config().context_length == 4096
    assert client.llm.model().get_info().identifier == LLM  # no key: the first loaded model
    chat = lms.Chat.from_history({"messages": [{"role": "user", "content": "hi"}]})
    assert model.apply_prompt_template(chat) == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    lms.configure_default_client(fake.api_host)
    try:
        assert "default client" in lms.llm(SMALL).respond("default client").content
    finally:
        lms.sync_api._reset_default_client()


def test_rules_aim_at_the_sdk_and_at_loads(fake: FakeLMStudio, client: lms.Client) -> None:
    fake.fail(503, message="only the SDK", match={"api": "sdk"})
    reply = httpx.post(
        fake.url + "/v1/chat/completions",
        json={"model": SMALL, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert reply.status_code == 200  # the REST request was not the rule's
    model = client.llm.model(SMALL)
    with pytest.raises(lms.LMStudioServerError, match="only the SDK"):
        model.respond("hi")
    fake.fail(507, message="no room", match={"operation": "load"})
    with pytest.raises(lms.LMStudioServerError, match="no room"):
        client.llm.load_new_instance(LLM)
    model.unload()
    ops = [(r.api, r.operation, r.path) for r in fake.requests if r.api == "sdk"]
    assert ops == [
        ("sdk", "load", "/llm/getOrLoad"),
        ("sdk", "chat", "/llm/predict"),
        ("sdk", "load", "/llm/loadModel"),
        ("sdk", "unload", "/llm/unloadModel"),
    ]
    fake.assert_called_with(api="sdk", operation="chat", model=SMALL)


def test_sdk_calls_are_in_the_request_log(fake: FakeLMStudio, client: lms.Client) -> None:
    model = client.llm.model(SMALL)
    model.respond("hello log")
    client.embedding.model(EMBED).embed("vector please")
    with pytest.raises(lms.LMStudioModelNotFoundError):
        client.llm.model("nope/nope")
    lines = [line for line in fake.request_log() if line["method"] == "WS"]
    assert [(line["path"], line["status"]) for line in lines] == [
        ("/llm/getOrLoad", 200),
        ("/llm/predict", 200),
        ("/embedding/getOrLoad", 200),
        ("/embedding/embedString", 200),
        ("/llm/getOrLoad", 404),
    ]
    load, predict, _, embed, _ = lines
    assert load["action"] == "jit_load" and load["instance_id"] == SMALL
    assert predict["model"] == SMALL and predict["stream"] is True
    assert predict["prompt_tokens"] > 0 and predict["completion_tokens"] > 0
    assert embed["prompt_tokens"] == 2


def test_silence_is_the_sdks_timeout(fake: FakeLMStudio, client: lms.Client) -> None:
    model = client.llm.model(SMALL)
    fake.stall(after=1, seconds=3)
    previous = lms.get_sync_api_timeout()
    lms.set_sync_api_timeout(0.5)
    try:
        with pytest.raises(lms.LMStudioTimeoutError):
            model.respond("are you there?")
    finally:
        lms.set_sync_api_timeout(previous)


def test_search_and_download(fake: FakeLMStudio, client: lms.Client) -> None:
    fake.configure(download_seconds=0.3)
    assert "openai/gpt-oss-20b" not in {m.model_key for m in client.list_downloaded_models()}
    (result,) = client.repository.search_models("gpt-oss")
    assert result.search_result.name == "openai/gpt-oss-20b"
    (option,) = result.get_download_options()
    assert option.info.download_identifier == "openai/gpt-oss-20b@mxfp4"
    progress: list[int] = []
    started = time.monotonic()
    key = option.download(on_progress=lambda update: progress.append(update.downloaded_bytes))
    assert time.monotonic() - started >= 0.3
    assert key == "openai/gpt-oss-20b"
    assert progress == sorted(progress) and progress[-1] == option.info.size_bytes and len(progress) > 1
    assert key in {m.model_key for m in client.list_downloaded_models()}
    assert "gpt-oss-20b" in client.llm.model(key).respond("hi").content
    assert fake.assert_called_with(api="sdk", operation="download").path == "/repository/downloadModel"


def test_slow_embedding_waits(fake: FakeLMStudio, client: lms.Client) -> None:
    model = client.embedding.model(EMBED)
    fake.slow(ttft=0.3)
    started = time.monotonic()
    assert len(model.embed("slowly")) == 768
    assert time.monotonic() - started >= 0.3


async def test_async_act_cancel_and_dropped_socket(fake: FakeLMStudio) -> None:
    calls: list[str] = []

    def get_weather(city: str) -> str:
        """Get the weather in a city."""
        calls.append(city)
        return f"sunny in {city}"

    async with lms.AsyncClient(fake.api_host) as client:
        model = await client.llm.model(LLM)
        result = await model.act("What is the weather in Paris?", [get_weather])
        assert result.rounds == 2 and len(calls) == 1
        fake.slow(ttft=0.05, tokens_per_second=20)
        stream = await model.respond_stream("Tell me something long")
        fragments = stream.__aiter__()
        await fragments.__anext__()
        await stream.cancel()
        async for _ in fragments:
            pass
        assert stream.result().stats.stop_reason == "userStopped"
        fake.stream_cut(after=1)
        with pytest.raises(lms.LMStudioWebsocketError):
            await model.respond("hi")


def test_model_with_ttl_and_config(fake: FakeLMStudio, client: lms.Client) -> None:
    model = client.llm.model(SMALL, ttl=30, config={"contextLength": 2048})
    assert model.get_context_length() == 2048
    (inst,) = fake.home.instances()
    assert (inst.ttl_seconds, inst.jit, inst.context_length) == (30.0, True, 2048)


def test_many_clients_at_once(fake: FakeLMStudio) -> None:
    import concurrent.futures

    def one(i: int) -> str:
        with lms.Client(fake.api_host) as client:
            return client.llm.model(SMALL).respond(f"client {i}").content

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(one, range(16)))
    assert all(f"client {i}" in reply for i, reply in enumerate(replies))
    assert len(fake.home.instances()) == 1  # one JIT load, however many asked at once
    fake.check_handler_errors()


def test_context_overflow_is_a_prediction_error(client: lms.Client) -> None:
    model = client.llm.load_new_instance(SMALL, "tiny", config={"contextLength": 256})
    with pytest.raises(lms.LMStudioServerError, match="greater than the context length"):
        model.respond("word " * 2000)
    assert model.respond("short").stats.stop_reason == "eosFound"


def test_a_20000_word_prompt_overflows_a_4096_context(client: lms.Client) -> None:
    """Issue 14's acceptance on the SDK dialect (the REST dialects: test_context_overflow.py):
    llama.cpp's refusal as LM Studio 0.4.x passes it on (Gitlawb/openclaude#353)."""
    model = client.llm.load_new_instance(SMALL, "ctx4096", config={"contextLength": 4096})
    prompt = " ".join(f"word{i}" for i in range(20_000))
    with pytest.raises(lms.LMStudioServerError, match=r"\(n_keep: \d+>= n_ctx: 4096\)"):
        model.respond(prompt)
    with pytest.raises(lms.LMStudioServerError, match=r"n_ctx: 4096"):
        model.complete(prompt)


# -- reasoning ---------------------------------------------------------------------------------


def test_a_reasoning_model_streams_tagged_reasoning_fragments(client: lms.Client) -> None:
    """ws-protocol.md §5 (fragment ``reasoningType``); the order of lmstudio-js's
    ``LLM.respond.heavy.test.ts`` snapshot "should support reasoning content parsing": start tag,
    reasoning, end tag, then content. The Python SDK joins every fragment into ``content``, so the
    reasoning and its tags are in it, as bug-tracker #480 reports of LM Studio."""
    model = client.llm.model(LLM)  # qwen3 reasons by default (fidelity review §2 row 7)
    stream = model.respond_stream("Why is the sky blue?")
    fragments = list(stream)
    kinds = [f.reasoning_type for f in fragments]
    thinking = kinds.count("reasoning")
    assert thinking > 0
    assert kinds == ["reasoningStartTag", *["reasoning"] * thinking, "reasoningEndTag"] + ["none"] * (
        len(kinds) - thinking - 2
    )
    assert (fragments[0].content, fragments[thinking + 1].content) == ("<think>", "</think>")
    result = stream.result()
    answer = "".join(f.content for f in fragments if f.reasoning_type == "none")
    reasoning = "".join(f.content for f in fragments if f.reasoning_type == "reasoning")
    assert result.content == f"<think>{reasoning}</think>{answer}"
    assert "Why is the sky blue?" in answer and reasoning
    # the token counts are the REST answer's: reasoning and content (the tags count none)
    assert result.stats.predicted_tokens_count == sum(f.tokens_count for f in fragments) == len(kinds) - 2


def test_reasoning_counts_against_max_tokens(client: lms.Client) -> None:
    """Fidelity review §4.2: the limit can be spent on reasoning alone; the prediction stops inside
    its reasoning block, so no end tag and no content follow."""
    stream = client.llm.model(LLM).respond_stream("Why is the sky blue?", config={"maxTokens": 4})
    kinds = [f.reasoning_type for f in stream]
    assert kinds == ["reasoningStartTag", "reasoning", "reasoning", "reasoning", "reasoning"]
    assert stream.result().stats.stop_reason == "maxPredictedTokensReached"
    assert stream.result().stats.predicted_tokens_count == 4


def test_reasoning_parsing_config_is_honoured(client: lms.Client) -> None:
    """``llm.prediction.reasoning.parsing`` (the Python SDK's ``reasoningParsing``:
    ``{enabled, startString, endString}``): its strings are the tags; disabled, LM Studio does not
    separate the reasoning, so every fragment is ``reasoningType: "none"`` (bug-tracker #480)."""
    model = client.llm.model(LLM)
    custom = {"enabled": True, "startString": "<reasoning>", "endString": "</reasoning>"}
    result = model.respond("hi", config={"reasoningParsing": custom})
    assert result.content.startswith("<reasoning>") and "</reasoning>" in result.content
    plain = model.respond_stream("hi", config={"reasoningParsing": {**custom, "enabled": False}})
    assert {f.reasoning_type for f in plain} == {"none"}
    assert plain.result().content.startswith("<reasoning>")


def test_structured_and_plain_models_send_no_reasoning(client: lms.Client) -> None:
    """A model without reasoning sends ``none`` fragments only; under a JSON schema a reasoning
    model's answer is the JSON alone (the fake's choice, docs/fidelity.md: the Python SDK parses
    the joined text, tags included)."""
    assert {f.reasoning_type for f in client.llm.model(SMALL).respond_stream("hi")} == {"none"}
    parsed = client.llm.model(LLM).respond("A book please", response_format=Book).parsed
    assert Book.model_validate(parsed)
