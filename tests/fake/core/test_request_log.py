"""The request log ``<home>/server-logs/requests.jsonl``: one JSON line per request, lifecycle lines
carry the model key and instance id, and nothing secret is ever written."""

from __future__ import annotations

import gc
import json
import shutil
import threading
from typing import Any

import httpx
import pytest
from _waiting import wait_for

from fake_lms import FakeLMStudio
from fake_lms.core.requestlog import LineAppender, LogEntry, log_line

GEMMA = "google/gemma-3-1b"
QWEN = "qwen/qwen3-4b"


@pytest.fixture
def fake(tmp_path):
    with FakeLMStudio(home=tmp_path / "home", download_seconds=0.05) as server:
        yield server


@pytest.fixture
def client(fake):
    with httpx.Client(base_url=fake.url, timeout=10, verify=False) as c:
        yield c


def loads_of(log: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """How a test plugin counts "model X was loaded": load and JIT-load lines for its key."""
    return [r for r in log if r.get("action") in ("load", "jit_load") and r.get("model_key") == key]


def test_one_line_per_request_with_the_basic_fields(fake, client):
    client.get("/lmstudio-greeting")
    client.get("/v1/models")
    client.post("/v1/chat/completions", json={"model": GEMMA, "messages": [{"role": "user", "content": "x"}]})
    client.get("/nope")
    client.post("/v1/chat/completions", content=b"{not json")
    log = fake.request_log()
    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("GET", "/lmstudio-greeting", 200),
        ("GET", "/v1/models", 200),
        ("POST", "/v1/chat/completions", 200),
        ("GET", "/nope", 200),
        ("POST", "/v1/chat/completions", 400),
    ]
    for record in log:
        assert {"time", "method", "path", "status", "model", "duration_ms"} <= set(record)
        assert isinstance(record["time"], float) and record["duration_ms"] >= 0
    assert log[2]["model"] == GEMMA
    lines = fake.home.request_log_file.read_text().splitlines()
    assert len(lines) == 5 and all(json.loads(line) for line in lines)


def test_lifecycle_lines_carry_model_key_and_instance_id(fake, client):
    client.post("/api/v1/models/load", json={"model": QWEN})
    client.post("/api/v1/models/load", json={"model": QWEN})
    client.post("/api/v1/models/unload", json={"instance_id": f"{QWEN}:2"})
    job = client.post("/api/v1/models/download", json={"model": "openai/gpt-oss-20b"}).json()
    client.post("/api/v1/models/download", json={"model": GEMMA})  # already downloaded
    client.post("/api/v1/chat", json={"model": GEMMA, "input": "x"})  # JIT load
    log = fake.request_log()
    load1, load2, unload, download, already, jit = log
    assert load1 | {"time": 0, "duration_ms": 0} == {
        "time": 0,
        "method": "POST",
        "path": "/api/v1/models/load",
        "status": 200,
        "model": QWEN,
        "duration_ms": 0,
        "action": "load",
        "model_key": QWEN,
        "instance_id": QWEN,
    }
    assert load2["instance_id"] == f"{QWEN}:2"
    assert (unload["action"], unload["model_key"], unload["instance_id"]) == ("unload", QWEN, f"{QWEN}:2")
    assert (download["action"], download["model_key"], download["job_id"]) == (
        "download",
        "openai/gpt-oss-20b",
        job["job_id"],
    )
    assert "action" not in already and already["model_key"] == GEMMA
    assert (jit["action"], jit["model_key"], jit["instance_id"], jit["model"]) == (
        "jit_load",
        GEMMA,
        GEMMA,
        GEMMA,
    )
    assert len(loads_of(log, QWEN)) == 2 and len(loads_of(log, GEMMA)) == 1


