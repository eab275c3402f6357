"""``python -m fake_lms serve --record DIR --upstream URL`` and ``--replay DIR``: the cassettes
without pytest, as CI of another language would use them (real processes, real sockets)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from fake_lms.replay import Cassette
from fake_lms.scripting.remote import ControlClient

MODEL = "qwen/qwen3-4b"


@contextmanager
def serve(*args: str) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fake_lms", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    try:
        assert url.startswith("http://"), proc.stderr.read() if proc.stderr else url
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def chat(url: str, text: str, cassette: str | None = None) -> httpx.Response:
    headers = {"X-LMStudio-Cassette": cassette} if cassette else {}
    body = {"model": MODEL, "messages": [{"role": "user", "content": text}]}
    return httpx.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=30)


def test_record_then_replay_with_the_upstream_gone(tmp_path: Path) -> None:
    cassettes = tmp_path / "cassettes"
    with serve() as upstream:
        ControlClient(upstream).reply("upstream says bonjour")
        with serve("--record", str(cassettes), "--upstream", upstream) as recorder:
            recorded = chat(recorder, "Say hi")
            named = chat(recorder, "Say hi to Bob", cassette="suite/test_bob")
            assert recorded.status_code == 200 and named.status_code == 200
    assert (cassettes / "default.yaml").is_file()
    assert (cassettes / "suite" / "test_bob.yaml").is_file()
    assert len(Cassette.load(cassettes / "default.yaml").interactions) == 1

    with serve("--replay", str(cassettes)) as replayer:
        again = chat(replayer, "Say hi")
        assert again.content == recorded.content
        assert "upstream says bonjour" in again.text
        assert chat(replayer, "Say hi to Bob", cassette="suite/test_bob").content == named.content
        miss = chat(replayer, "Something else")
        assert miss.status_code == 400 and miss.json()["error"]["code"] == "cassette_miss"
        models = httpx.get(replayer + "/v1/models", timeout=10)  # the fake's own state
        assert models.status_code == 200 and models.json()["data"]


def test_bad_combinations_are_refused() -> None:
    for args in (["--record", "x"], ["--upstream", "http://127.0.0.1:1"], ["--record", "x", "--replay", "y"]):
        done = subprocess.run(
            [sys.executable, "-m", "fake_lms", "serve", "--port", "0", *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 2, args
        assert "error:" in done.stderr
    remote = subprocess.run(
        [
            sys.executable,
            "-m",
            "fake_lms",
            "serve",
            "--port",
            "0",
            "--record",
            "x",
            "--upstream",
            "http://192.0.2.1:1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert remote.returncode == 1 and "not on this machine" in remote.stderr
