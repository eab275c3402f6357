"""Fault injection (issue 7): each fault, as the real ``openai`` SDK experiences it.

Tests named ``test_doc_*`` are the examples of docs/scripting.md.
"""

from __future__ import annotations

import itertools
import json
import socket
import time

import httpx
import openai
import pytest

from fake_lms import FakeLMStudio
from fake_lms.api.errors import NO_MODELS_LOADED
from fake_lms.scripting.rules import ScriptError

LLM = "qwen/qwen3-4b"
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
def client(lmstudio_fake: FakeLMStudio) -> openai.OpenAI:
    return openai.OpenAI(base_url=lmstudio_fake.base_url, api_key="lm-studio", max_retries=0)


def stream_chat(client: openai.OpenAI, **kwargs: object) -> str:
    stream = client.chat.completions.create(model=LLM, messages=HELLO, stream=True, **kwargs)
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


# --------------------------------------------------------------------------------------------
# HTTP status faults


def test_doc_fail_503_is_retried(lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.fail(503, retry_after=0)  # once (times=1 is the default for faults)

    client = openai.OpenAI(base_url=lmstudio_fake.base_url, api_key="lm-studio")  # max_retries=2
    r = client.chat.completions.create(model="qwen/qwen3-4b", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content
    assert [req.status for req in lmstudio_fake.requests] == [503, 200]
    assert [req.headers["x-stainless-retry-count"] for req in lmstudio_fake.requests] == ["0", "1"]


def test_retry_after_header_is_sent_and_honoured(lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.fail(503, retry_after=1)
    raw = httpx.post(lmstudio_fake.base_url + "/chat/completions", json={"model": LLM, "messages": HELLO})
    assert raw.status_code == 503 and raw.headers["retry-after"] == "1"
    assert raw.json()["error"]["type"] == "server_error"

    lmstudio_fake.fail(503, retry_after=1)
    client = openai.OpenAI(base_url=lmstudio_fake.base_url, api_key="x")
    started = time.monotonic()
    client.chat.completions.create(model=LLM, messages=HELLO)
    assert 0.9 <= time.monotonic() - started < 2.0  # waited what Retry-After said, not the backoff


@pytest.mark.parametrize(
    ("status", "exc", "code"),
    [
        (400, openai.BadRequestError, None),
        (401, openai.AuthenticationError, "invalid_api_key"),
        (404, openai.NotFoundError, "model_not_found"),
        (429, openai.RateLimitError, None),
        (500, openai.InternalServerError, None),
        (503, openai.InternalServerError, None),
    ],
)
def test_fail_statuses_have_lm_studio_bodies(
    client: openai.OpenAI, lmstudio_fake: FakeLMStudio, status: int, exc: type, code: str | None
) -> None:
    lmstudio_fake.fail(status)
    with pytest.raises(exc) as info:
        client.chat.completions.create(model=LLM, messages=HELLO)
    assert info.value.status_code == status
    assert info.value.code == code
    assert isinstance(info.value.body, dict) and info.value.body["message"]
    if status == 500:
        assert info.value.body["message"].startswith("[Server Error]")
    if status == 401:
        assert "An LM Studio API token is required" in info.value.body["message"]
    assert client.chat.completions.create(model=LLM, messages=HELLO)  # once only


def test_fail_message_body_and_headers(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.fail(500, message="GPU on fire")
    with pytest.raises(openai.InternalServerError, match=r"\[Server Error\] GPU on fire"):
        client.chat.completions.create(model=LLM, messages=HELLO)
    lmstudio_fake.fail(418, body={"error": "teapot"}, headers={"x-should-retry": "false"})
    raw = httpx.post(lmstudio_fake.base_url + "/chat/completions", json={"model": LLM, "messages": HELLO})
    assert (raw.status_code, raw.json(), raw.headers["x-should-retry"]) == (418, {"error": "teapot"}, "false")


def test_doc_fault_times(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.fail(500, times=2)
    lmstudio_fake.fail(503, times=None, match="always broken")

    statuses = []
    for text in ("a", "b", "c", "always broken", "always broken"):
        try:
            client.chat.completions.create(model=LLM, messages=[{"role": "user", "content": text}])
            statuses.append(200)
        except openai.APIStatusError as exc:
            statuses.append(exc.status_code)
    assert statuses == [500, 500, 200, 503, 503]


def test_faults_skip_listings_unless_a_path_is_given(
    client: openai.OpenAI, lmstudio_fake: FakeLMStudio
) -> None:
    lmstudio_fake.fail(503, times=None)
    assert client.models.list().data  # GET /v1/models is not a model request
    lmstudio_fake.reset()
    lmstudio_fake.fail(503, match={"path": "/v1/models"})
    with pytest.raises(openai.InternalServerError):
        client.models.list()


def test_faults_apply_to_embeddings(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.fail(503)
    with pytest.raises(openai.InternalServerError):
        client.embeddings.create(model="text-embedding-nomic-embed-text-v1.5", input="x")


def test_doc_no_models_loaded(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.no_models_loaded()
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="qwen/qwen3-4b", messages=HELLO)
    assert info.value.body == {
        "message": "No models loaded. Please load a model in the developer page or use the 'lms load' "
        "command.",
        "type": "invalid_request_error",
        "param": "model",
        "code": None,
    }
    assert info.value.body["message"] == NO_MODELS_LOADED


def test_no_models_loaded_happens_for_real_with_jit_off(
    client: openai.OpenAI, lmstudio_fake: FakeLMStudio
) -> None:
    lmstudio_fake.configure(jit=False)
    with pytest.raises(openai.BadRequestError, match="No models loaded"):
        client.chat.completions.create(model=LLM, messages=HELLO)


def test_doc_context_length_exceeded(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.context_length_exceeded()
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="qwen/qwen3-4b", messages=HELLO)
    assert info.value.code == "context_length_exceeded"
    assert "greater than the context length" in info.value.message


# --------------------------------------------------------------------------------------------
# stream faults


def test_doc_stream_cut(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.stream_cut(after=3)  # close the connection after 3 chunks, no [DONE]

    received = []
    with pytest.raises(openai.APIConnectionError):  # an openai.APIError
        for chunk in client.chat.completions.create(model="qwen/qwen3-4b", messages=HELLO, stream=True):
            received.append(chunk.choices[0].delta.content)
    assert len(received) == 3


def test_stream_cut_on_responses_api(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.stream_cut(after=2)
    events = []
    with pytest.raises(openai.APIConnectionError):
        for event in client.responses.create(model=LLM, input="hi", stream=True):
            events.append(event.type)
    assert events == ["response.created", "response.in_progress"]


def test_stream_cut_beyond_the_end_still_withholds_done(lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.stream_cut(after=10_000)
    body = {"model": LLM, "messages": HELLO, "stream": True}
    chunks = []
    with pytest.raises(httpx.RemoteProtocolError):
        with httpx.stream("POST", lmstudio_fake.base_url + "/chat/completions", json=body) as r:
            for chunk in r.iter_raw():
                chunks.append(chunk)
    text = b"".join(chunks)
    assert b'"finish_reason":"stop"' in text and b"[DONE]" not in text


def test_doc_malformed_chunk(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.malformed_chunk(after=2)  # sends `data: {not json` after 2 chunks
    with pytest.raises(json.JSONDecodeError):  # the openai SDK does not wrap it
        for _ in client.chat.completions.create(model="qwen/qwen3-4b", messages=HELLO, stream=True):
            pass


def test_malformed_chunk_bytes_on_the_wire(lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.malformed_chunk(after=1, data="data: {'single': 'quotes'}\n\n")
    body = {"model": LLM, "messages": HELLO, "stream": True}
    text = httpx.post(lmstudio_fake.base_url + "/chat/completions", json=body).text
    frames = text.split("\n\n")
    assert frames[1] == "data: {'single': 'quotes'}"
    assert frames[-2] == "data: [DONE]"  # the stream goes on after the bad chunk


def test_doc_stream_error(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.stream_error(after=1, message="Model crashed")
    with pytest.raises(openai.APIError, match="Model crashed") as info:
        for _ in client.chat.completions.create(model="qwen/qwen3-4b", messages=HELLO, stream=True):
            pass
    assert info.value.body == {
        "message": "Model crashed",
        "type": "internal_error",
        "param": None,
        "code": None,
    }


def test_stream_error_default_message(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.stream_error(after=0)
    with pytest.raises(openai.APIError, match="The model has crashed"):
        stream_chat(client)


def test_doc_stall(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.stall(after=2, seconds=0.5)

    started = time.monotonic()
    arrivals = []
    for _ in client.chat.completions.create(model="qwen/qwen3-4b", messages=HELLO, stream=True):
        arrivals.append(time.monotonic())
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert max(gaps) == gaps[1] > 0.3  # between chunk 2 and chunk 3
    assert arrivals[2] - started >= 0.5


def test_doc_slow_first_token(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.slow(ttft=0.4)

    started = time.monotonic()
    stream = client.chat.completions.create(model="qwen/qwen3-4b", messages=HELLO, stream=True)
    next(iter(stream))
    assert 0.4 <= time.monotonic() - started < 1.5
    stream.close()


def test_slow_delays_a_non_streamed_reply(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.slow(ttft=0.3)
    started = time.monotonic()
    client.chat.completions.create(model=LLM, messages=HELLO)
    assert 0.3 <= time.monotonic() - started < 1.5
    assert lmstudio_fake.requests[0].faults == ["slow"]


def test_doc_token_pacing(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    """40 tokens at 20 tokens/s: 2 seconds, within 10%. A model that does not reason: a reasoning
    model's reasoning tokens would come first, paced too (fidelity review §4.2)."""
    lmstudio_fake.reply(" ".join(f"w{i}" for i in range(40)))
    lmstudio_fake.slow(tokens_per_second=20)

    started = time.monotonic()
    stream = client.chat.completions.create(model="google/gemma-3-1b", messages=HELLO, stream=True)
    tokens = sum(1 for c in stream if c.choices and c.choices[0].delta.content)
    elapsed = time.monotonic() - started
    assert tokens == 40
    assert 1.8 <= elapsed <= 2.2, elapsed


def test_slow_and_cut_combine(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.slow(ttft=0.2, tokens_per_second=50)
    lmstudio_fake.stream_cut(after=5)
    started = time.monotonic()
    with pytest.raises(openai.APIConnectionError):
        stream_chat(client)
    assert 0.28 <= time.monotonic() - started < 1.5  # 0.2 s + 4 tokens at 50/s
    assert lmstudio_fake.requests[0].faults == ["slow", "stream_cut"]


def test_stream_faults_wait_for_a_streamed_request(
    client: openai.OpenAI, lmstudio_fake: FakeLMStudio
) -> None:
    cut = lmstudio_fake.stream_cut(after=1)
    client.chat.completions.create(model=LLM, messages=HELLO)  # not streamed: untouched
    assert cut.used == 0
    with pytest.raises(openai.APIConnectionError):
        stream_chat(client)
    assert cut.used == 1
    assert stream_chat(client)  # used up


# --------------------------------------------------------------------------------------------
# connection faults


def test_doc_connection_reset(lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.connection_reset()  # closed before a single byte is sent

    client = openai.OpenAI(base_url=lmstudio_fake.base_url, api_key="lm-studio", max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="qwen/qwen3-4b", messages=HELLO)


def test_connection_reset_is_retried(lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.connection_reset()
    client = openai.OpenAI(base_url=lmstudio_fake.base_url, api_key="x", max_retries=1)
    assert client.chat.completions.create(model=LLM, messages=HELLO).choices
    assert [r.faults for r in lmstudio_fake.requests] == [["connection_reset"], []]


def test_doc_connection_refused(lmstudio_fake: FakeLMStudio) -> None:
    client = openai.OpenAI(base_url=lmstudio_fake.base_url, api_key="lm-studio", max_retries=0)
    with lmstudio_fake.refuse_connections():
        with pytest.raises(openai.APIConnectionError):
            client.models.list()
    assert client.models.list().data  # serving again, on the same port

    lmstudio_fake.refuse_connections(seconds=0.2)  # back by itself: a retrying client gets through
    retrying = openai.OpenAI(base_url=lmstudio_fake.base_url, api_key="lm-studio", max_retries=2)
    assert retrying.models.list().data


def test_refused_means_refused(lmstudio_fake: FakeLMStudio) -> None:
    port = lmstudio_fake.port
    with lmstudio_fake.refuse_connections():
        assert lmstudio_fake.refusing_connections
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert lmstudio_fake.port == port and not lmstudio_fake.refusing_connections


def test_reset_serves_again(lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.refuse_connections()
    lmstudio_fake.reset()
    assert httpx.get(lmstudio_fake.url + "/lmstudio-greeting").json() == {"lmstudio": True}


# --------------------------------------------------------------------------------------------
# models: TTL expiry between calls, slow JIT loads


def jit_loads(fake: FakeLMStudio) -> list[str]:
    return [r["instance_id"] for r in fake.request_log() if r.get("action") == "jit_load"]


def test_doc_expire(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    client.chat.completions.create(model="qwen/qwen3-4b", messages=HELLO)  # JIT-loads the model
    assert [i.identifier for i in lmstudio_fake.home.instances()] == ["qwen/qwen3-4b"]

    lmstudio_fake.expire("qwen/qwen3-4b")  # its idle TTL ran out
    assert lmstudio_fake.home.instances() == []

    client.chat.completions.create(model="qwen/qwen3-4b", messages=HELLO)  # JIT-loads it again
    assert jit_loads(lmstudio_fake) == ["qwen/qwen3-4b", "qwen/qwen3-4b"]


def test_expire_fault_between_two_calls(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    client.chat.completions.create(model=LLM, messages=HELLO)
    lmstudio_fake.fault("expire")  # the next model request finds its model unloaded
    client.chat.completions.create(model=LLM, messages=HELLO)
    client.chat.completions.create(model=LLM, messages=HELLO)
    assert len(jit_loads(lmstudio_fake)) == 2
    assert lmstudio_fake.ctx.stats.jit_loads == 2
    assert lmstudio_fake.home.snapshot().evicted[-1]["reason"] == "ttl"


def test_doc_slow_load(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.slow_load(0.5)  # same as lmstudio_fake.configure(load_seconds=0.5)

    started = time.monotonic()
    client.chat.completions.create(model="qwen/qwen3-4b", messages=HELLO)  # JIT load
    assert time.monotonic() - started >= 0.5
    started = time.monotonic()
    client.chat.completions.create(model="qwen/qwen3-4b", messages=HELLO)  # already loaded
    assert time.monotonic() - started < 0.3


# --------------------------------------------------------------------------------------------
# validation


def test_invalid_faults(lmstudio_fake: FakeLMStudio) -> None:
    with pytest.raises(ScriptError, match="unknown fault 'explode'"):
        lmstudio_fake.fault("explode")
    with pytest.raises(ScriptError, match="unknown parameter"):
        lmstudio_fake.fault("stream_cut", afetr=2)
    with pytest.raises(ScriptError, match="status must be an HTTP status"):
        lmstudio_fake.fail(1000)
    with pytest.raises(ScriptError, match="needs ttft and/or tokens_per_second"):
        lmstudio_fake.slow()
    with pytest.raises(ScriptError, match="after must be"):
        lmstudio_fake.stream_cut(after=-1)
    with pytest.raises(ValueError, match="seconds"):
        lmstudio_fake.refuse_connections(seconds=-1)
    with pytest.raises(ScriptError, match="'download_failed': after must be >= 0"):
        lmstudio_fake.fault("download_failed", after=-0.5)
    with pytest.raises(ScriptError, match="'download_paused': model must be a model name"):
        lmstudio_fake.fault("download_paused", model=["qwen/qwen3-4b"])
    with pytest.raises(ScriptError, match="'download_failed': message must be a string"):
        lmstudio_fake.fault("download_failed", message=3)
    with pytest.raises(ScriptError, match="unknown parameter"):
        lmstudio_fake.fault("download_paused", message="no message for a pause")


def test_a_stopped_fake_does_not_come_back_after_a_refusal() -> None:
    with FakeLMStudio() as fake:
        fake.refuse_connections(seconds=0.1)
    time.sleep(0.25)
    assert not fake.is_running()
    with FakeLMStudio() as fake:
        fake.refuse_connections(seconds=0.1)
        fake.stop()  # stopping while refusing: stays stopped
        time.sleep(0.25)
        assert not fake.is_running()


def test_retry_after_zero_costs_no_wall_time(lmstudio_fake: FakeLMStudio) -> None:
    """``fail(503, retry_after=0)`` used to cost ~1 s a test: the openai SDK ignores a zero
    Retry-After and backs off. ``retry-after-ms`` (read first by the SDK) makes it retry at once."""
    raw = httpx.post(lmstudio_fake.base_url + "/chat/completions", json={"model": LLM, "messages": HELLO})
    assert raw.status_code == 200
    lmstudio_fake.fail(503, retry_after=0, times=2)
    raw = httpx.post(lmstudio_fake.base_url + "/chat/completions", json={"model": LLM, "messages": HELLO})
    assert raw.headers["retry-after"] == "0" and raw.headers["retry-after-ms"] == "1"
    client = openai.OpenAI(base_url=lmstudio_fake.base_url, api_key="x")
    started = time.monotonic()
    client.chat.completions.create(model=LLM, messages=HELLO)
    assert time.monotonic() - started < 0.4  # the SDK's own backoff would be 0.5 s or more
