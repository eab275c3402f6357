"""What keeps a long-running fake free of garbage-collector cliffs and memory growth (issue 17,
item 3): no reference cycle per request, no pytest-httpserver log where nobody reads it, the
``--gc-log`` switch that ``benchmarks/bench_gc.py`` measures pauses with."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import httpx
from werkzeug.wrappers import Request

from fake_lms.server.fake import FakeLMStudio

LLM = "qwen/qwen3-4b"
CHAT = {"model": LLM, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}


def live_requests() -> int:
    return sum(isinstance(o, Request) for o in gc.get_objects())


def test_a_dropped_record_is_freed_without_a_garbage_collection(tmp_path: Path) -> None:
    """The records keep each request's environ (the last ``log_limit``); werkzeug used to store the
    request in its own environ, a cycle that only a full collection freed once a record was
    dropped. With collections off, what stays alive is what the records and log hold."""
    with FakeLMStudio(home=tmp_path / "home", log_limit=5) as fake, httpx.Client(base_url=fake.url) as c:
        assert c.post("/v1/chat/completions", json=CHAT).status_code == 200  # JIT load, caches
        gc.collect()
        gc.disable()
        try:
            before = live_requests()
            for _ in range(40):
                assert c.post("/v1/chat/completions", json=CHAT).status_code == 200
            after = live_requests()
        finally:
            gc.enable()
        assert len(fake.requests) == 5 and fake.dropped_requests == 36
    assert after - before <= 5, (before, after)  # 40 requests: at most the 5 the log holds


def test_without_the_httpserver_log_every_request_is_still_recorded(tmp_path: Path) -> None:
    with (
        FakeLMStudio(home=tmp_path / "home", httpserver_log=False) as fake,
        httpx.Client(base_url=fake.url) as c,
    ):
        for _ in range(3):
            assert c.post("/v1/chat/completions", json=CHAT).status_code == 200
        assert fake.log == [] and fake.log.dropped == 3
        assert [r.operation for r in fake.requests] == ["chat"] * 3
        fake.assert_called_with(operation="chat", model=LLM)


def test_the_httpserver_log_is_kept_by_default(tmp_path: Path) -> None:
    with FakeLMStudio(home=tmp_path / "home", log_limit=2) as fake, httpx.Client(base_url=fake.url) as c:
        for _ in range(3):
            c.get("/v1/models")
        assert [request.path for request, _ in fake.log] == ["/v1/models"] * 2
        assert fake.log.dropped == 1


def test_serve_gc_log_times_each_collection(tmp_path: Path) -> None:
    log = tmp_path / "gc.log"
    command = [sys.executable, "-m", "fake_lms", "serve", "--port", "0", "--home", str(tmp_path / "home")]
    proc = subprocess.Popen([*command, "--gc-log", str(log)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        with httpx.Client(base_url=url) as c:
            for _ in range(400):  # a young collection about every hundred requests
                assert c.post("/v1/chat/completions", json=CHAT).status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    lines = log.read_text().splitlines()
    assert lines
    for line in lines:
        generation, pause_ms, collected = line.split()
        assert generation in ("0", "1", "2") and float(pause_ms) >= 0 and int(collected) >= 0
