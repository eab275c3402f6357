"""The real ``lmstudio`` SDK against ``python -m fake_lms serve`` in a subprocess, sharing its home
with REST and the fake ``lms``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_sdk_transport import RawClient
from wsproto.events import AcceptConnection

lms = pytest.importorskip("lmstudio")

TOKEN = "sk-lm-Abcd1234:Efgh5678Ijkl9012Mnop"


class Served:
    def __init__(self, url: str, home: Path) -> None:
        self.url = url
        self.home = home
        self.host = "127.0.0.1"
        self.port = int(url.rsplit(":", 1)[1])
        self.api_host = f"{self.host}:{self.port}"

    def lms(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "LMS_FAKE_HOME": str(self.home)}
        return subprocess.run(
            [sys.executable, "-m", "fake_lms", *args], env=env, capture_output=True, text=True, timeout=60
        )


def serve(tmp_path: Path, *args: str) -> Iterator[Served]:
    home = tmp_path / "home"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fake_lms", "serve", "--port", "0", "--home", str(home), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    try:
        yield Served(url, home)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None
        assert "Traceback" not in proc.stderr.read()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    yield from serve(tmp_path)


def test_sdk_load_is_seen_by_rest_and_lms(served: Served) -> None:
    with lms.Client(served.api_host) as client:
        model = client.llm.load_new_instance("google/gemma-3-1b", "sub-gemma", config={"contextLength": 4096})
        assert "gemma-3-1b" in model.respond("hi from a subprocess").content
        ps = json.loads(served.lms("ps", "--json").stdout)
        assert [m["identifier"] for m in ps] == ["sub-gemma"]
        rest = httpx.get(served.url + "/api/v1/models").json()["models"]
        assert [i["id"] for m in rest for i in m["loaded_instances"]] == ["sub-gemma"]
        # and the other way round: loaded by the fake lms, used by the SDK
        assert served.lms("load", "qwen/qwen3-4b", "--identifier", "from-lms", "-y").returncode == 0
        assert {m.identifier for m in client.list_loaded_models("llm")} == {"sub-gemma", "from-lms"}
        assert client.llm.model("from-lms").respond("hello").stats.stop_reason == "eosFound"
        model.unload()
        assert [m["identifier"] for m in json.loads(served.lms("ps", "--json").stdout)] == ["from-lms"]


def test_require_auth_accepts_only_api_token_pairs(tmp_path: Path) -> None:
    for server in serve(tmp_path, "--require-auth", "--api-token", TOKEN):
        identifier, passkey = TOKEN.removeprefix("sk-lm-").split(":")
        good = RawClient(server, "/system")  # type: ignore[arg-type]
        assert isinstance(good.handshake(), AcceptConnection)
        good.send({"authVersion": 1, "clientIdentifier": identifier, "clientPasskey": passkey})
        assert good.receive() == {"success": True}
        assert good.rpc("listDownloadedModels")["type"] == "rpcResult"
        bad = RawClient(server, "/system")  # type: ignore[arg-type]
        bad.handshake()
        bad.send({"authVersion": 1, "clientIdentifier": identifier, "clientPasskey": "x" * 20})
        assert bad.receive()["success"] is False
        # the Python SDK 1.5 cannot send a token: its random pair is refused
        with pytest.raises(ValueError):
            lms.Client(server.api_host).list_downloaded_models()
