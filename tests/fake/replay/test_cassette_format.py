"""The cassette format: bodies and SSE events rebuilt byte for byte from readable YAML; atomic
writes; record modes; matching; redaction."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from fake_lms.replay import Cassette, CassetteError, CassetteSession, Interaction, Matcher, Redactor, Request
from fake_lms.replay.cassette import (
    body_to_data,
    data_to_body,
    event_from_data,
    event_to_data,
    split_events,
    write_atomic,
)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a":1,"b":"\xc3\xa9t\xc3\xa9","c":[1.5,null,true]}',  # Express: compact, UTF-8 kept
        b'{"a": 1, "b": [1, 2]}',  # spaced
        b'{\n  "a": 1\n}',  # indented
        b'{"a":"\\u00e9"}',  # ASCII-escaped
        b'{"x":1e-7}',  # a number Python writes differently: kept as text
        b"plain text\nwith lines",
        b"\xff\xfe\x00binary",
        b"",
    ],
)
def test_bodies_round_trip_byte_for_byte_through_yaml(raw: bytes, tmp_path: Path) -> None:
    data = body_to_data(raw)
    cassette = Cassette([Interaction({"method": "POST", "path": "/x"}, {"status": 200, "body": data})])
    cassette.save(tmp_path / "c.yaml")
    (loaded,) = Cassette.load(tmp_path / "c.yaml").interactions
    assert loaded.response_body() == raw
    assert data_to_body(data) == raw


def test_json_bodies_are_stored_as_data() -> None:
    assert body_to_data(b'{"a":[1,2]}') == {"json": {"a": [1, 2]}}
    assert body_to_data(b'{"a": [1, 2]}') == {"json": {"a": [1, 2]}, "encoding": "spaced"}
    assert "text" in body_to_data(b'{"x":1e-7}')


@pytest.mark.parametrize(
    "raw",
    [
        b'data: {"a":1}\n\n',
        b"data: [DONE]\n\n",
        b'event: content_block_delta\ndata: {"type":"x"}\n\n',
        b": a comment\n\n",
        b"data: one\ndata: two\n\n",
        b'data:{"no":"space"}\r\n\r\n',
        b"data: cut in the mid",
    ],
)
def test_sse_events_round_trip(raw: bytes, tmp_path: Path) -> None:
    item = event_to_data(raw, 0.25)
    cassette = Cassette([Interaction({"method": "POST", "path": "/x"}, {"status": 200, "stream": [item]})])
    cassette.save(tmp_path / "c.yaml")
    (loaded,) = Cassette.load(tmp_path / "c.yaml").interactions
    assert list(loaded.iter_stream()) == [(0.25, raw)]
    assert event_from_data(item) == raw


def test_split_events_keeps_the_partial_tail() -> None:
    events, rest = split_events(b"data: 1\n\ndata: 2\r\n\r\ndata: 3")
    assert events == [b"data: 1\n\n", b"data: 2\r\n\r\n"] and rest == b"data: 3"


def test_unknown_kinds_are_kept_but_not_replayed(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "version: 1\ninteractions:\n"
        "- kind: ws-prediction\n  request: {channel: predict}\n  response: {fragments: [a]}\n  future: 1\n"
        "- kind: http\n  request: {method: POST, path: /v1/embeddings}\n  response: {status: 200}\n"
    )
    cassette = Cassette.load(path)
    assert [i.kind for i in cassette.http()] == ["http"]
    cassette.save(path)
    again = Cassette.load(path)
    assert again.interactions[0].kind == "ws-prediction" and again.interactions[0].extra == {"future": 1}


def test_bad_files_are_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("interactions: {not: a list}\n")
    with pytest.raises(CassetteError, match=r"bad\.yaml"):
        Cassette.load(path)
    path.write_text("version: 99\ninteractions: []\n")
    with pytest.raises(CassetteError, match="newer"):
        Cassette.load(path)


def test_an_interrupted_write_leaves_the_old_cassette_and_no_debris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("old content\n")

    def interrupted(fd: int) -> None:  # Ctrl-C while the new content is being flushed
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, b"new content that never lands\n")
    assert path.read_text() == "old content\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]


def test_concurrent_sessions_never_mix_files(tmp_path: Path) -> None:
    def record(name: str) -> None:
        session = CassetteSession(tmp_path / f"{name}.yaml", "once")
        for i in range(20):
            session.add(
                Interaction(
                    {
                        "method": "POST",
                        "path": "/v1/chat/completions",
                        "body": {"json": {"n": i, "who": name}},
                    },
                    {"status": 200, "body": {"json": {"ok": name}}},
                )
            )
        session.finish()

    threads = [threading.Thread(target=record, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        bodies = [x.body for x in Cassette.load(tmp_path / f"t{i}.yaml").interactions]
        assert bodies == [{"n": n, "who": f"t{i}"} for n in range(20)]


def chat(text: str, **extra: object) -> Request:
    return Request(
        "POST",
        "/v1/chat/completions",
        {"model": "m", "messages": [{"role": "user", "content": text}], **extra},
    )


def interaction(req: Request, answer: str) -> Interaction:
    return Interaction(
        {"method": req.method, "path": req.path, "body": {"json": req.body}},
        {"status": 200, "body": {"json": {"choices": [{"message": {"content": answer}}]}}},
    )


def test_record_modes(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    assert not CassetteSession(path, "none").records
    once = CassetteSession(path, "once")
    assert once.records and not once.replays
    once.add(interaction(chat("a"), "A"))
    once.finish()
    again = CassetteSession(path, "once")
    assert again.replays and not again.records
    assert again.find(chat("a")) is not None and again.find(chat("a")) is None  # once per recording
    episodes = CassetteSession(path, "new_episodes")
    assert episodes.replays and episodes.records
    everything = CassetteSession(path, "all")
    assert everything.find(chat("a")) is None  # never replays
    everything.add(interaction(chat("a"), "A2"))
    everything.add(interaction(chat("b"), "B"))
    everything.finish()
    answers = [
        i.response["body"]["json"]["choices"][0]["message"]["content"]
        for i in Cassette.load(path).interactions
    ]
    assert answers == ["A2", "B"]  # replaced in place, new one appended
    rewrite = CassetteSession(path, "rewrite")
    rewrite.add(interaction(chat("c"), "C"))
    rewrite.finish()
    assert [i.body["messages"][0]["content"] for i in Cassette.load(path).interactions] == ["c"]
    with pytest.raises(ValueError, match="record mode"):
        CassetteSession(path, "sometimes")


def test_matching_ignores_listed_fields_and_order_but_not_content() -> None:
    matcher = Matcher(["temperature", "stream_options.include_usage"])
    recorded = interaction(chat("hi", temperature=0.2, stream_options={"include_usage": True}), "x")
    assert matcher.matches(recorded, chat("hi", temperature=0.9, stream_options={}))
    assert not matcher.matches(recorded, chat("hi!", temperature=0.2))
    assert not matcher.matches(recorded, chat("hi", seed=3, temperature=0.2))  # seed is not ignored here
    assert Matcher().matches(interaction(chat("hi", seed=1, user="u"), "x"), chat("hi", seed=2))  # defaults


def test_closest_match_and_its_diff() -> None:
    recorded = [interaction(chat("one", max_tokens=5), "1"), interaction(chat("two"), "2")]
    found = Matcher().closest(recorded, chat("three"))
    assert found == (1, ['- messages[0].content: "two"', '+ messages[0].content: "three"'])
    other_path = Matcher().closest(recorded, Request("POST", "/v1/embeddings", {"input": "x"}))
    assert other_path is not None and "- POST /v1/chat/completions" in other_path[1]


def test_redactor_drops_credentials_and_remembers_them() -> None:
    redactor = Redactor(headers=["x-team"], fields=["note"])
    kept = redactor.headers(
        {
            "Authorization": "Bearer sk-lm-abcdefgh:12345678901234567890",
            "X-Api-Key": "anthropic-key",
            "Cookie": "session=cookie-value",
            "X-Team": "blue-team",
            "X-Custom-Token": "tok-tok-tok",
            "Content-Type": "application/json",
            "Host": "127.0.0.1",
        }
    )
    assert kept == {"content-type": "application/json"}
    body = redactor.body({"model": "m", "api_key": "k-k-k-k", "nested": [{"note": "private"}]})
    assert body == {"model": "m", "api_key": "<redacted>", "nested": [{"note": "<redacted>"}]}
    text = json.dumps(["sk-lm-abcdefgh:12345678901234567890", "cookie-value", "blue-team", "private"])
    assert "sk-lm" not in redactor.scrub_text(text) and "cookie-value" not in redactor.scrub_text(text)
    # logprobs carry a "token" field in responses: it is not a credential there
    assert redactor.body({"token": "Hello"}, request=False) == {"token": "Hello"}
