"""Requests LM Studio refuses or serves differently, which the fake used to accept (issue 14, items
4, 5, 3 and 10). Each test names its source in the fidelity review (../shared/spec)."""

from __future__ import annotations

import httpx
import pytest

from fake_lms import FakeLMStudio
from fake_lms.core.errors import NO_MODELS_LOADED
from fake_lms.model.identity import LMSTUDIO_VERSION

LLM = "qwen/qwen3-4b"
OTHER = "google/gemma-3-1b"
EMBED = "text-embedding-nomic-embed-text-v1.5"
IMAGE = "data:image/png;base64,iVBORw0KGgo="


def chat(fake: FakeLMStudio, messages: list, model: str = LLM) -> httpx.Response:
    return httpx.post(
        fake.base_url + "/chat/completions", json={"model": model, "messages": messages}, timeout=30
    )


CONTENT_REFUSED = {"error": "Invalid 'content': 'content' field must be a string or an array of objects.."}


@pytest.mark.parametrize("content", [None, "omitted", 5])
@pytest.mark.parametrize("turn", [1, 2])  # the assistant's tool-call turn, the tool's result
def test_content_null_or_missing_on_a_tool_call_round_is_refused(
    fake: FakeLMStudio, content: object, turn: int
) -> None:
    """Row 9: content:null still rejected on 2026-02-01 (shanevcantwell/langgraph-agentic-scaffold#89,
    bug-tracker #261); an omitted content gets the same 400, body quoted with its doubled full
    stop, on the assistant tool-call turn and on an empty tool result (nugget/thane-ai-agent#1229)."""
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages: list[dict] = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "done"},
    ]
    assert chat(fake, messages).status_code == 200  # content "" is what a client must send
    if content == "omitted":
        del messages[turn]["content"]
    else:
        messages[turn]["content"] = content
    r = chat(fake, messages)
    assert (r.status_code, r.json()) == (400, CONTENT_REFUSED)


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


def test_chat_style_nested_tools_are_refused_on_responses(fake: FakeLMStudio) -> None:
    """Row 16: /v1/responses wants flat function tools; the nested chat-style form gets 400
    "Required" for tools.N.name (lmstudio-bridge-enhanced RESPONSES_API_BREAKTHROUGH.md)."""
    params = {"type": "object", "properties": {"city": {"type": "string"}}}
    flat = {"type": "function", "name": "get_weather", "parameters": params}
    nested = {"type": "function", "function": {"name": "get_weather", "parameters": params}}
    body = {"model": LLM, "input": "Weather in Rome?"}
    r = httpx.post(fake.base_url + "/responses", json={**body, "tools": [flat, nested]}, timeout=30)
    assert r.status_code == 400
    assert r.json() == {
        "error": {
            "message": "Required",
            "type": "invalid_request_error",
            "param": "tools.1.name",
            "code": "missing_required_parameter",
        }
    }
    r = httpx.post(fake.base_url + "/responses", json={**body, "tools": [flat]}, timeout=30)
    assert r.status_code == 200 and r.json()["output"][-1]["type"] == "function_call"


@pytest.mark.parametrize("path", ["/v1/embeddings", "/api/v0/embeddings"])
def test_an_llm_for_embeddings_gets_lm_studios_answers(fake: FakeLMStudio, path: str) -> None:
    """Row 14. Not loaded (the JIT path): lms#205 (0.3.14) quotes the OpenAI-shaped "Failed to load
    model ... Model is not embedding." with code model_not_found; loaded: bug-tracker #1908 (2026-05)
    quotes the bare-string "No models loaded" (no embedding model is)."""
    body = {"model": LLM, "input": "hello"}
    r = httpx.post(fake.url + path, json=body, timeout=30)
    assert (r.status_code, r.json()) == (
        400,
        {
            "error": {
                "message": 'Failed to load model "qwen/qwen3-4b@q4_k_m". Error: Model is not embedding.',
                "type": "invalid_request_error",
                "param": "model",
                "code": "model_not_found",
            }
        },
    )
    assert fake.home.instances() == []  # refused before any load
    assert httpx.post(fake.url + "/api/v1/models/load", json={"model": LLM}).status_code == 200
    r = httpx.post(fake.url + path, json=body, timeout=30)
    assert (r.status_code, r.json()) == (
        400,
        {"error": NO_MODELS_LOADED},
    )


def test_token_arrays_as_embedding_input_are_refused(fake: FakeLMStudio) -> None:
    """Row 15: bug-tracker #692 (0.3.16) logs "'input' field must be a string or an array of strings"."""
    for value in ([2485, 1129], [[2485, 1129], [11921]]):
        r = httpx.post(fake.base_url + "/embeddings", json={"model": EMBED, "input": value}, timeout=30)
        assert r.status_code == 400
        assert r.json()["error"]["message"] == "'input' field must be a string or an array of strings"
    r = httpx.post(fake.base_url + "/embeddings", json={"model": EMBED, "input": ["a", "b"]}, timeout=30)
    assert r.status_code == 200 and len(r.json()["data"]) == 2


@pytest.mark.parametrize("jit", [True, False])
def test_one_llm_loaded_serves_an_unknown_name_jit_on_or_off(tmp_path, jit: bool) -> None:
    """§4.3 / row 39: bug-tracker #619 (0.3.14), #1217 (0.3.31, JIT on), 2026 conformance reports
    (model "this-model-does-not-exist-openai-conformance-test" answered by the loaded gemma). An
    embedding model loaded beside it does not count; none or two LLMs keep the 400."""
    with FakeLMStudio(home=tmp_path / "home", jit=jit) as fake:
        messages = [{"role": "user", "content": "hi"}]
        name = "this-model-does-not-exist-openai-conformance-test"
        fake.home.load(EMBED)
        r = chat(fake, messages, model=name)
        assert r.status_code == 400  # no LLM loaded
        fake.home.load(LLM)
        r = chat(fake, messages, model=name)
        assert r.status_code == 200 and r.json()["model"] == LLM
        fake.home.load(OTHER)
        r = chat(fake, messages, model=name)
        assert r.status_code == 400 and r.json()["error"]["code"] == "model_not_found"
