"""Drift: what changed in the model's behaviour between two recordings of the same request, read
from real answers of the fake in each dialect (plain and streamed)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from fake_lms import FakeLMStudio
from fake_lms.replay import Cassette, CassetteSession, Interaction
from fake_lms.replay.drift import answer_of, compare
from fake_lms.server.proxy import Upstream
from fake_lms.server.recording import RecordReplay

MODEL = "qwen/qwen3-4b"
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
ANTHROPIC = {"model": MODEL, "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
RESPONSES = {"model": MODEL, "input": "hi"}


@pytest.fixture
def record(tmp_path: Path) -> Iterator[Callable[..., Interaction]]:
    """Record one exchange with the upstream scripted by ``script`` and return it."""
    with FakeLMStudio() as upstream, FakeLMStudio() as proxy:
        proxy.cassettes = RecordReplay(Upstream(upstream.url))
        count = iter(range(1000))

        def run(script: Callable[[FakeLMStudio], object], path: str, body: dict[str, object]) -> Interaction:
            upstream.reset()
            script(upstream)
            session = CassetteSession(tmp_path / f"{next(count)}.yaml", "once")
            assert proxy.cassettes is not None
            proxy.cassettes.current = session
            httpx.post(proxy.url + path, json=body, timeout=10)
            proxy.cassettes.wait_idle()
            session.finish()
            (interaction,) = Cassette.load(session.path).interactions
            return interaction

        yield run


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    "path,body", [("/v1/chat/completions", CHAT), ("/v1/messages", ANTHROPIC), ("/v1/responses", RESPONSES)]
)
def test_each_dialect_text_to_tool_call(
    record: Callable[..., Interaction], stream: bool, path: str, body: dict[str, object]
) -> None:
    body = {**body, "stream": stream}
    old = record(lambda f: f.reply("sunny today"), path, body)
    new = record(lambda f: f.reply_tool_call("get_weather", {"city": "Paris"}), path, body)
    before, after = answer_of(old), answer_of(new)
    assert before is not None and before.text == "sunny today" and not before.tool_calls
    assert after is not None and after.tool_calls == [("get_weather", '{"city": "Paris"}')]
    drift = compare(old, new)
    assert drift is not None
    assert drift.changes[0].startswith('tool calls changed (was "sunny today", now get_weather(')
    finish_changed = any(c.startswith("finish reason changed") for c in drift.changes)
    assert finish_changed == (path != "/v1/responses")  # a response's status stays "completed"


def test_text_only(record: Callable[..., Interaction]) -> None:
    old = record(lambda f: f.reply("one two three"), "/v1/chat/completions", CHAT)
    new = record(lambda f: f.reply("one two four"), "/v1/chat/completions", CHAT)
    drift = compare(old, new)
    assert drift is not None and drift.changes == ('text only (was "one two three", now "one two four")',)
    assert compare(old, old) is None


def test_structured_output_shape_and_usage(record: Callable[..., Interaction]) -> None:
    old = record(lambda f: f.reply_json({"name": "Ada", "age": 36}), "/v1/chat/completions", CHAT)
    same_shape = record(lambda f: f.reply_json({"name": "Bob", "age": 7}), "/v1/chat/completions", CHAT)
    other_shape = record(
        lambda f: f.reply_json({"name": "Ada", "born": "1815"}), "/v1/chat/completions", CHAT
    )
    long = record(lambda f: f.reply(" ".join(["word"] * 80)), "/v1/chat/completions", CHAT)
    drift = compare(old, same_shape)
    assert drift is not None and drift.changes[0].startswith("text only")
    drift = compare(old, other_shape)
    assert drift is not None and "structured-output shape changed" in drift.changes
    drift = compare(old, long)
    assert drift is not None and any(c.startswith("usage changed by more than 20%") for c in drift.changes)
