"""Fuzzing the SDK session on the fake's real backend: whatever a client sends after the handshake,
no handler raises, every reply is a JSON protocol message, and the session answers normally
afterwards. Derandomized; ``LMSTUDIO_FUZZ_EXAMPLES`` sets how many examples per test."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fake_lms import FakeLMStudio
from fake_lms.sdk.protocol import Send, dumps
from fake_lms.sdk.session import NAMESPACES, Session

EXAMPLES = int(os.environ.get("LMSTUDIO_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
AUTH = json.dumps({"authVersion": 1, "clientIdentifier": "fuzz", "clientPasskey": "fuzz-passkey"})
ENDPOINTS = sorted({name for ns in NAMESPACES.values() for name in (*ns.rpcs, *ns.channels)} | {"nope"})
KEYS = ["qwen/qwen3-4b", "google/gemma-3-1b", "text-embedding-nomic-embed-text-v1.5", "nope"]
ACTIONS_PER_TASK = 200  # a streamLogs channel polls until it is stopped: never run one to its end

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from([*KEYS, "query", "instanceReference", "user", "text", "toolArray", "json"]),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(
        st.text(max_size=10)
        | st.sampled_from(
            [
                "specifier", "modelSpecifier", "query", "identifier", "type", "history", "messages",
                "role", "content", "inputString", "modelKey", "loadConfigStack", "layers", "config",
                "fields", "key", "value", "predictionConfigStack", "rawPrompt", "loadTtlMs", "ttlMs",
                "throwIfNotFound", "opts", "searchTerm", "limit", "downloadIdentifier", "name",
                "contentBase64", "instanceReference",
            ]
        ),
        inner,
        max_size=5,
    ),
    max_leaves=25,
)  # fmt: skip
ids = st.integers(min_value=-2, max_value=5) | st.sampled_from([None, "1", True, 2**70])
messages = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("rpcCall"), "endpoint": st.sampled_from(ENDPOINTS), "callId": ids},
        optional={"parameter": json_values},
    ),
    st.fixed_dictionaries(
        {"type": st.just("channelCreate"), "endpoint": st.sampled_from(ENDPOINTS), "channelId": ids},
        optional={"creationParameter": json_values},
    ),
    st.fixed_dictionaries({"type": st.just("channelSend"), "channelId": ids, "message": json_values}),
    st.dictionaries(
        st.sampled_from(["type", "callId", "channelId", "endpoint", "x"]), json_values, max_size=4
    ),
    json_values,
)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLMStudio]:
    """Not started: the session runs on its backend without a socket."""
    server = FakeLMStudio()
    server.home.load("google/gemma-3-1b")
    yield server
    server.home.unload_all()


def drive(session: Session, text: str) -> list[Any]:
    sent = []
    for task in session.receive(text):
        for action in itertools.islice(task, ACTIONS_PER_TASK):
            if isinstance(action, Send):
                dumps(action.message)  # always JSON (no NaN, no objects)
                sent.append(action.message)
    return sent


@FUZZ
@given(namespace=st.sampled_from(sorted(NAMESPACES)), batch=st.lists(messages, min_size=1, max_size=4))
def test_any_message_is_answered_without_a_handler_error(
    fake: FakeLMStudio, namespace: str, batch: list[Any]
) -> None:
    errors: list[BaseException] = []
    session = Session(namespace, fake.sdk_backend, errors=errors)
    assert drive(session, AUTH) == [{"success": True}]
    for message in batch:
        for reply in drive(session, json.dumps(message)):
            assert isinstance(reply, dict) and isinstance(reply.get("type"), str), reply
    assert errors == []
    if session.state == "open":  # a scripted drop is the only way to end it, and none is scripted
        (reply,) = drive(session, json.dumps({"type": "rpcCall", "endpoint": "nope", "callId": 9}))[1:]
        assert reply["type"] == "rpcError"


@FUZZ
@given(text=st.text(max_size=200) | st.binary(max_size=200))
def test_any_bytes_are_answered(fake: FakeLMStudio, text: str | bytes) -> None:
    session = Session("llm", fake.sdk_backend)
    drive(session, AUTH)
    drive(session, text)  # type: ignore[arg-type]
    assert drive(session, json.dumps({"type": "rpcCall", "endpoint": "listLoaded", "callId": 1}))[0][
        "type"
    ] == ("rpcResult")


parts = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "file", "toolCallRequest", "toolCallResult", "x"])},
    optional={
        "text": json_values,
        "name": json_values,
        "toolCallRequest": st.fixed_dictionaries(
            {}, optional={"id": json_values, "name": json_values, "arguments": json_values}
        ),
        "content": json_values,
        "toolCallId": json_values,
    },
)
history = st.fixed_dictionaries(
    {
        "messages": st.lists(
            st.fixed_dictionaries(
                {
                    "role": st.sampled_from(["system", "user", "assistant", "tool"]),
                    "content": st.lists(parts, max_size=3),
                }
            ),
            min_size=1,
            max_size=4,
        )
    }
)
CONFIG_KEYS = [
    "llm.prediction.tools", "llm.prediction.structured", "llm.prediction.maxPredictedTokens",
    "llm.prediction.stopStrings", "llm.prediction.toolChoice", "llm.prediction.temperature",
    "llm.prediction.promptTemplate",
]  # fmt: skip
config_values = json_values | st.fixed_dictionaries(
    {"type": st.sampled_from(["toolArray", "json", "none", "mode"])},
    optional={
        "tools": st.lists(
            st.fixed_dictionaries(
                {
                    "type": st.just("function"),
                    "function": st.fixed_dictionaries({"name": st.text(max_size=8)}),
                },
                optional={"x": json_values},
            ),
            max_size=2,
        ),
        "jsonSchema": json_values,
        "mode": st.sampled_from(["auto", "required", "none"]),
        "checked": st.booleans(),
        "value": json_values,
    },
)
stacks = st.fixed_dictionaries(
    {
        "layers": st.lists(
            st.fixed_dictionaries(
                {
                    "layerName": st.sampled_from(["apiOverride", "completeModeFormatting", "instance"]),
                    "config": st.fixed_dictionaries(
                        {
                            "fields": st.lists(
                                st.fixed_dictionaries(
                                    {"key": st.sampled_from(CONFIG_KEYS), "value": config_values}
                                ),
                                max_size=4,
                            )
                        }
                    ),
                }
            ),
            max_size=3,
        )
    }
)


@FUZZ
@given(history=history, stack=stacks)
def test_any_prediction_request_ends_properly(fake: FakeLMStudio, history: Any, stack: Any) -> None:
    errors: list[BaseException] = []
    session = Session("llm", fake.sdk_backend, errors=errors)
    drive(session, AUTH)
    parameter = {
        "modelSpecifier": {"type": "query", "query": {"identifier": "google/gemma-3-1b"}},
        "history": history,
        "predictionConfigStack": stack,
    }
    message = {"type": "channelCreate", "endpoint": "predict", "channelId": 1, "creationParameter": parameter}
    replies = drive(session, json.dumps(message))
    assert errors == []
    last = replies[-1]
    assert last["type"] in ("channelClose", "channelError"), last
    if last["type"] == "channelClose":
        assert replies[-2]["message"]["type"] == "success"
