"""Authentication ("Require Authentication", LM Studio 0.4.0+; spec §0, §3) over real HTTP."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from fake_lms import FakeLMStudio

TOKEN = "sk-lm-AbCd1234:" + "Zy9" * 6 + "Xw"  # sk-lm-<8>:<20>
OTHER = "sk-lm-Qqqqqqqq:" + "a" * 20  # well formed, never registered
MISSING = {
    "error": {
        "type": "invalid_request",
        "code": "invalid_api_key",
        "message": "An LM Studio API token is required to make requests to this server, but none was "
        "provided using the Authorization header using the 'Bearer' scheme (i.e., 'Authorization: Bearer "
        "$LM_API_TOKEN'). Learn more at: https://lmstudio.ai/docs/developer/core/authentication.",
    }
}
ENDPOINTS = [
    ("GET", "/v1/models", None),
    (
        "POST",
        "/v1/chat/completions",
        {"model": "google/gemma-3-1b", "messages": [{"role": "user", "content": "x"}]},
    ),
    ("POST", "/v1/completions", {"model": "google/gemma-3-1b", "prompt": "x"}),
    ("POST", "/v1/embeddings", {"model": "text-embedding-nomic-embed-text-v1.5", "input": "x"}),
    ("POST", "/v1/responses", {"model": "google/gemma-3-1b", "input": "x"}),
    ("GET", "/api/v0/models", None),
    ("GET", "/api/v0/models/google/gemma-3-1b", None),
    (
        "POST",
        "/api/v0/chat/completions",
        {"model": "google/gemma-3-1b", "messages": [{"role": "user", "content": "x"}]},
    ),
    ("POST", "/api/v0/completions", {"model": "google/gemma-3-1b", "prompt": "x"}),
    ("POST", "/api/v0/embeddings", {"model": "text-embedding-nomic-embed-text-v1.5", "input": "x"}),
    ("GET", "/api/v1/models", None),
    ("POST", "/api/v1/models/load", {"model": "google/gemma-3-1b"}),
    ("POST", "/api/v1/models/unload", {"instance_id": "google/gemma-3-1b"}),
    ("POST", "/api/v1/models/download", {"model": "qwen/qwen3-4b"}),
    ("GET", "/api/v1/models/download/status/job_0123456789", None),
    ("POST", "/api/v1/chat", {"model": "google/gemma-3-1b", "input": "x"}),
    ("GET", "/no/such/route", None),
]


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    home = tmp_path_factory.mktemp("auth") / "home"
    with FakeLMStudio(home=home, require_auth=True, api_tokens=[TOKEN]) as server:
        yield server


def call(fake: FakeLMStudio, method: str, path: str, body, headers=None) -> httpx.Response:
    return httpx.request(method, fake.url + path, json=body, headers=headers or {}, timeout=10, verify=False)


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_every_endpoint_needs_a_token(fake, method, path, body):
    resp = call(fake, method, path, body)
    assert resp.status_code == 401
    assert resp.json() == MISSING


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_valid_token_is_let_through(fake, method, path, body):
    resp = call(fake, method, path, body, {"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code != 401


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", f"Basic {TOKEN}", TOKEN, "Token abc"],
)
def test_no_bearer_token_counts_as_missing(fake, header):
    resp = call(fake, "GET", "/v1/models", None, {"Authorization": header})
    assert resp.status_code == 401 and resp.json() == MISSING


@pytest.mark.parametrize(
    "token",
    ["lm-studio", "sk-lm-short:abc", "sk-lm-AbCd1234:tooshort", TOKEN + "x", "sk-lm-AbCd12345:" + "a" * 20],
)
def test_malformed_token(fake, token):
    """LM Studio echoes the first ~10 characters (lmstudio-surface.md §3, from a user's transcript);
    the fake echoes none of them: they can be part of a real key and end up in junit XML."""
    resp = call(fake, "GET", "/api/v1/models", None, {"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401
    assert resp.json() == {
        "error": {
            "type": "invalid_request",
            "code": "invalid_api_key",
            "message": "Malformed LM Studio API token provided: ***... Ensure you are using a valid token.",
        }
    }
    assert token[:10] not in resp.text


def test_unknown_well_formed_token(fake):
    resp = call(fake, "GET", "/v1/models", None, {"Authorization": f"Bearer {OTHER}"})
    assert resp.status_code == 401
    error = resp.json()["error"]
    assert error["type"] == "invalid_request" and error["code"] == "invalid_api_key"
    assert "not valid" in error["message"]


def test_bearer_scheme_is_case_insensitive(fake):
    assert call(fake, "GET", "/v1/models", None, {"Authorization": f"bearer {TOKEN}"}).status_code == 200


@pytest.mark.parametrize("path", ["/lmstudio-greeting", "/lms-status"])
def test_discovery_probes_need_no_token(fake, path):
    resp = call(fake, "GET", path, None)
    assert resp.status_code == 200
    if path == "/lmstudio-greeting":
        assert resp.json() == {"lmstudio": True}


def test_x_api_key_only_for_anthropic_messages(fake):
    assert call(fake, "GET", "/v1/models", None, {"x-api-key": TOKEN}).status_code == 401
    assert call(fake, "POST", "/v1/messages", {}, {"x-api-key": TOKEN}).status_code != 401
    assert call(fake, "POST", "/v1/messages", {}, {"x-api-key": OTHER}).status_code == 401


def test_tokens_are_stored_hashed_and_never_logged(fake):
    call(fake, "GET", "/v1/models", None, {"Authorization": f"Bearer {TOKEN}"})
    call(fake, "GET", "/v1/models", None, {"Authorization": f"Bearer {OTHER}"})
    call(fake, "GET", "/v1/models", None, {"Authorization": "Bearer lm-studio"})
    fake.request_log()  # log lines reach the file in batches: write the pending ones
    state_text = fake.home.state_file.read_text()
    assert TOKEN not in state_text and "AbCd1234" not in state_text
    assert hashlib.sha256(TOKEN.encode()).hexdigest() in state_text
    for path in fake.home.path.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert TOKEN not in text and OTHER not in text, path
    log_text = fake.home.request_log_file.read_text().lower()
    assert log_text and "authorization" not in log_text and "bearer" not in log_text


def test_tokens_added_at_run_time(fake):
    new = "sk-lm-Runtime1:" + "b" * 20
    assert call(fake, "GET", "/v1/models", None, {"Authorization": f"Bearer {new}"}).status_code == 401
    fake.home.add_token(new)
    assert call(fake, "GET", "/v1/models", None, {"Authorization": f"Bearer {new}"}).status_code == 200


def test_auth_off_ignores_any_authorization(tmp_path):
    with FakeLMStudio(home=tmp_path / "home") as fake:
        for headers in ({}, {"Authorization": "Bearer lm-studio"}, {"Authorization": "garbage"}):
            assert call(fake, "GET", "/v1/models", None, headers).status_code == 200
        fake.configure(require_auth=True)
        assert call(fake, "GET", "/v1/models", None).status_code == 401
