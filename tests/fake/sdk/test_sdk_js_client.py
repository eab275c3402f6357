"""The official JS/TS SDK ``@lmstudio/sdk`` 2.0 against the in-process fake, from a small Node
project (``tests/fake/sdk/js``). Skips when ``node``/``npm`` are missing or the install fails."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fake_lms import FakeLMStudio

PROJECT = Path(__file__).parent / "js"
DEADLINE = 90  # seconds for the whole JS run: a shape the SDK rejects shows as a hang in JS (spec §4)


@pytest.fixture(scope="module")
def js_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed to run the JS SDK")
    workdir = tmp_path_factory.mktemp("lmstudio-js")
    for name in ("package.json", "check.mjs", "auth.mjs"):
        shutil.copy(PROJECT / name, workdir / name)
    try:
        proc = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired:
        pytest.skip("npm install of @lmstudio/sdk timed out")
    if proc.returncode != 0:
        pytest.skip(f"npm install of @lmstudio/sdk failed: {proc.stderr.strip()[-300:]}")
    return workdir


def run_check(project: Path, fake: FakeLMStudio, script: str = "check.mjs", *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        ["node", script, f"ws://{fake.api_host}", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_js_sdk_against_the_fake(js_project: Path, fake: FakeLMStudio) -> None:
    fake.slow(ttft=0.05, tokens_per_second=20, match="Tell me something long", times=None)
    fake.fail(500, message="js boom", match="trigger failure")
    fake.stream_error(after=2, message="The model has crashed", match="trigger crash")
    out = run_check(js_project, fake)
    assert out["version"] == fake.ctx.version
    assert out["downloaded"] == ["qwen/qwen3-4b", "google/gemma-3-1b", "text-embedding-nomic-embed-text-v1.5"]
    assert out["load"] == {"identifier": "js-gemma", "contextLength": 8192}
    assert out["loaded"] == ["js-gemma"]
    assert out["anyModel"] == "js-gemma"  # model() without a key: getModelInfo with an empty query
    reply = 'You said: "Hello from JS". This is a reply from google/gemma-3-1b on the fake LM Studio.'
    assert out["respond"] == {"content": reply, "stopReason": "eosFound"}
    assert out["stream"]["joined"] == out["stream"]["content"] == reply and out["stream"]["fragments"] > 5
    assert out["complete"].startswith(" and so the story continues after “Once upon a time”")
    assert isinstance(out["structured"]["n"], int)
    assert out["tokens"] == {"tokens": 3, "count": 3}
    assert out["act"] == {"rounds": 2, "calls": ["Paris"]}
    # qwen3 reasons by default (fidelity review §2 row 7): tagged fragments (ws-protocol.md §5), which
    # the JS SDK sorts into reasoningContent and nonReasoningContent (lmstudio-js OngoingPrediction)
    thought = out["reasoning"]
    assert thought["kinds"] == ["reasoningStartTag", "reasoning", "reasoningEndTag", "none"]
    assert thought["reasoning"] and "Why is the sky blue?" in thought["answer"]
    assert thought["content"] == f"<think>{thought['reasoning']}</think>{thought['answer']}"
    assert out["cancel"] == "userStopped"
    assert out["embed"] == 768
    assert "nope/nope" in out["unknown"]["error"]
    (kind_in, prompt), (kind_out, output) = out["logs"]  # diagnostics.streamLogs saw the prediction
    assert (kind_in, kind_out) == ("llm.prediction.input", "llm.prediction.output")
    assert "log me" in prompt and "log me" in output
    assert out["unload"] == []
    assert "js boom" in out["failure"]["error"]
    assert out["crash"]["fragments"] == 2 and "The model has crashed" in out["crash"]["error"]
    # the JS client uses instance references and one shared id counter: all resolved
    paths = {r.path for r in fake.requests if r.method == "WS"}
    assert {"/llm/predict", "/llm/completeRawText", "/embedding/embedString"} <= paths
    fake.check_handler_errors()


def test_js_sdk_with_an_api_token(js_project: Path, fake: FakeLMStudio) -> None:
    token = "sk-lm-Abcd1234:Efgh5678Ijkl9012Mnop"
    fake.home.add_token(token)
    fake.configure(require_auth=True)
    assert run_check(js_project, fake, "auth.mjs", token) == {"ok": 3}
    wrong = run_check(js_project, fake, "auth.mjs", "sk-lm-Abcd1234:Xxxx5678Ijkl9012Mnop")
    # the reference server's string reason, as the JS SDK reports it
    assert "Failed to authenticate" in wrong["error"] and "API token" in wrong["error"]


def test_js_sdk_against_a_serve_process(js_project: Path, tmp_path: Path) -> None:
    """The same JS checks against ``python -m fake_lms serve``, scripted over its control API, as
    CI of another language would run it (issue 12's acceptance)."""
    import sys
    from types import SimpleNamespace

    import httpx

    from fake_lms import LMSTUDIO_VERSION
    from fake_lms.scripting.remote import ControlClient

    proc = subprocess.Popen(
        [sys.executable, "-m", "fake_lms", "serve", "--port", "0", "--home", str(tmp_path / "home")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        control = ControlClient(url)
        control.slow(ttft=0.05, tokens_per_second=20, match="Tell me something long", times=None)
        control.fail(500, message="js boom", match="trigger failure")
        control.stream_error(after=2, message="The model has crashed", match="trigger crash")
        out = run_check(js_project, SimpleNamespace(api_host=url.split("://", 1)[1]))  # type: ignore[arg-type]
        assert out["version"] == LMSTUDIO_VERSION
        assert out["load"] == {"identifier": "js-gemma", "contextLength": 8192}
        assert out["respond"]["stopReason"] == "eosFound" and out["act"] == {"rounds": 2, "calls": ["Paris"]}
        assert out["cancel"] == "userStopped" and out["embed"] == 768
        assert "js boom" in out["failure"]["error"] and "The model has crashed" in out["crash"]["error"]
        # what the SDK did is what REST and the request records say
        assert out["unload"] == [] and httpx.get(url + "/api/v1/models").json()["models"]
        loaded = [m for m in httpx.get(url + "/api/v1/models").json()["models"] if m["loaded_instances"]]
        assert all(i["id"] != "js-gemma" for m in loaded for i in m["loaded_instances"])
        paths = {r.path for r in control.requests if r.method == "WS"}
        assert {"/llm/predict", "/llm/loadModel", "/llm/unloadModel"} <= paths
    finally:
        proc.terminate()
        proc.wait(timeout=30)
