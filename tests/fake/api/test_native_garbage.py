"""No request, however malformed, gets a traceback or an unstructured 500: garbage bodies at every
POST route (taken from the route table, so new routes are covered too)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from fake_lms import FakeLMStudio
from fake_lms.api import routes

POST_ROUTES = sorted(path for method, path in routes.ROUTES if method == "POST")
RAW_BODIES = [
    b"",
    b"   ",
    b"not json",
    b"{",
    b'{"model": "google/gemma-3-1b",}',
    b"[]",
    b'[{"model": "google/gemma-3-1b"}]',
    b"null",
    b"42",
    b'"a string"',
    b"\xff\xfe\x00garbage",
    b'{"model": NaN, "ttl": Infinity}',
    b'{"model": "google/gemma-3-1b", "ttl": Infinity, "messages": [{"role": "user", "content": "x"}]}',
    ("[" * 100_000 + "]" * 100_000).encode(),  # nesting deeper than the JSON parser recurses
    ('{"model": ' + "[" * 100_000 + "]" * 100_000 + "}").encode(),
    json.dumps({"model": "x" * 100_000}).encode(),
]
VALUES: list[Any] = [
    None,
    0,
    -1,
    1.5,
    10**40,
    -(10**40),
    10**400,  # does not fit a float
    "",
    "ünïcødé 😀\u0000",
    [],
    [1, "x", None],
    {},
    {"a": {"b": [None]}},
    True,
    [{}],
    [{"role": 5, "type": 7, "content": {"x": 1}}],
]
COMMON = ["model", "stream", "ttl"]
FIELDS = {
    "chat/completions": [
        "messages", "stream_options", "max_tokens", "max_completion_tokens", "temperature", "top_p", "tools",
        "tool_choice", "response_format", "stop", "seed", "reasoning_effort",
    ],
    "completions": ["prompt", "stream_options", "max_tokens", "stop", "temperature"],
    "embeddings": ["input", "encoding_format", "dimensions"],
    "responses": [
        "input", "instructions", "previous_response_id", "store", "reasoning", "text", "tools", "tool_choice",
        "max_output_tokens",
    ],
    "models/load": [
        "context_length", "eval_batch_size", "flash_attention", "num_experts", "offload_kv_cache_to_gpu",
        "echo_load_config", "identifier", "parallel",
    ],
    "models/unload": ["instance_id"],
    "models/download": ["quantization"],
    "api/v1/chat": [
        "input", "system_prompt", "store", "previous_response_id", "reasoning", "max_output_tokens",
        "context_length", "temperature", "top_k", "min_p", "integrations",
    ],
    "messages": ["messages", "max_tokens", "system", "tools", "tool_choice"],
}  # fmt: skip
VALID = {
    "model": "google/gemma-3-1b",
    "messages": [{"role": "user", "content": "hi"}],
    "input": "hi",
    "prompt": "hi",
    "instance_id": "google/gemma-3-1b",
    "max_tokens": 8,
}


def fields_for(path: str) -> list[str]:
    extra = [names for suffix, names in FIELDS.items() if path.endswith(suffix)]
    return COMMON + (extra[0] if extra else sorted({n for names in FIELDS.values() for n in names}))


def bodies_for(path: str) -> list[bytes]:
    out = list(RAW_BODIES)
    for name in fields_for(path):
        for value in VALUES:
            out.append(json.dumps({**VALID, name: value}).encode())
        out.append(json.dumps({name: VALUES[7]}).encode())  # the field alone, nothing else
    return out


def assert_lmstudio_shaped(resp: httpx.Response, sent: bytes) -> None:
    assert resp.status_code in (200, 400, 401, 404), (resp.status_code, sent[:200], resp.text[:300])
    if resp.headers.get("content-type", "").startswith("text/event-stream"):
        assert "[Server Error]" not in resp.text, (sent[:200], resp.text[:300])
        return
    body = resp.json()
    assert isinstance(body, dict), resp.text[:300]
    error = body.get("error")
    if resp.status_code != 200:
        assert error is not None, (sent[:200], resp.text[:300])
    if error is not None:
        assert isinstance(error, str) or (
            isinstance(error, dict) and isinstance(error.get("message"), str)
        ), body
    assert "Traceback" not in resp.text


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    home = tmp_path_factory.mktemp("garbage") / "home"
    with FakeLMStudio(home=home, download_seconds=0.01) as server:
        yield server


@pytest.mark.parametrize("path", POST_ROUTES)
def test_garbage_bodies_get_structured_errors(fake, path):
    with httpx.Client(base_url=fake.url, timeout=30, verify=False) as client:
        for body in bodies_for(path):
            resp = client.post(path, content=body, headers={"Content-Type": "application/json"})
            assert_lmstudio_shaped(resp, body)
    assert fake.app.handler_errors == []
    fake.home.unload_all()


@pytest.mark.parametrize("path", POST_ROUTES)
def test_garbage_with_auth_on(tmp_path, path):
    token = "sk-lm-Garbage1:" + "g" * 20
    with FakeLMStudio(home=tmp_path / "home", require_auth=True, api_tokens=[token]) as fake:
        with httpx.Client(base_url=fake.url, timeout=30, verify=False) as client:
            for header in ("", "Bearer", "Bearer ünï", "Bearer " + "x" * 5000, f"Bearer {token}"):
                for body in RAW_BODIES[:8]:
                    resp = client.post(
                        path,
                        content=body,
                        headers={"Authorization": header.encode("utf-8")},
                    )
                    assert_lmstudio_shaped(resp, body)
                    if header != f"Bearer {token}":
                        assert resp.status_code == 401
        assert fake.app.handler_errors == []


def test_wrong_methods_and_odd_paths(fake):
    with httpx.Client(base_url=fake.url, timeout=10, verify=False) as client:
        for method in ("GET", "PUT", "DELETE", "PATCH"):
            for path in POST_ROUTES:
                resp = client.request(method, path)
                assert resp.status_code == 200
                assert resp.json() == {"error": f"Unexpected endpoint or method. ({method} {path})"}
        for path in ("/api/v1/models/download/status/", "/api/v0/models/", "/api/v1//chat", "/api/v2/models"):
            resp = client.get(path)
            assert resp.status_code == 200 and "Unexpected endpoint" in resp.json()["error"]
        odd = client.get("/api/v1/models/download/status/%F0%9F%98%80")
        assert odd.status_code == 404 and odd.json()["error"]["type"] == "job_not_found"
        odd_model = client.get("/api/v0/models/%00%FF")
        assert odd_model.status_code == 404
    assert fake.app.handler_errors == []
