"""Requests beyond a model's ``parallel`` queue on a real loopback server, and nothing holds a slot
for good: a client that disconnects mid-stream, a stalled or cut stream, a failed request.

Sources: ``parallel`` is the instance's max parallel predictions (spec §4.3 ``lms ps --json``,
``lms load --parallel``); LM Studio serves parallel requests up to "Max Concurrent Predictions"
(docs ``0_app/5_advanced/parallel-requests.md``, fidelity-review §4.8); ``status``/``queued`` as
``getInstanceProcessingState`` reports them (ws-protocol §6.2)."""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
import time
from typing import Any

import httpx
import pytest
from _waiting import wait_value

from fake_lms import FakeLMStudio

MODEL = "google/gemma-3-1b"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def fake() -> Any:
    with FakeLMStudio() as server:
        server.home.load(MODEL, config={"parallel": 1})
        yield server


def processing(fake: FakeLMStudio) -> dict[str, Any]:
    return httpx.get(f"{fake.url}/__fake__/processing").json()["instances"]


def post(fake: FakeLMStudio, body: dict[str, Any], timeout: float = 20) -> httpx.Response:
    return httpx.post(f"{fake.url}/v1/chat/completions", json=body, timeout=timeout)


def in_thread(fn: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def run() -> None:
        out["result"] = fn()
        out["at"] = time.monotonic()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    out["thread"] = thread
    return out


def test_the_control_api_reports_the_home_and_nothing_running(fake: FakeLMStudio) -> None:
    answer = httpx.get(f"{fake.url}/__fake__/processing").json()
    assert answer == {"home": str(fake.home.path), "instances": {}}


def test_a_client_that_disconnects_mid_stream_frees_its_slot(fake: FakeLMStudio) -> None:
    fake.reply("one two three four five six seven eight", times=1)
    fake.slow(tokens_per_second=4, times=1)  # ~2 s if read to the end
    sock = socket.create_connection((fake.host, fake.port), timeout=5)
    data = json.dumps({**BODY, "stream": True}).encode()
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(data), data)
    )
    assert b"data: " in sock.recv(65536)
    assert wait_value(lambda: processing(fake).get(MODEL, {}).get("status") == "generating")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # RST mid-stream
    started = time.monotonic()
    assert post(fake, BODY).status_code == 200  # not stuck behind the gone client
    assert time.monotonic() - started < 5
    assert wait_value(lambda: processing(fake) == {})


def test_a_queued_request_waits_for_a_non_streamed_slow_one(fake: FakeLMStudio) -> None:
    fake.slow(ttft=2.0, times=1)  # a non-streamed reply: the whole answer waits
    t0 = time.monotonic()
    first = in_thread(lambda: post(fake, BODY))
    # before its first token the instance is processing the prompt
    assert wait_value(lambda: processing(fake).get(MODEL) == {"status": "processingPrompt", "queued": 1})
    second = in_thread(lambda: post(fake, BODY))
    assert wait_value(lambda: processing(fake).get(MODEL, {}).get("queued") == 2)
    first["thread"].join(10)
    second["thread"].join(10)
    assert first["result"].status_code == second["result"].status_code == 200
    # the second (not slowed itself) was answered only after the first's 2 s
    assert second["at"] - t0 >= 1.9


@pytest.mark.parametrize(
    "fault",
    [
        lambda f: f.stall(after=1, seconds=0.3),
        lambda f: f.fault("stream_cut", after=2),
        lambda f: f.fault("stream_error", after=2, message="boom"),
        lambda f: f.fault("malformed_chunk", after=1),
    ],
    ids=["stall", "stream_cut", "stream_error", "malformed_chunk"],
)
def test_a_faulted_stream_frees_its_slot(fake: FakeLMStudio, fault: Any) -> None:
    fault(fake)
    with httpx.Client(timeout=10) as client:
        try:
            with client.stream("POST", f"{fake.url}/v1/chat/completions", json={**BODY, "stream": True}) as r:
                for _ in r.iter_lines():
                    pass
        except httpx.HTTPError:
            pass  # a cut stream
    assert wait_value(lambda: processing(fake) == {})
    assert post(fake, BODY, timeout=5).status_code == 200


def test_a_failed_request_never_queues(fake: FakeLMStudio) -> None:
    fake.fail(500, times=3)
    for _ in range(3):
        assert post(fake, BODY).status_code == 500
    assert processing(fake) == {}
    assert post(fake, BODY, timeout=5).status_code == 200


def test_embeddings_show_computing_embedding() -> None:
    with FakeLMStudio() as fake:
        fake.home.load("text-embedding-nomic-embed-text-v1.5")
        fake.slow(ttft=2.0, times=1)
        conn = http.client.HTTPConnection(fake.host, fake.port, timeout=10)
        body = json.dumps({"model": "text-embedding-nomic-embed-text-v1.5", "input": "hi"})
        done = in_thread(lambda: (conn.request("POST", "/v1/embeddings", body), conn.getresponse().status)[1])
        state = wait_value(lambda: processing(fake).get("text-embedding-nomic-embed-text-v1.5"))
        assert state == {"status": "computingEmbedding", "queued": 1}
        done["thread"].join(10)
        assert done["result"] == 200
