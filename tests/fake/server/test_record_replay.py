"""Record through the proxy in front of a live upstream (a second fake), then replay with the
upstream gone: the answers are the upstream's, byte for byte; misses are dialect-shaped errors."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from fake_lms import FakeLMStudio
from fake_lms.replay import Cassette, CassetteSession, Redactor
from fake_lms.server.proxy import Upstream, UpstreamRefused
from fake_lms.server.recording import RecordReplay

TOKEN = "sk-lm-Abc12345:SecretSecretSecret98"
MODEL = "qwen/qwen3-4b"


@pytest.fixture
def upstream() -> Iterator[FakeLMStudio]:
    with FakeLMStudio() as server:
        yield server


@pytest.fixture
def proxy() -> Iterator[FakeLMStudio]:
    with FakeLMStudio() as server:
        server.cassettes = RecordReplay()
        yield server


def use(proxy: FakeLMStudio, path: Path, mode: str, upstream: FakeLMStudio | None = None) -> CassetteSession:
    assert proxy.cassettes is not None
    proxy.cassettes.upstream = Upstream(upstream.url) if upstream is not None else None
    session = CassetteSession(path, mode, record_hint="pytest the-test --lmstudio-record-mode=new_episodes")
    proxy.cassettes.current = session
    return session


def client(server: FakeLMStudio, key: str = "lm-studio") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0)


def chat(server: FakeLMStudio, text: str, **kwargs: object) -> httpx.Response:
    body = {"model": MODEL, "messages": [{"role": "user", "content": text}], **kwargs}
    return httpx.post(server.base_url + "/chat/completions", json=body, timeout=10)


def test_record_then_replay_byte_for_byte_without_upstream(
    upstream: FakeLMStudio, proxy: FakeLMStudio, tmp_path: Path
) -> None:
    upstream.reply("upstream says bonjour", match={"contains": "Say hi"})
    upstream.reply("upstream streams hola", match={"contains": "Stream hi"})
    path = tmp_path / "c.yaml"
    session = use(proxy, path, "once", upstream)
    live_plain = chat(proxy, "Say hi")
    live_stream = chat(proxy, "Stream hi", stream=True)
    assert proxy.cassettes is not None and proxy.cassettes.wait_idle()
    outcome = session.finish()
    assert outcome.recorded == 2 and outcome.saved == path
    assert "upstream says bonjour" in live_plain.text

    upstream.stop()
    use(proxy, path, "none")
    replay_plain = chat(proxy, "Say hi")
    replay_stream = chat(proxy, "Stream hi", stream=True)
    assert replay_plain.content == live_plain.content
    assert replay_stream.content == live_stream.content
    assert replay_plain.headers["content-type"] == live_plain.headers["content-type"]
    assert replay_stream.headers["content-type"].startswith("text/event-stream")
    assert "upstream streams hola" in "".join(
        json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
        for line in replay_stream.text.splitlines()
        if line.startswith("data: {")
    )


def test_cassette_is_readable_yaml_with_events_and_times(
    upstream: FakeLMStudio, proxy: FakeLMStudio, tmp_path: Path
) -> None:
    upstream.reply("upstream says hi")
    path = tmp_path / "c.yaml"
    session = use(proxy, path, "once", upstream)
    chat(proxy, "Say hi", stream=True)
    assert proxy.cassettes is not None and proxy.cassettes.wait_idle()
    session.finish()
    data = yaml.safe_load(path.read_text())
    (interaction,) = data["interactions"]
    assert interaction["kind"] == "http"
    assert interaction["request"]["body"]["json"]["messages"] == [{"role": "user", "content": "Say hi"}]
    events = interaction["response"]["stream"]
    assert events[-1]["data"] == "[DONE]"
    assert all(isinstance(e["t"], float) for e in events)
    assert [e["t"] for e in events] == sorted(e["t"] for e in events)
    assert events[0]["json"]["object"] == "chat.completion.chunk"


def test_lifecycle_comes_from_the_fakes_state_in_replay(proxy: FakeLMStudio, tmp_path: Path) -> None:
    use(proxy, tmp_path / "none.yaml", "none")
    models = httpx.get(proxy.base_url + "/models", timeout=10)
    assert models.status_code == 200 and any(m["id"] == MODEL for m in models.json()["data"])
    loaded = httpx.post(proxy.url + "/api/v1/models/load", json={"model": MODEL}, timeout=30)
    assert loaded.status_code == 200, loaded.text


def test_identical_requests_replay_in_recorded_order_then_miss(
    upstream: FakeLMStudio, proxy: FakeLMStudio, tmp_path: Path
) -> None:
    upstream.reply("first answer", times=1)
    upstream.reply("second answer", times=1)
    path = tmp_path / "c.yaml"
    session = use(proxy, path, "once", upstream)
    chat(proxy, "again")
    chat(proxy, "again")
    session.finish()
    upstream.stop()
    session = use(proxy, path, "none")
    first, second = chat(proxy, "again"), chat(proxy, "again")
    assert first.json()["choices"][0]["message"]["content"] == "first answer"
    assert second.json()["choices"][0]["message"]["content"] == "second answer"
    third = chat(proxy, "again")
    assert third.status_code == 400
    assert "each recording was already replayed" in third.json()["error"]["message"]


def test_ignored_fields_and_key_order_do_not_matter(
    upstream: FakeLMStudio, proxy: FakeLMStudio, tmp_path: Path
) -> None:
    upstream.reply("upstream answer")
    path = tmp_path / "c.yaml"
    session = use(proxy, path, "once", upstream)
    chat(proxy, "hello", temperature=0.1, seed=1)
    session.finish()
    upstream.stop()
    use(proxy, path, "none")
    body = {"temperature": 0.9, "messages": [{"content": "hello", "role": "user"}], "model": MODEL, "seed": 7}
    again = httpx.post(proxy.base_url + "/chat/completions", content=json.dumps(body, indent=3), timeout=10)
    assert again.status_code == 200, again.text
    assert again.json()["choices"][0]["message"]["content"] == "upstream answer"


def test_miss_is_a_dialect_shaped_error_with_the_closest_request(
    upstream: FakeLMStudio, proxy: FakeLMStudio, tmp_path: Path
) -> None:
    upstream.reply("upstream answer")
    path = tmp_path / "c.yaml"
    session = use(proxy, path, "once", upstream)
    chat(proxy, "Say hi")
    session.finish()
    upstream.stop()
    session = use(proxy, path, "none")
    with pytest.raises(openai.BadRequestError) as caught:
        client(proxy).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Say bye"}])
    message = str(caught.value)
    assert caught.value.code == "cassette_miss"
    assert 'last message: "(user) Say bye"' in message
    assert '- messages[0].content: "Say hi"' in message and '+ messages[0].content: "Say bye"' in message
    assert "to record it: pytest the-test --lmstudio-record-mode=new_episodes" in message
    anthropic_miss = httpx.post(
        proxy.url + "/v1/messages",
        json={"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
        timeout=10,
    )
    assert anthropic_miss.status_code == 400
    assert anthropic_miss.json()["type"] == "error"  # Anthropic's error shape
    assert len(session.outcome.misses) == 2


def test_new_episodes_records_only_the_missing_exchange(
    upstream: FakeLMStudio, proxy: FakeLMStudio, tmp_path: Path
) -> None:
    upstream.reply("upstream answer")
    path = tmp_path / "c.yaml"
    session = use(proxy, path, "once", upstream)
    chat(proxy, "one")
    session.finish()
    session = use(proxy, path, "new_episodes", upstream)
    chat(proxy, "one")
    chat(proxy, "two")
    outcome = session.finish()
    assert (outcome.replayed, outcome.recorded) == (1, 1)
    said = [i.body["messages"][0]["content"] for i in Cassette.load(path).interactions]
    assert said == ["one", "two"]
    assert len(upstream.requests) == 2  # "one" reached the upstream once, when first recorded


def test_secrets_never_reach_the_cassette(tmp_path: Path) -> None:
    with FakeLMStudio(require_auth=True, api_tokens=[TOKEN]) as upstream, FakeLMStudio() as proxy:
        proxy.cassettes = RecordReplay()
        upstream.reply("upstream answer")
        path = tmp_path / "c.yaml"
        session = use(proxy, path, "once", upstream)
        session.redactor = Redactor(headers=["x-custom-secret"], fields=["private_note"])
        session.matcher.redactor = session.redactor
        answer = httpx.post(
            proxy.base_url + "/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "private_note": "hush"},
            headers={
                "Authorization": f"Bearer {TOKEN}",
                "x-custom-secret": "s3cr3t-value",
                "Cookie": "a=cookie",
            },
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        refused = httpx.post(  # an upstream error that echoes a token
            proxy.base_url + "/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]},
            headers={"Authorization": f"Bearer {TOKEN[:-1]}Q"},
            timeout=10,
        )
        assert refused.status_code == 401
        session.finish()
    text = path.read_text()
    for secret in (TOKEN, "Bearer", "s3cr3t-value", "a=cookie", "hush", TOKEN.split(":")[0]):
        assert secret not in text
    assert "<redacted>" in text  # the listed body field is masked, not silently dropped
    assert "upstream answer" in text


def test_remote_upstream_is_refused_unless_allowed() -> None:
    with pytest.raises(UpstreamRefused):
        Upstream("http://192.0.2.10:1234")
    Upstream("http://192.0.2.10:1234", allow_remote=True).close()
    Upstream("http://localhost:1234/v1").close()


def test_streams_replay_instantly_or_with_recorded_pacing(
    upstream: FakeLMStudio, proxy: FakeLMStudio, tmp_path: Path
) -> None:
    upstream.reply("one two three four five six")
    upstream.slow(ttft=0.6, tokens_per_second=20)
    path = tmp_path / "c.yaml"
    session = use(proxy, path, "once", upstream)
    recorded = chat(proxy, "pace me", stream=True)
    session.finish()
    events = Cassette.load(path).interactions[0].events()
    assert events[0]["t"] >= 0.55 and events[-1]["t"] >= 0.75  # arrival times, relative to the answer's start
    upstream.stop()

    use(proxy, path, "none")
    started = time.monotonic()
    instant = chat(proxy, "pace me", stream=True)
    assert time.monotonic() - started < 0.5 and instant.content == recorded.content

    assert proxy.cassettes is not None
    proxy.cassettes.pacing = True
    use(proxy, path, "none")
    started = time.monotonic()
    paced = chat(proxy, "pace me", stream=True)
    assert time.monotonic() - started >= 0.7 and paced.content == recorded.content


DIALECTS = [
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
    ("/v1/completions", {"prompt": "hi"}),
    ("/v1/responses", {"input": "hi"}),
    ("/v1/messages", {"max_tokens": 30, "messages": [{"role": "user", "content": "hi"}]}),
    ("/api/v0/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
    ("/api/v0/completions", {"prompt": "hi"}),
    ("/api/v1/chat", {"input": "hi"}),
]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("path,body", DIALECTS)
def test_every_dialect_replays_byte_for_byte(
    upstream: FakeLMStudio,
    proxy: FakeLMStudio,
    tmp_path: Path,
    path: str,
    body: dict[str, object],
    stream: bool,
) -> None:
    upstream.reply("upstream's distinctive answer")
    payload = {"model": MODEL, **body, "stream": stream}
    cassette = tmp_path / "c.yaml"
    session = use(proxy, cassette, "once", upstream)
    live = httpx.post(proxy.url + path, json=payload, timeout=10)
    assert proxy.cassettes is not None and proxy.cassettes.wait_idle()
    session.finish()
    upstream.stop()
    use(proxy, cassette, "none")
    again = httpx.post(proxy.url + path, json=payload, timeout=10)
    assert live.status_code == again.status_code == 200
    assert again.content == live.content
    assert "distinctive" in again.text
    assert again.headers["content-type"] == live.headers["content-type"]


@pytest.mark.parametrize("path", ["/v1/embeddings", "/api/v0/embeddings"])
def test_embeddings_replay_byte_for_byte(
    upstream: FakeLMStudio, proxy: FakeLMStudio, tmp_path: Path, path: str
) -> None:
    payload = {"model": "text-embedding-nomic-embed-text-v1.5", "input": ["one", "two"]}
    cassette = tmp_path / "c.yaml"
    session = use(proxy, cassette, "once", upstream)
    live = httpx.post(proxy.url + path, json=payload, timeout=10)
    session.finish()
    upstream.stop()
    use(proxy, cassette, "none")
    again = httpx.post(proxy.url + path, json=payload, timeout=10)
    assert live.status_code == 200 and again.content == live.content
