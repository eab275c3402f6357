"""The SDK's predictions share the instance's slots with REST: beyond ``parallel`` they wait (the
socket goes on meanwhile), ``getInstanceProcessingState`` reports them, and a cancel ends a
queued prediction.

Sources: ``getInstanceProcessingState`` → ``{status, queued}`` (ws-protocol §6.2); ``queued``
includes the running request (spec §4.3 ``lms ps --json``); a cancelled prediction ends with
``stopReason: userStopped`` (ws-protocol §5, the stop-reason enum)."""

from __future__ import annotations

from typing import Any

from test_sdk_transport import RawClient, predict

from fake_lms import FakeLMStudio

MODEL = "google/gemma-3-1b"
SPECIFIER = {"type": "query", "query": {"identifier": MODEL}}


def state(client: RawClient, call_id: int, others: list[Any] | None = None) -> Any:
    """The instance's processing state; messages of other channels meanwhile go to ``others``."""
    client.send(
        {
            "type": "rpcCall",
            "endpoint": "getInstanceProcessingState",
            "callId": call_id,
            "parameter": {"specifier": SPECIFIER, "throwIfNotFound": True},
        }
    )
    while True:
        message = client.receive()
        if message.get("type") == "rpcResult" and message["callId"] == call_id:
            return message["result"]
        if others is not None:
            others.append(message)


def test_a_second_prediction_waits_and_the_state_shows_both(fake: FakeLMStudio) -> None:
    fake.home.load(MODEL, config={"parallel": 1})
    fake.slow(tokens_per_second=20, times=None)
    client = RawClient(fake).authenticated()
    assert state(client, 100) == {"status": "idle", "queued": 0}
    client.send(predict(1, "first question"))
    client.send(predict(2, "second question"))
    fragments: list[int] = []
    seen_state = None
    closed: list[int] = []
    pending: list[Any] = []
    while len(closed) < 2:
        message = pending.pop(0) if pending else client.receive()
        if message["type"] == "channelClose":
            closed.append(message["channelId"])
        elif message["type"] == "channelSend" and message["message"]["type"] == "fragment":
            fragments.append(message["channelId"])
            if seen_state is None and len(fragments) == 2:
                seen_state = state(client, 101, pending)
    assert seen_state == {"status": "generating", "queued": 2}
    # channel 2 streamed nothing until channel 1 had finished
    assert fragments == sorted(fragments) and closed == [1, 2]
    assert state(client, 102) == {"status": "idle", "queued": 0}


def test_a_cancel_ends_a_queued_prediction(fake: FakeLMStudio) -> None:
    fake.home.load(MODEL, config={"parallel": 1})
    fake.slow(tokens_per_second=10, times=None)
    client = RawClient(fake).authenticated()
    client.send(predict(1, "a long answer please"))
    client.send(predict(2, "queued"))
    while client.receive()["message"]["type"] != "fragment":
        pass
    client.send({"type": "channelSend", "channelId": 2, "message": {"type": "cancel"}})
    while True:
        message = client.receive()
        if message.get("channelId") == 2 and message["type"] == "channelSend":
            inner = message["message"]
            if inner["type"] == "success":
                assert inner["stats"]["stopReason"] == "userStopped"
                break
            assert inner["type"] != "fragment"
    assert state(client, 200)["queued"] == 1  # only channel 1 left