def test_jit_load_line_names_evicted_instances(fake, client):
    for model in (GEMMA, QWEN):
        client.post(
            "/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": "x"}]}
        )
    client.post("/v1/chat/completions", json={"model": QWEN, "messages": [{"role": "user", "content": "x"}]})
    first, second, third = fake.request_log()
    assert first["action"] == "jit_load" and "evicted" not in first
    assert second["action"] == "jit_load" and second["evicted"] == [GEMMA]
    assert "action" not in third  # already loaded: an ordinary request


def test_failed_loads_are_not_counted_as_loads(fake, client):
    client.post("/api/v1/models/load", json={"model": "nope/nope"})
    client.post("/api/v1/models/load", json={"model": "openai/gpt-oss-20b"})
    client.post(
        "/v1/chat/completions", json={"model": "nope", "messages": [{"role": "user", "content": "x"}]}
    )
    log = fake.request_log()
    assert [r["status"] for r in log] == [404, 404, 400]
    assert not any("action" in r for r in log)
    assert log[0]["model"] == "nope/nope"  # still says what was asked for


def test_concurrent_first_requests_log_exactly_one_load(fake):
    fake.configure(load_seconds=0.15)

    def one() -> None:
        httpx.post(
            fake.url + "/v1/chat/completions",
            json={"model": GEMMA, "messages": [{"role": "user", "content": "x"}]},
            timeout=10,
            verify=False,
        )

    threads = [threading.Thread(target=one) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log = fake.request_log()
    assert len(log) == 5
    assert len(loads_of(log, GEMMA)) == 1


def test_streaming_requests_are_marked(fake, client):
    client.post("/api/v1/chat", json={"model": GEMMA, "input": "x", "stream": True})
    client.post(
        "/api/v0/chat/completions",
        json={"model": GEMMA, "messages": [{"role": "user", "content": "x"}], "stream": True},
    )
    assert [r.get("stream") for r in fake.request_log()] == [True, True]


def test_no_body_or_headers_in_the_log(fake, client):
    secret = "my very private prompt"
    client.post(
        "/v1/chat/completions",
        json={"model": GEMMA, "messages": [{"role": "user", "content": secret}]},
        headers={"Authorization": "Bearer sk-lm-AbCd1234:abcdefghij0123456789", "X-Custom": "header-value"},
    )
    fake.request_log()  # log lines reach the file in batches: write the pending ones
    text = fake.home.request_log_file.read_text()
    for leaked in (secret, "sk-lm-", "Bearer", "header-value", "authorization"):
        assert leaked.lower() not in text.lower()


def test_log_can_be_turned_off(tmp_path):
    with FakeLMStudio(home=tmp_path / "home", log_requests=False) as fake:
        httpx.get(fake.url + "/v1/models", verify=False)
        httpx.post(fake.url + "/api/v1/models/load", json={"model": GEMMA}, verify=False)
        assert fake.request_log() == []


def test_home_request_log_reads_lines_still_in_memory(fake, client):
    client.get("/v1/models")
    assert [r["path"] for r in fake.home.request_log()] == ["/v1/models"]


def test_lines_reach_the_file_by_themselves(fake, client):
    client.get("/v1/models")
    path = fake.home.request_log_file
    assert wait_for(lambda: path.exists() and path.read_text())
    assert [json.loads(line)["path"] for line in path.read_text().splitlines()] == ["/v1/models"]


@pytest.mark.parametrize(
    "entry",
    [
        LogEntry(1795244830.1549, "POST", '/v1/chat/"x"é', 200, "q\u2028", 0.0001234, True, (3, 4), None),
        LogEntry(1.5, "GET", "/", 404, None, 12.0, False, None, {}),
        LogEntry(2.0, "POST", "/api/v1/models/load", 400, 1.5, 0.0, False, None, {"action": "load"}),
        LogEntry(3.0, "POST", "/api/v1/models/load", 200, "m", 0.5, False, None, {"evicted": ["a", "b"]}),
    ],
)
def test_log_line_is_the_json_of_the_record(entry: LogEntry) -> None:
    record: dict[str, Any] = {
        "time": round(entry.time, 6),
        "method": entry.method,
        "path": entry.path,
        "status": entry.status,
        "model": entry.model,
        "duration_ms": round(entry.seconds * 1000, 3),
    }
    if entry.stream:
        record["stream"] = True
    if entry.usage is not None:
        record["prompt_tokens"], record["completion_tokens"] = entry.usage
    record.update(entry.notes or {})
    line = log_line(entry)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert list(json.loads(line).items()) == list(record.items())


# --------------------------------------------------------------------------------------------
# the appender behind it


def test_appender_keeps_order_across_threads(tmp_path):
    path = tmp_path / "logs" / "x.jsonl"
    appender = LineAppender(path)

    def add(start: int) -> None:
        for n in range(start, start + 500):
            appender.append(b"%d\n" % n)

    threads = [threading.Thread(target=add, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    numbers = [int(line) for line in path.read_text().splitlines()]
    assert sorted(numbers) == sorted(n for k in range(4) for n in range(k * 1000, k * 1000 + 500))
    for k in range(4):  # each thread's lines in the order it added them
        mine = [n for n in numbers if k * 1000 <= n < k * 1000 + 500]
        assert mine == sorted(mine)
    appender.close()


def test_lines_from_two_processes_never_interleave(tmp_path):
    """Two processes append to one log (a fake server and a second one on the same home)."""
    import subprocess
    import sys

    path = tmp_path / "x.jsonl"
    script = (
        "import sys; from pathlib import Path; from fake_lms.core.requestlog import LineAppender\n"
        "a = LineAppender(Path(sys.argv[1]))\n"
        'for n in range(2000): a.append((\'{"p":%s,"n":%d,"pad":"%s"}\\n\' % '
        "(sys.argv[2], n, 'x' * 300)).encode())\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path), str(k)]) for k in range(2)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 4000
    for k in range(2):
        assert [r["n"] for r in lines if r["p"] == k] == list(range(2000))


def test_log_survives_the_server_stopping_and_starting(fake, client):
    fake.refuse_connections(0.05)  # stops the server, then starts it again
    assert wait_for(lambda: client.get("/lmstudio-greeting").status_code == 200, ignore=(httpx.HTTPError,))
    client.get("/v1/models")
    assert [r["path"] for r in fake.request_log()][-1] == "/v1/models"


def test_appender_reopens_a_file_that_went_away(tmp_path):
    path = tmp_path / "logs" / "x.log"
    appender = LineAppender(path)
    appender.append(b"first\n")
    shutil.rmtree(path.parent)
    appender.append(b"second\n")
    assert path.read_text() == "second\n"
    path.rename(path.with_name("rotated.log"))  # rotated away: the next line starts a new file
    appender.append(b"third\n")
    assert path.read_text() == "third\n"
    appender.close()


def test_answered_requests_are_freed_without_the_cycle_collector(tmp_path):
    """The parsed request must not stay reachable from the WSGI environ that pytest-httpserver's
    log keeps: that made a reference cycle per request, freed only by (ever longer) full
    garbage collections."""
    from werkzeug.test import Client
    from werkzeug.wrappers import Request

    from fake_lms.api.types import ApiRequest

    fake = FakeLMStudio(home=tmp_path / "home", log_limit=5)
    client = Client(Request.application(fake.application))  # the WSGI app, in-process
    body = {"model": GEMMA, "messages": [{"role": "user", "content": "hi"}]}

    def live_api_requests() -> int:
        return sum(isinstance(o, ApiRequest) for o in gc.get_objects())

    client.post("/v1/chat/completions", json=body)  # JIT load, caches
    gc.collect()
    gc.disable()
    try:
        before = live_api_requests()
        for _ in range(50):
            assert client.post("/v1/chat/completions", json=body).status_code == 200
        assert live_api_requests() - before <= 5  # at most what the bounded logs still hold
    finally:
        gc.enable()
        fake.app.close()
