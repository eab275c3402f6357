"""Reasoning on the OpenAI-compatible endpoints, as reasoning models do it (issue 14 item 2).
Each test names its source (fidelity review = ../shared/spec/fidelity-review.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import httpx
import pytest

from fake_lms import FakeLMStudio
from fake_lms.model.catalog import DEFAULT_MODELS
from fake_lms.model.reasoning import reasons_by_default

QWEN = "qwen/qwen3-4b"  # reasoning: off | on, default on
OSS = "openai/gpt-oss-20b"  # reasoning: low | medium | high, default medium
GEMMA = "google/gemma-3-1b"  # no reasoning
QUESTION = [{"role": "user", "content": "Why is the sky blue?"}]


def chat(fake: FakeLMStudio, model: str, **fields: Any) -> dict[str, Any]:
    body = {"model": model, "messages": QUESTION, **fields}
    r = httpx.post(fake.base_url + "/chat/completions", json=body, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def warnings(fake: FakeLMStudio) -> list[str]:
    return [w for line in fake.request_log() for w in line.get("warnings", [])]


def test_the_default_catalog_has_a_reasoning_and_a_plain_llm() -> None:
    """Issue 14 item 2: tests can choose a model that reasons, or one that does not, on purpose."""
    downloaded = [s for s in DEFAULT_MODELS if s.type == "llm" and s.downloaded]
    assert {s.key for s in downloaded if reasons_by_default(s)} == {QWEN}
    assert {s.key for s in downloaded if not s.reasoning} == {GEMMA}


def test_a_reasoning_model_reasons_unasked(fake: FakeLMStudio) -> None:
    """Fidelity review §2 row 7: reasoning models answer with reasoning_content by default (the
    gemma-4-e2b conformance report; lmstudio-bridge-enhanced MANUAL_CURL_VALIDATION.md)."""
    r = chat(fake, QWEN)
    message = r["choices"][0]["message"]
    assert message["reasoning_content"] and message["content"]
    assert r["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0
    assert warnings(fake) == []


def test_gpt_oss_reasons_in_message_reasoning(fake: FakeLMStudio) -> None:
    """Spec §1.2 (changelog 0.3.23) and bug-tracker #988: gpt-oss puts its thinking in
    ``message.reasoning``, unasked; streamed, in ``delta.reasoning`` before the content."""
    fake.home.mark_downloaded(OSS)
    message = chat(fake, OSS)["choices"][0]["message"]
    assert message["reasoning"] and message["content"] and "reasoning_content" not in message
    body = {"model": OSS, "messages": QUESTION, "stream": True}
    with httpx.stream("POST", fake.base_url + "/chat/completions", json=body, timeout=30) as r:
        lines = [line[6:] for line in r.iter_lines() if line.startswith("data: {")]
    deltas = [json.loads(line)["choices"][0]["delta"] for line in lines]
    kinds = [next(k for k in ("reasoning", "content") if k in d) for d in deltas if len(d) > 1]
    assert kinds == sorted(kinds, key=["reasoning", "content"].index) and set(kinds) == {
        "reasoning",
        "content",
    }
    assert "".join(d.get("reasoning", "") for d in deltas) == message["reasoning"]


def test_a_model_without_reasoning_answers_plain_content(fake: FakeLMStudio) -> None:
    """Spec §1.2: ordinary models answer ``"reasoning_content": ""`` on current builds; a
    reasoning setting changes nothing for them and is not warned about."""
    for fields in ({}, {"reasoning_effort": "high"}):
        r = chat(fake, GEMMA, **fields)
        assert r["choices"][0]["message"]["reasoning_content"] == ""
        assert r["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0
    assert warnings(fake) == []


def test_an_offered_setting_is_used(fake: FakeLMStudio) -> None:
    """``/api/v1/models`` lists qwen3's options ``off`` and ``on`` (docs 2_rest/list.md): ``off``
    turns its reasoning off, with no warning."""
    r = chat(fake, QWEN, reasoning_effort="off")
    assert r["choices"][0]["message"]["reasoning_content"] == ""
    assert r["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0
    assert warnings(fake) == []


@pytest.mark.parametrize(
    ("model", "field", "value", "fallback"),
    [
        (QWEN, "reasoning_effort", "medium", "on"),
        (QWEN, "reasoning_effort", "none", "on"),
        (OSS, "reasoning_effort", "off", "medium"),
        (OSS, "reasoning_effort", "xhigh", "medium"),
    ],
)
def test_an_unoffered_setting_falls_back_with_a_warning(
    fake: FakeLMStudio, model: str, field: str, value: str, fallback: str
) -> None:
    """lmstudio-python#182 (bug-tracker #2284, 0.4.21): ``[WARN] Reasoning setting 'medium' is not
    supported by model 'qwen/qwen3.5-9b'. Supported settings: 'on', 'off'. Falling back to
    reasoning setting 'on'.`` The request is served, reasoning as the default does."""
    fake.home.mark_downloaded(OSS)
    r = chat(fake, model, **{field: value})
    message = r["choices"][0]["message"]
    assert message["reasoning" if model == OSS else "reasoning_content"]
    options = ", ".join(f"'{o}'" for o in ("off", "on") if model == QWEN) or "'low', 'medium', 'high'"
    assert warnings(fake) == [
        f"Reasoning setting '{value}' is not supported by model '{model}'. "
        f"Supported settings: {options}. Falling back to reasoning setting '{fallback}'."
    ]


def test_xhigh_is_accepted_where_the_model_offers_it(fake: FakeLMStudio) -> None:
    """Fidelity review §1 (abdulmominsakib/localmind#75, 2026-09): a model may offer
    'low', 'medium', 'high', 'xhigh'; there ``xhigh`` is a setting like any other."""
    fake.add_model(
        "acme/deep-thinker-8b", reasoning=["low", "medium", "high", "xhigh"], reasoning_default="high"
    )
    r = chat(fake, "acme/deep-thinker-8b", reasoning_effort="xhigh")
    assert r["choices"][0]["message"]["reasoning_content"]
    assert warnings(fake) == []


def test_responses_reason_by_default_and_honour_reasoning_effort(fake: FakeLMStudio) -> None:
    """Spec §1.5: ``reasoning: {"effort"}`` on /v1/responses; the reasoning item comes before the
    message (earendil-works/pi#4191). ``effort: null`` (codex) is the default."""
    url = fake.base_url + "/responses"
    for reasoning in (None, {"effort": None, "summary": "auto"}):
        out = httpx.post(url, json={"model": QWEN, "input": "hi", "reasoning": reasoning}, timeout=30).json()
        assert [item["type"] for item in out["output"]] == ["reasoning", "message"]
        assert out["usage"]["output_tokens_details"]["reasoning_tokens"] > 0
    off = httpx.post(url, json={"model": QWEN, "input": "hi", "reasoning": {"effort": "off"}}, timeout=30)
    assert [item["type"] for item in off.json()["output"]] == ["message"]
    high = httpx.post(url, json={"model": QWEN, "input": "hi", "reasoning": {"effort": "high"}}, timeout=30)
    assert [item["type"] for item in high.json()["output"]] == ["reasoning", "message"]
    assert warnings(fake) == [
        f"Reasoning setting 'high' is not supported by model '{QWEN}'. "
        "Supported settings: 'off', 'on'. Falling back to reasoning setting 'on'."
    ]


def test_max_output_tokens_spent_on_reasoning_leaves_the_response_incomplete(fake: FakeLMStudio) -> None:
    """Fidelity review §4.2: reasoning counts against the limit on every OpenAI-compatible
    endpoint (vrgamegirl19/comfyui-vrgamedevgirl#136: a reasoning-only answer, no message)."""
    body = {"model": QWEN, "input": "Why is the sky blue?", "max_output_tokens": 4}
    out = httpx.post(fake.base_url + "/responses", json=body, timeout=30).json()
    assert out["status"] == "incomplete"
    assert out["usage"]["output_tokens"] == 4 == out["usage"]["output_tokens_details"]["reasoning_tokens"]
    reasoning, message = out["output"]
    assert reasoning["type"] == "reasoning" and reasoning["content"][0]["text"]
    assert message["status"] == "incomplete" and message["content"][0]["text"] == ""


def test_the_warning_is_a_server_log_line_for_lms_log_stream(fake: FakeLMStudio) -> None:
    """LM Studio writes the fallback to its server log as a WARN (lmstudio-python#182); ``lms log
    stream --source server`` shows server-log lines (spec §4.3)."""
    chat(fake, QWEN, reasoning_effort="low")
    env = {**os.environ, "LMS_FAKE_HOME": str(fake.home.path)}
    command = [sys.executable, "-m", "fake_lms", "log", "stream", "--source", "server", "--json", "--once"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=True)
    events = [json.loads(line)["data"] for line in result.stdout.splitlines()]
    assert events[-2:] == [
        {"type": "server.log", "content": "Received request: POST to /v1/chat/completions", "level": "info"},
        {
            "type": "server.log",
            "content": f"Reasoning setting 'low' is not supported by model '{QWEN}'. "
            "Supported settings: 'off', 'on'. Falling back to reasoning setting 'on'.",
            "level": "warn",
        },
    ]
