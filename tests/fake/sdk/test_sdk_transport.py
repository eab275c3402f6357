"""The websocket transport on the fake's HTTP port: upgrade, framing, limits and bad clients."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import httpx
import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Message,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)

from fake_lms import FakeLMStudio
from fake_lms.server import websocket

AUTH = {"authVersion": 1, "clientIdentifier": "raw-client", "clientPasskey": "raw-passkey"}


class RawClient:
    """A minimal websocket client that can also misbehave."""

    def __init__(self, fake: FakeLMStudio, path: str = "/llm") -> None:
        self.sock = socket.create_connection((fake.host, fake.port), timeout=5)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.sock.sendall(self.ws.send(Request(host=f"{fake.host}:{fake.port}", target=path)))
        self.events: list[Any] = []
        self.parts: list[str] = []
        self.closed = False

    def handshake(self) -> Any:
        return self.next_event()

    def send(self, message: Any) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        self.sock.sendall(self.ws.send(TextMessage(data=text)))

    def next_event(self, timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        while not self.events:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                self.closed = True
                return None
            self.ws.receive_data(data)
            self.events.extend(self.ws.events())
        return self.events.pop(0)

    def receive(self, timeout: float = 5.0) -> Any:
        while True:
            event = self.next_event(timeout)
            if isinstance(event, Message):
                self.parts.append(event.data)
                if event.message_finished:
                    text, self.parts = "".join(self.parts), []
                    return json.loads(text)
                continue
            return event

    def rpc(self, endpoint: str, call_id: int = 1, parameter: Any = None) -> Any:
        message: dict[str, Any] = {"type": "rpcCall", "endpoint": endpoint, "callId": call_id}
        if parameter is not None:
            message["parameter"] = parameter
        self.send(message)
        return self.receive()

    def authenticated(self) -> RawClient:
        assert isinstance(self.handshake(), AcceptConnection)
        self.send(AUTH)
        assert self.receive() == {"success": True}
        return self

    def close(self) -> None:
        self.sock.close()


def test_upgrade_is_answered_101_not_200(fake: FakeLMStudio) -> None:
    client = RawClient(fake, "/system").authenticated()
    reply = client.rpc("listDownloadedModels")
    assert reply["type"] == "rpcResult" and len(reply["result"]) == 3
    client.close()


def test_unknown_namespace_is_404(fake: FakeLMStudio) -> None:
    client = RawClient(fake, "/nope")
    event = client.handshake()
    assert isinstance(event, RejectConnection) and event.status_code == 404


def test_plain_http_on_a_namespace_path_is_still_rest(fake: FakeLMStudio) -> None:
    assert httpx.get(fake.url + "/llm").status_code != 101
    assert httpx.get(fake.url + "/lmstudio-greeting").json() == {"lmstudio": True}


def test_ping_is_answered(fake: FakeLMStudio) -> None:
    client = RawClient(fake).authenticated()
    client.sock.sendall(client.ws.send(Ping(payload=b"hello")))
    event = client.next_event()
    assert isinstance(event, Pong) and event.payload == b"hello"


def test_close_handshake(fake: FakeLMStudio) -> None:
    client = RawClient(fake).authenticated()
    client.sock.sendall(client.ws.send(CloseConnection(code=1000)))
    event = client.next_event()
    assert isinstance(event, CloseConnection)


def test_garbage_bytes_end_only_that_connection(fake: FakeLMStudio) -> None:
    bystander = RawClient(fake).authenticated()
    bad = RawClient(fake).authenticated()
    bad.sock.sendall(b"\xff\x00garbage that is no websocket frame" * 10)
    for _ in range(3):
        event = bad.next_event()
        if event is None or isinstance(event, CloseConnection):
            break
    assert bystander.rpc("listLoaded")["type"] == "rpcResult"
    fake.check_handler_errors()


def test_bad_json_is_a_warning_and_the_connection_lives_on(fake: FakeLMStudio) -> None:
    client = RawClient(fake).authenticated()
    client.send("{not json")
    assert client.receive()["type"] == "communicationWarning"
    assert client.rpc("listLoaded")["type"] == "rpcResult"


def test_fragmented_message_is_reassembled(fake: FakeLMStudio) -> None:
    client = RawClient(fake).authenticated()
    text = json.dumps({"type": "rpcCall", "endpoint": "listLoaded", "callId": 5})
    client.sock.sendall(client.ws.send(TextMessage(data=text[:10], message_finished=False)))
    client.sock.sendall(client.ws.send(TextMessage(data=text[10:], message_finished=True)))
    assert client.receive() == {"type": "rpcResult", "callId": 5, "result": []}


def test_huge_incoming_message_closes_with_1009(fake: FakeLMStudio) -> None:
    fake.server.fake_websocket.max_incoming = 10_000  # type: ignore[union-attr]
    client = RawClient(fake).authenticated()
    client.send({"type": "rpcCall", "endpoint": "listLoaded", "callId": 1, "parameter": {"x": "y" * 20_000}})
    event = client.receive()
    assert isinstance(event, CloseConnection) and event.code == 1009
    assert RawClient(fake).authenticated().rpc("listLoaded")["type"] == "rpcResult"


def test_handshake_timeout(fake: FakeLMStudio, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(websocket, "HANDSHAKE_TIMEOUT", 0.2)
    client = RawClient(fake)
    assert isinstance(client.handshake(), AcceptConnection)
    event = client.next_event(timeout=3)
    assert isinstance(event, CloseConnection) and event.code == 1008


def test_abrupt_disconnect_mid_prediction(fake: FakeLMStudio) -> None:
    fake.slow(ttft=0.01, tokens_per_second=50, times=None)
    client = RawClient(fake).authenticated()
    client.send(
        {
            "type": "channelCreate",
            "endpoint": "getOrLoad",
            "channelId": 0,
            "creationParameter": {"identifier": "google/gemma-3-1b", "loadConfigStack": {"layers": []}},
        }
    )
    while client.receive().get("type") != "channelClose":
        pass
    client.send(
        {
            "type": "channelCreate",
            "endpoint": "predict",
            "channelId": 1,
            "creationParameter": {
                "modelSpecifier": {"type": "query", "query": {"identifier": "google/gemma-3-1b"}},
                "history": {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
                "predictionConfigStack": {"layers": []},
            },
        }
    )
    assert client.receive()["message"]["type"] == "promptProcessingProgress"
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    client.close()  # RST while the server is streaming
    other = RawClient(fake, "/system").authenticated()
    assert other.rpc("listDownloadedModels")["type"] == "rpcResult"
    time.sleep(0.2)
    fake.check_handler_errors()


def test_message_over_the_python_sdk_limit_is_replaced_by_an_error() -> None:
    lms = pytest.importorskip("lmstudio")
    catalog = [
        {"key": f"publisher/model-number-{i:04d}-with-a-long-name", "size_bytes": 1000} for i in range(300)
    ]
    with FakeLMStudio(catalog=catalog) as fake:
        client = RawClient(fake, "/system").authenticated()
        reply = client.rpc("listDownloadedModels")
        assert reply["type"] == "rpcError" and "65536" in reply["error"]["title"]
        with lms.Client(fake.api_host) as sdk, pytest.raises(lms.LMStudioServerError, match="65536 bytes"):
            sdk.list_downloaded_models()


def test_stop_closes_websocket_connections() -> None:
    fake = FakeLMStudio()
    fake.start()
    client = RawClient(fake).authenticated()
    fake.stop()
    try:
        event = client.next_event(timeout=3)
    except OSError:
        event = None
    assert event is None or isinstance(event, CloseConnection)


def predict(channel_id: int, text: str) -> dict[str, Any]:
    return {
        "type": "channelCreate",
        "endpoint": "predict",
        "channelId": channel_id,
        "creationParameter": {
            "modelSpecifier": {"type": "query", "query": {"identifier": "google/gemma-3-1b"}},
            "history": {"messages": [{"role": "user", "content": [{"type": "text", "text": text}]}]},
            "predictionConfigStack": {"layers": []},
        },
    }


def test_two_paced_predictions_on_one_socket_interleave(fake: FakeLMStudio) -> None:
    fake.home.load("google/gemma-3-1b")
    fake.slow(tokens_per_second=40, times=None)
    client = RawClient(fake).authenticated()
    client.send(predict(1, "first question"))
    client.send(predict(2, "second question"))
    order: list[int] = []
    closed: set[int] = set()
    texts: dict[int, str] = {1: "", 2: ""}
    while closed != {1, 2}:
        message = client.receive()
        if message["type"] == "channelClose":
            closed.add(message["channelId"])
        elif message["message"]["type"] == "fragment":
            order.append(message["channelId"])
            texts[message["channelId"]] += message["message"]["fragment"]["content"]
    assert "first question" in texts[1] and "second question" in texts[2]
    first_of_two = order.index(2)
    assert first_of_two < order.count(1)  # channel 2 streamed before channel 1 was done
    # meanwhile an RPC on the same socket is answered between fragments, not after them
    client.send(predict(3, "third"))
    client.send({"type": "rpcCall", "endpoint": "listLoaded", "callId": 3})
    seen = []
    while True:
        message = client.receive()
        seen.append(message["type"])
        if message["type"] == "rpcResult":
            break
    assert "channelClose" not in seen


def test_upgrade_without_a_key_is_400_and_the_server_lives_on(fake: FakeLMStudio) -> None:
    with socket.create_connection((fake.host, fake.port), timeout=5) as sock:
        sock.sendall(b"GET /llm HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 400")
    assert RawClient(fake).authenticated().rpc("listLoaded")["type"] == "rpcResult"


def test_stream_logs_sees_rest_and_sdk_predictions(fake: FakeLMStudio) -> None:
    lms = pytest.importorskip("lmstudio")
    logs = RawClient(fake, "/diagnostics").authenticated()
    logs.send({"type": "channelCreate", "endpoint": "streamLogs", "channelId": 0})
    time.sleep(0.2)  # the channel has taken its starting point
    reply = httpx.post(
        fake.base_url + "/chat/completions",
        json={"model": "google/gemma-3-1b", "messages": [{"role": "user", "content": "over REST"}]},
    )
    assert reply.status_code == 200
    with lms.Client(fake.api_host) as client:
        client.llm.model("google/gemma-3-1b").respond("over the SDK")
    seen: list[dict[str, Any]] = []
    while not any(e["data"].get("input", "").endswith("over the SDK") for e in seen):
        message = logs.receive()
        seen.append(message["message"]["log"])
    kinds = [(e["data"]["type"], e["data"].get("content") or e["data"].get("input", "")) for e in seen]
    assert ("server.log", "Received request: POST to /v1/chat/completions") in kinds
    assert [k for k, _ in kinds if k.startswith("llm.prediction")][:2] == [
        "llm.prediction.input",
        "llm.prediction.output",
    ]
    logs.send({"type": "channelSend", "channelId": 0, "message": {"type": "stop"}})
    while True:
        message = logs.receive()
        if message["type"] == "channelClose":
            break
        seen.append(message["message"]["log"])
    sdk_output = [e for e in seen if e["data"]["type"] == "llm.prediction.output" and e["data"]["output"]]
    assert "over the SDK" in sdk_output[-1]["data"]["output"]
