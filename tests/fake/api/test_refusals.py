"""Requests LM Studio refuses or serves differently, which the fake used to accept (issue 14, items
4, 5, 3 and 10). Each test names its source in the fidelity review (../shared/spec)."""

from __future__ import annotations

import httpx
import pytest

from fake_lms import FakeLMStudio
from fake_lms.model.identity import LMSTUDIO_VERSION

LLM = "qwen/qwen3-4b"
OTHER = "google/gemma-3-1b"
EMBED = "text-embedding-nomic-embed-text-v1.5"
IMAGE = "data:image/png;base64,iVBORw0KGgo="


def chat(fake: FakeLMStudio, messages: list, model: str = LLM) -> httpx.Response:
    return httpx.post(
        fake.base_url + "/chat/completions", json={"model": model, "messages": messages}, timeout=30
    )


def test_content_null_on_a_tool_call_turn_is_refused(fake: FakeLMStudio) -> None:
    """Row 9: still rejected on 2026-02-01 (shanevcantwell/langgraph-agentic-scaffold#89)."""
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "done"},
    ]
    r = chat(fake, messages)
    assert r.status_code == 400
    assert "'content' field must be a string or an array of objects" in r.json()["error"]["message"]
    messages[1]["content"] = ""
    assert chat(fake, messages).status_code == 200


def test_an_image_to_a_model_without_vision_is_refused(fake: FakeLMStudio) -> None:
    """§4.4: bug-tracker #908, the string form on REST."""
    content = [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": IMAGE}}]
    r = chat(fake, [{"role": "user", "content": content}])
    assert r.status_code == 400
    assert r.json() == {"error": "Model does not support images. Please use a model that does."}


def test_an_image_by_http_url_is_refused_even_for_a_vision_model(fake: FakeLMStudio) -> None:
    fake.home.mark_downloaded("qwen/qwen2.5-vl-7b")
    part = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    r = chat(fake, [{"role": "user", "content": [part]}], model="qwen/qwen2.5-vl-7b")
    assert r.status_code == 400 and "data: URLs" in r.json()["error"]
    part = {"type": "image_url", "image_url": {"url": IMAGE}}
    assert chat(fake, [{"role": "user", "content": [part]}], model="qwen/qwen2.5-vl-7b").status_code == 200


def test_an_unknown_name_is_served_by_the_only_loaded_llm_with_jit_on(fake: FakeLMStudio) -> None:
    """§4.3: bug-tracker #619, #1217 and 2026 conformance reports."""
    assert httpx.post(fake.url + "/api/v1/models/load", json={"model": LLM}).status_code == 200
    r = chat(fake, [{"role": "user", "content": "hi"}], model="gpt-4o-mini")
    assert r.status_code == 200 and r.json()["model"] == LLM
    # an embedding model loaded beside it does not count: still exactly one LLM
    assert httpx.post(fake.url + "/api/v1/models/load", json={"model": EMBED}).status_code == 200
    assert chat(fake, [{"role": "user", "content": "hi"}], model="gpt-4o-mini").status_code == 200
    # two LLMs: which one would it be? LM Studio refuses
    assert httpx.post(fake.url + "/api/v1/models/load", json={"model": OTHER}).status_code == 200
    r = chat(fake, [{"role": "user", "content": "hi"}], model="gpt-4o-mini")
    assert r.status_code == 400 and r.json()["error"]["code"] == "model_not_found"


def test_no_llm_loaded_and_an_unknown_name_is_refused(fake: FakeLMStudio) -> None:
    r = chat(fake, [{"role": "user", "content": "hi"}], model="gpt-4o-mini")
    assert r.status_code == 400 and r.json()["error"]["code"] == "model_not_found"


@pytest.mark.parametrize(
    ("model", "setting", "message"),
    [
        (OTHER, "off", f"Model '{OTHER}' does not expose reasoning configuration."),
        (OTHER, "on", f"Model '{OTHER}' does not expose reasoning configuration."),
        (
            LLM,
            "high",
            f"Reasoning setting 'high' is not supported by model '{LLM}'. Supported settings: 'off', 'on'.",
        ),
        (
            LLM,
            "xhigh",
            f"Reasoning setting 'xhigh' is not supported by model '{LLM}'. Supported settings: 'off', 'on'.",
        ),
    ],
)
def test_v1_reasoning_refusals(fake: FakeLMStudio, model: str, setting: str, message: str) -> None:
    """Row 30: abdulmominsakib/localmind#75; Deno2026/comfyui-deno-custom-nodes#24, #68."""
    r = httpx.post(
        fake.url + "/api/v1/chat", json={"model": model, "input": "hi", "reasoning": setting}, timeout=30
    )
    assert r.status_code == 400
    assert r.json() == {
        "error": {
            "message": message,
            "type": "invalid_request",
            "code": "invalid_value",
            "param": "reasoning",
        }
    }


def test_identity_and_cors(tmp_path) -> None:
    """Row 2 (lmstudio-js findOrStartLlmster.test.ts; 0.4.24+1: microsoft/winget-pkgs#431780) and
    row 3 (cheshire-cat-ai/core#1014)."""
    with FakeLMStudio(home=tmp_path / "home", cors=True) as fake:
        status = httpx.get(fake.url + "/lms-status").json()
        assert status == {"package": "lmstudio", "version": LMSTUDIO_VERSION}
        assert LMSTUDIO_VERSION == "0.4.24+1"
        plain = httpx.get(fake.base_url + "/models")
        assert plain.headers["access-control-allow-origin"] == "*"
        assert plain.headers["access-control-allow-headers"] == "*"
        assert "access-control-allow-methods" not in plain.headers
        preflight = httpx.options(fake.base_url + "/chat/completions")
        assert preflight.status_code == 204 and "access-control-allow-methods" in preflight.headers


def test_the_reported_version_is_a_setting(tmp_path) -> None:
    with FakeLMStudio(home=tmp_path / "home", lmstudio_version="0.4.26+1") as fake:
        assert httpx.get(fake.url + "/lms-status").json()["version"] == "0.4.26+1"
        fake.home.update_settings(lmstudio_version="0.3.14")  # e.g. per test, on lmstudio_fake
        assert httpx.get(fake.url + "/lms-status").json()["version"] == "0.3.14"
    with pytest.raises(ValueError, match="lmstudio_version must look like"):
        FakeLMStudio(home=tmp_path / "other", lmstudio_version="latest")


def test_reasoning_tokens_count_against_max_tokens(fake: FakeLMStudio) -> None:
    """§4.2 (gemma-4-e2b conformance report "returned no answer text"; bug-tracker #2284): a small
    limit can be spent on reasoning alone, leaving no content and finish_reason "length"."""
    body = {
        "model": LLM,
        "messages": [{"role": "user", "content": "Why is the sky blue?"}],
        "reasoning_effort": "on",
    }
    r = httpx.post(fake.base_url + "/chat/completions", json={**body, "max_tokens": 5}).json()
    choice = r["choices"][0]
    assert choice["finish_reason"] == "length" and choice["message"]["content"] == ""
    assert choice["message"]["reasoning_content"]
    assert r["usage"]["completion_tokens"] == 5 == r["usage"]["completion_tokens_details"]["reasoning_tokens"]
    # a larger limit: the reasoning, then what is left of the limit for the answer
    r = httpx.post(fake.base_url + "/chat/completions", json={**body, "max_tokens": 40}).json()
    usage = r["usage"]
    assert usage["completion_tokens"] <= 40 and usage["completion_tokens_details"]["reasoning_tokens"] > 0
    assert r["choices"][0]["message"]["content"]
