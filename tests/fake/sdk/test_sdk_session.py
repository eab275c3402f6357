"""The SDK websocket session, sans IO: JSON text in, actions out, with an in-memory backend."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sdk_memory_backend import MemoryBackend

from fake_lms.sdk.protocol import Action, Close, SdkError, Send, SendRaw, Wait
from fake_lms.sdk.session import Session, UnknownNamespace, run_to_completion

AUTH = {"authVersion": 1, "clientIdentifier": "client-1", "clientPasskey": "secret-passkey"}
HISTORY = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
EMPTY_STACK = {"layers": [{"layerName": "apiOverride", "config": {"fields": []}}]}


def paced(seconds: float) -> Any:
    """A stream shaper that waits ``seconds`` before every event after the first."""

    def shape(events: Any) -> Any:
        for i, event in enumerate(events):
            if i:
                yield Wait(seconds)
            yield event

    return shape


def open_session(namespace: str = "llm", backend: MemoryBackend | None = None, **options: Any) -> Session:
    session = Session(namespace, backend or MemoryBackend(), **options)
    assert sent(run_to_completion(session.receive(json.dumps(AUTH)))) == [{"success": True}]
    return session


def sent(actions: list[Action]) -> list[Any]:
    return [a.message for a in actions if isinstance(a, Send)]


def call(session: Session, message: dict[str, Any]) -> list[Any]:
    return sent(run_to_completion(session.receive(json.dumps(message))))


def rpc(session: Session, endpoint: str, parameter: Any = None, call_id: int = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "rpcCall", "endpoint": endpoint, "callId": call_id}
    if parameter is not None:
        message["parameter"] = parameter
    (reply,) = call(session, message)
    return reply


def channel(session: Session, endpoint: str, parameter: Any, channel_id: int = 1) -> list[Any]:
    return call(
        session,
        {
            "type": "channelCreate",
            "endpoint": endpoint,
            "channelId": channel_id,
            "creationParameter": parameter,
        },
    )


def load(session: Session, key: str = "chat", channel_id: int = 0) -> dict[str, Any]:
    messages = channel(session, "getOrLoad", {"identifier": key, "loadConfigStack": EMPTY_STACK}, channel_id)
    return messages[-2]["message"]["info"]


# -- handshake -----------------------------------------------------------------------------------


def test_handshake_success_and_refusal() -> None:
    open_session()
    backend = MemoryBackend(refuse="Invalid client passkey")
    session = Session("llm", backend)
    actions = run_to_completion(session.receive(json.dumps(AUTH)))
    assert actions == [
        Send({"success": False, "error": "Invalid client passkey"}),
        Close(1000, "authentication failed"),
    ]
    assert session.state == "closed"
    assert session.receive(json.dumps({"type": "rpcCall", "endpoint": "listLoaded", "callId": 1})) == []


def test_refusal_as_an_object_when_asked() -> None:
    session = Session("llm", MemoryBackend(refuse="no"), auth_error_shape="object")
    (reply,) = sent(run_to_completion(session.receive(json.dumps(AUTH))))
    assert reply == {"success": False, "error": {"title": "no", "rootTitle": "no"}}


@pytest.mark.parametrize(
    "packet",
    [
        "not json",
        "[]",
        json.dumps({"authVersion": 2, "clientIdentifier": "a", "clientPasskey": "b"}),
        json.dumps({"authVersion": 1, "clientIdentifier": 5, "clientPasskey": "b"}),
        json.dumps({"authVersion": 1, "clientIdentifier": "a" * 257, "clientPasskey": "b"}),
    ],
)
def test_bad_authentication_packets_are_refused(packet: str) -> None:
    session = Session("system", MemoryBackend())
    actions = run_to_completion(session.receive(packet))
    assert sent(actions) == [{"success": False, "error": "Invalid authentication packet"}]
    assert isinstance(actions[-1], Close)


def test_unknown_namespace() -> None:
    with pytest.raises(UnknownNamespace):
        Session("nope", MemoryBackend())


# -- rpc -----------------------------------------------------------------------------------------


def test_rpc_results_and_void() -> None:
    session = open_session("system")
    reply = rpc(session, "listDownloadedModels", call_id=0)  # id 0 is a real id (JS counts from 0)
    assert reply["type"] == "rpcResult" and reply["callId"] == 0
    assert [m["modelKey"] for m in reply["result"]] == ["chat", "embed"]
    assert rpc(session, "version")["result"] == {"version": "0.3.99", "build": 7}
    assert rpc(session, "startHttpServer", {"port": 1234}) == {"type": "rpcResult", "callId": 1}  # void


def test_rpc_and_channel_ids_are_separate_maps() -> None:
    session = open_session()
    assert load(session, channel_id=3)["identifier"] == "chat"
    assert rpc(session, "listLoaded", call_id=3)["result"][0]["identifier"] == "chat"


def test_unknown_endpoint_warns_and_fails_fast() -> None:
    session = open_session()
    warning, error = call(session, {"type": "rpcCall", "endpoint": "nope", "callId": 4})
    assert warning["type"] == "communicationWarning" and warning["kind"] == "rpcEndpointUnknown"
    assert error["type"] == "rpcError" and error["callId"] == 4 and "nope" in error["error"]["title"]
    warning, error = channel(session, "nope", None, channel_id=9)
    assert warning["kind"] == "channelEndpointUnknown"
    assert error == {"type": "channelError", "channelId": 9, "error": error["error"]}


def test_unknown_endpoint_only_warns_like_the_reference_server() -> None:
    session = open_session(fail_fast=False)
    assert [m["type"] for m in call(session, {"type": "rpcCall", "endpoint": "nope", "callId": 1})] == [
        "communicationWarning"
    ]


def test_rpc_errors_carry_display_data() -> None:
    session = open_session()
    reply = rpc(
        session, "getModelInfo", {"specifier": {"type": "query", "query": {}}, "throwIfNotFound": True}
    )
    assert reply["type"] == "rpcError"
    assert reply["error"]["displayData"]["code"] == "generic.noModelMatchingQuery"
    assert rpc(session, "getModelInfo", {"specifier": {"type": "query", "query": {}}}) == {
        "type": "rpcResult",
        "callId": 1,
    }
    bad = rpc(session, "countTokens", {"specifier": "chat", "inputString": "x"})
    assert bad["type"] == "rpcError" and "specifier" in bad["error"]["title"]


@pytest.mark.parametrize(
    "text",
    [
        "{bad json",
        "42",
        json.dumps({"type": "rpcCall"}),
        json.dumps({"type": "rpcCall", "endpoint": "listLoaded", "callId": "1"}),
        json.dumps({"type": "rpcCall", "endpoint": "listLoaded", "callId": True}),
        json.dumps({"type": "channelCreate", "endpoint": "predict"}),
        json.dumps({"type": "whatever"}),
        b"\xff\xfe",
    ],
)
def test_malformed_messages_get_a_warning_and_the_session_lives_on(text: Any) -> None:
    session = open_session()
    (warning,) = sent(run_to_completion(session.receive(text)))
    assert warning["type"] == "communicationWarning"
    assert rpc(session, "listLoaded")["type"] == "rpcResult"


def test_keep_alive_and_unsolicited_nothing() -> None:
    session = open_session()
    assert call(session, {"type": "keepAlive"}) == [{"type": "keepAliveAck"}]
    assert call(session, {"type": "communicationWarning", "warning": "x"}) == []
    assert call(session, {"type": "channelSend", "channelId": 77, "message": {"type": "cancel"}}) == []


def test_signals_are_unknown_endpoints() -> None:
    session = open_session()
    warning, error = call(session, {"type": "signalSubscribe", "endpoint": "x", "subscribeId": 2})
    assert warning["kind"] == "signalEndpointUnknown"
    assert error["type"] == "signalError" and error["subscribeId"] == 2


def test_a_bug_in_a_handler_is_an_rpc_error_and_is_kept() -> None:
    backend = MemoryBackend()
    backend.list_loaded = None  # type: ignore[assignment,method-assign]
    errors: list[BaseException] = []
    session = open_session(backend=backend, errors=errors)
    reply = rpc(session, "listLoaded")
    assert reply["type"] == "rpcError" and "Internal error" in reply["error"]["title"]
    assert len(errors) == 1 and isinstance(errors[0], TypeError)


# -- channels ------------------------------------------------------------------------------------


def test_get_or_load_announces_progress_then_already_loaded() -> None:
    backend = MemoryBackend(load_seconds=2.0)
    session = open_session(backend=backend)
    actions = run_to_completion(
        session.receive(
            json.dumps(
                {
                    "type": "channelCreate",
                    "endpoint": "getOrLoad",
                    "channelId": 1,
                    "creationParameter": {
                        "identifier": "chat",
                        "loadConfigStack": EMPTY_STACK,
                        "loadTtlMs": 60000,
                    },
                }
            )
        )
    )
    waits = [a.seconds for a in actions if isinstance(a, Wait)]
    assert sum(waits) == pytest.approx(2.0) and len(waits) == 4
    kinds = [m["message"]["type"] for m in sent(actions) if m["type"] == "channelSend"]
    assert kinds == [
        "startLoading",
        "loadProgress",
        "loadProgress",
        "loadProgress",
        "loadProgress",
        "loadSuccess",
    ]
    assert sent(actions)[-1] == {"type": "channelClose", "channelId": 1}
    again = channel(session, "getOrLoad", {"identifier": "chat", "loadConfigStack": EMPTY_STACK}, 2)
    assert again[0]["message"]["type"] == "alreadyLoaded"
    assert session.open_channels == []


def test_load_model_with_identifier_and_context_length() -> None:
    session = open_session()
    stack = {
        "layers": [
            {
                "layerName": "apiOverride",
                "config": {"fields": [{"key": "llm.load.contextLength", "value": 8192}]},
            }
        ]
    }
    messages = channel(
        session, "loadModel", {"modelKey": "chat", "identifier": "mine", "loadConfigStack": stack}
    )
    assert [m["message"]["type"] for m in messages[:-1]] == ["resolved", "success"]
    assert messages[-2]["message"]["info"]["contextLength"] == 8192
    assert messages[-2]["message"]["info"]["identifier"] == "mine"
    (error,) = channel(session, "loadModel", {"modelKey": "nope", "loadConfigStack": EMPTY_STACK}, 2)
    assert error["type"] == "channelError" and error["error"]["displayData"]["code"] == "generic.pathNotFound"


def test_cancelling_a_load_abandons_it() -> None:
    backend = MemoryBackend(load_seconds=1.0)
    session = open_session(backend=backend)
    (task,) = session.receive(
        json.dumps(
            {
                "type": "channelCreate",
                "endpoint": "getOrLoad",
                "channelId": 1,
                "creationParameter": {"identifier": "chat", "loadConfigStack": EMPTY_STACK},
            }
        )
    )
    assert isinstance(next(task), Send) and isinstance(next(task), Wait)
    call(session, {"type": "channelSend", "channelId": 1, "message": {"type": "cancel"}})
    assert sent(list(task)) == [{"type": "channelClose", "channelId": 1}]
    assert backend.loaded == {}


def predict_message(channel_id: int = 1, **extra: Any) -> str:
    parameter = {
        "modelSpecifier": {"type": "query", "query": {"identifier": "chat"}},
        "history": HISTORY,
        "predictionConfigStack": EMPTY_STACK,
        **extra,
    }
    return json.dumps(
        {
            "type": "channelCreate",
            "endpoint": "predict",
            "channelId": channel_id,
            "creationParameter": parameter,
        }
    )


def test_predict_streams_fragments_then_success() -> None:
    backend = MemoryBackend()
    session = open_session(backend=backend)
    load(session)
    messages = [
        m["message"] for m in sent(run_to_completion(session.receive(predict_message()))) if "message" in m
    ]
    fragments = [m["fragment"] for m in messages if m["type"] == "fragment"]
    assert "".join(f["content"] for f in fragments) == "Hello from memory"
    assert set(fragments[0]) == {"content", "tokensCount", "containsDrafted", "reasoningType", "isStructural"}
    assert messages[0]["type"] == "promptProcessingProgress" and "details" in messages[0]
    success = messages[-1]
    assert success["type"] == "success"
    assert set(success) == {"type", "stats", "modelInfo", "loadModelConfig", "predictionConfig"}
    assert success["stats"]["stopReason"] == "eosFound" and success["stats"]["predictedTokensCount"] == 3
    assert backend.predictions[0].messages == [{"role": "user", "content": "hi"}]
    assert backend.logs[-1]["data"]["output"] == "Hello from memory"


def test_predict_cancel_between_fragments_is_user_stopped() -> None:
    backend = MemoryBackend(shape=paced(0.5), reply="one two three four five")
    session = open_session(backend=backend)
    load(session)
    (task,) = session.receive(predict_message(channel_id=4))
    before: list[Action] = []
    for action in task:
        before.append(action)
        if isinstance(action, Wait):
            break
    assert len([m for m in sent(before) if m["message"]["type"] == "fragment"]) == 1
    call(session, {"type": "channelSend", "channelId": 4, "message": {"type": "cancel"}})
    after = [m.get("message", m) for m in sent(list(task))]
    assert [m["type"] for m in after] == ["success", "channelClose"]
    assert after[0]["stats"]["stopReason"] == "userStopped" and after[0]["stats"]["predictedTokensCount"] == 1


def test_predict_tool_calls() -> None:
    backend = MemoryBackend(
        tool_calls=[{"type": "function", "id": "123", "name": "get_weather", "arguments": {"city": "Paris"}}],
        reply="",
    )
    session = open_session(backend=backend)
    load(session)
    types = [
        m["message"]["type"]
        for m in sent(run_to_completion(session.receive(predict_message())))
        if "message" in m
    ]
    assert types[-5:] == [
        "toolCallGenerationStart",
        "toolCallGenerationNameReceived",
        "toolCallGenerationArgumentFragmentGenerated",
        "toolCallGenerationEnd",
        "success",
    ]


def test_predict_history_with_tool_results_and_complete_mode() -> None:
    backend = MemoryBackend()
    session = open_session(backend=backend)
    load(session)
    history = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": ""},
                    {
                        "type": "toolCallRequest",
                        "toolCallRequest": {"id": "1", "name": "w", "arguments": {"c": 1}},
                    },
                ],
            },
            {
                "role": "tool",
                "content": [{"type": "toolCallResult", "content": '"sunny"', "toolCallId": "1"}],
            },
        ]
    }
    run_to_completion(session.receive(predict_message(history=history)))
    messages = backend.predictions[-1].messages
    assert messages[1]["tool_calls"][0]["function"] == {"name": "w", "arguments": '{"c":1}'}
    assert messages[2] == {"role": "tool", "content": '"sunny"', "tool_call_id": "1"}
    stack = {"layers": [{"layerName": "completeModeFormatting", "config": {"fields": []}}]}
    run_to_completion(session.receive(predict_message(channel_id=2, predictionConfigStack=stack)))
    assert backend.predictions[-1].raw_prompt == "hi"


def test_predict_faults_become_actions() -> None:
    def cut_after_one(events: Any) -> Any:
        yield next(events)
        yield Close(abrupt=True)

    backend = MemoryBackend(shape=cut_after_one)
    session = open_session(backend=backend)
    load(session)
    actions = run_to_completion(session.receive(predict_message()))
    assert actions[-1] == Close(abrupt=True)
    assert len([m for m in sent(actions) if m.get("message", {}).get("type") == "fragment"]) == 1
    assert session.state == "closed"

    def garbage_then_error(events: Any) -> Any:
        yield next(events)
        yield SendRaw("{not json")
        yield next(events)
        raise SdkError("crashed")

    session = open_session(backend=MemoryBackend(shape=garbage_then_error))
    load(session)
    actions = run_to_completion(session.receive(predict_message()))
    assert SendRaw("{not json") in actions
    last = sent(actions)[-1]
    assert last["type"] == "channelError" and last["error"]["title"] == "crashed"
    assert session.open_channels == []


def test_predict_for_a_model_not_loaded_is_a_channel_error() -> None:
    session = open_session()
    (error,) = call(session, json.loads(predict_message()))
    assert error["type"] == "channelError"
    assert error["error"]["displayData"]["code"] == "generic.noModelMatchingQuery"
    assert session.open_channels == []


def test_duplicate_channel_id_is_a_warning() -> None:
    backend = MemoryBackend(load_seconds=1.0)
    session = open_session(backend=backend)
    param = {"identifier": "chat", "loadConfigStack": EMPTY_STACK}
    (task,) = session.receive(
        json.dumps(
            {"type": "channelCreate", "endpoint": "getOrLoad", "channelId": 1, "creationParameter": param}
        )
    )
    next(task)
    (warning,) = channel(session, "getOrLoad", param, channel_id=1)
    assert warning["kind"] == "channelIdDuplicate"


def test_connection_lost_stops_channels() -> None:
    backend = MemoryBackend(shape=paced(1.0))
    session = open_session(backend=backend)
    load(session)
    (task,) = session.receive(predict_message())
    next(task)
    session.connection_lost()
    assert list(task) == []
    assert session.receive(json.dumps({"type": "keepAlive"})) == []


# -- other namespaces ----------------------------------------------------------------------------


def test_embedding_namespace() -> None:
    session = open_session("embedding")
    load(session, "embed")
    reply = rpc(
        session,
        "embedString",
        {
            "modelSpecifier": {"type": "instanceReference", "instanceReference": "ref-embed"},
            "inputString": "abc",
        },
    )
    assert reply["result"] == {"embedding": [3.0, 0.0]}
    spec = {"type": "query", "query": {"identifier": "embed"}}
    assert rpc(session, "tokenize", {"specifier": spec, "inputString": "a bb"})["result"] == {
        "tokens": [1, 2]
    }
    config = rpc(session, "getLoadConfig", {"specifier": spec})["result"]
    assert config == {"fields": [{"key": "embedding.load.contextLength", "value": 2048}]}


def test_repository_link_status_and_diagnostics_logs() -> None:
    assert rpc(open_session("repository"), "lmLinkStatus")["result"]["status"] == "offline"
    backend = MemoryBackend()
    session = open_session("diagnostics", backend=backend)
    (task,) = session.receive(json.dumps({"type": "channelCreate", "endpoint": "streamLogs", "channelId": 1}))
    assert isinstance(next(task), Wait)
    backend.log_prediction("chat", "p", "in", "out")
    log = next(task)
    assert isinstance(log, Send) and log.message["message"]["log"]["data"]["output"] == "out"
    call(session, {"type": "channelSend", "channelId": 1, "message": {"type": "stop"}})
    assert sent(list(task)) == [{"type": "channelClose", "channelId": 1}]


def test_files_upload() -> None:
    session = open_session("files")
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
    result = rpc(session, "uploadFileBase64", {"name": "a.png", "contentBase64": png})["result"]
    assert result["fileType"] == "image" and result["sizeBytes"] == 70
    assert result["identifier"].endswith(".png")
    text = rpc(session, "uploadFileBase64", {"name": "notes.txt", "contentBase64": "aGk="})["result"]
    assert text["fileType"] == "text/plain" and text["sizeBytes"] == 2
    bad = rpc(session, "uploadFileBase64", {"name": "x", "contentBase64": "not base64!"})
    assert bad["type"] == "rpcError" and "base64" in bad["error"]["title"]


def test_repository_search_and_download() -> None:
    session = open_session("repository")
    results = rpc(session, "searchModels", {"opts": {"searchTerm": "cha", "limit": 5}})["result"]["results"]
    assert [r["name"] for r in results] == ["chat"]
    bad = rpc(session, "searchModels", {"opts": {"limit": 500}})
    assert bad["type"] == "rpcError" and "limit" in bad["error"]["title"]
    options = rpc(
        session,
        "getModelDownloadOptions",
        {"modelSearchResultIdentifier": {"type": "catalog", "identifier": "chat"}},
    )["result"]["results"]
    assert options[0]["downloadIdentifier"] == "chat@q4"
    actions = run_to_completion(
        session.receive(
            json.dumps(
                {
                    "type": "channelCreate",
                    "endpoint": "downloadModel",
                    "channelId": 1,
                    "creationParameter": {"downloadIdentifier": "chat@q4"},
                }
            )
        )
    )
    messages = [m["message"] for m in sent(actions) if m["type"] == "channelSend"]
    assert [m["type"] for m in messages] == [
        "downloadProgress",
        "downloadProgress",
        "downloadProgress",
        "startFinalizing",
        "success",
    ]
    assert [m["update"]["downloadedBytes"] for m in messages[:3]] == [0, 5, 10]
    assert messages[-1] == {"type": "success", "defaultIdentifier": "chat"}
    assert len([a for a in actions if isinstance(a, Wait)]) == 2


def test_a_delayed_rpc_result_waits_first() -> None:
    session = open_session("embedding", MemoryBackend(embed_delay=0.25))
    load(session, "embed")
    spec = {"type": "query", "query": {"identifier": "embed"}}
    message = {"type": "rpcCall", "endpoint": "embedString", "callId": 1}
    actions = run_to_completion(
        session.receive(json.dumps({**message, "parameter": {"modelSpecifier": spec, "inputString": "ab"}}))
    )
    assert actions[0] == Wait(0.25)
    assert sent(actions) == [{"type": "rpcResult", "callId": 1, "result": {"embedding": [2.0, 0.0]}}]
