"""LM Studio's exact error shapes on the OpenAI-compatible API, over raw HTTP (spec §3)."""

from __future__ import annotations

import httpx
import pytest

from fake_lms import FakeLMStudio

LLM = "qwen/qwen3-4b"
EMBED = "text-embedding-nomic-embed-text-v1.5"


@pytest.fixture
def http(fake: FakeLMStudio) -> httpx.Client:
    with httpx.Client(base_url=fake.url) as client:
        yield client


def test_missing_messages(http: httpx.Client) -> None:
    r = http.post("/v1/chat/completions", json={"model": LLM})
    assert r.status_code == 400
    assert r.json() == {"error": "'messages' field is required"}


def test_unknown_model_lists_known_keys(http: httpx.Client) -> None:
    r = http.post(
        "/v1/chat/completions", json={"model": "nope", "messages": [{"role": "user", "content": "x"}]}
    )
    assert r.status_code == 400
    assert r.json() == {
        "error": {
            "message": 'Invalid model identifier "nope". Please specify a valid downloaded model '
            "(e.g., qwen/qwen3-4b, google/gemma-3-1b, text-embedding-nomic-embed-text-v1.5).",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
    }


def test_not_downloaded_model_is_unknown(http: httpx.Client) -> None:
    r = http.post(
        "/v1/chat/completions",
        json={"model": "openai/gpt-oss-20b", "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "model_not_found"


def test_embedding_model_for_chat_and_llm_for_embeddings(http: httpx.Client) -> None:
    r = http.post(
        "/v1/chat/completions", json={"model": EMBED, "messages": [{"role": "user", "content": "x"}]}
    )
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "model"
    assert "embedding model" in r.json()["error"]["message"]
    # an LLM for embeddings: LM Studio's own answers (fidelity review row 14; test_refusals.py)
    r = http.post("/v1/embeddings", json={"model": LLM, "input": "x"})
    assert r.status_code == 400
    assert r.json()["error"]["message"].endswith("Error: Model is not embedding.")


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1,2", b"\xff\xfe"])
def test_malformed_json(http: httpx.Client, body: bytes) -> None:
    r = http.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["message"].startswith("Received request for /v1/chat/completions with invalid JSON")
    assert err["code"] == "invalid_json"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": LLM, "messages": {"role": "user"}}, "messages"),
        ({"model": LLM, "messages": ["hi"]}, "messages"),
        ({"model": LLM, "messages": [{"role": "wizard", "content": "x"}]}, "messages"),
        ({"model": 5, "messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": LLM, "messages": [{"role": "user", "content": "x"}], "max_tokens": "ten"}, "max_tokens"),
        ({"model": LLM, "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}, "temperature"),
        ({"model": LLM, "messages": [{"role": "user", "content": "x"}], "stop": 3}, "stop"),
        ({"model": LLM, "messages": [{"role": "user", "content": "x"}], "tools": {}}, "tools"),
        (
            {"model": LLM, "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]},
            "tools",
        ),
        (
            {
                "model": LLM,
                "messages": [{"role": "user", "content": "x"}],
                "tools": [],
                "tool_choice": "sometimes",
            },
            "tool_choice",
        ),
        (
            {"model": LLM, "messages": [{"role": "user", "content": "x"}], "response_format": "json"},
            "response_format",
        ),
    ],
)
def test_wrong_types_are_structured_400s(
    fake: FakeLMStudio, http: httpx.Client, body: dict, param: str
) -> None:
    r = http.post("/v1/chat/completions", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param
    assert fake.app.handler_errors == []


def test_request_body_must_be_an_object(http: httpx.Client) -> None:
    r = http.post("/v1/embeddings", json=["a"])
    assert r.status_code == 400 and r.json()["error"]["message"] == "Request body must be a JSON object"


def test_embeddings_input_validation(http: httpx.Client) -> None:
    assert http.post("/v1/embeddings", json={"model": EMBED}).json() == {"error": "'input' field is required"}
    r = http.post("/v1/embeddings", json={"model": EMBED, "input": [1.5]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "input"
    # LM Studio refuses token arrays (bug-tracker #692, fidelity review row 15; issue 14)
    for tokens in ([[1, 2, 3], [4, 5]], [1, 2, 3]):
        r = http.post("/v1/embeddings", json={"model": EMBED, "input": tokens})
        assert r.status_code == 400
        assert r.json()["error"]["message"] == "'input' field must be a string or an array of strings"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/models"),
        ("POST", "/chat/completions"),
        ("GET", "/v1//models"),
        ("DELETE", "/v1/models"),
        ("GET", "/favicon.ico"),
        ("OPTIONS", "/v1/chat/completions"),
        ("GET", "/v1/models/qwen/qwen3-4b"),
    ],
)
def test_unknown_routes_answer_200_unexpected_endpoint(http: httpx.Client, method: str, path: str) -> None:
    r = http.request(method, path)
    assert r.status_code == 200
    assert r.json() == {"error": f"Unexpected endpoint or method. ({method} {path})"}
    assert "access-control-allow-origin" not in r.headers


def test_probes(http: httpx.Client) -> None:
    assert http.get("/lmstudio-greeting").json() == {"lmstudio": True}
    status = http.get("/lms-status").json()
    assert isinstance(status["package"], str) and isinstance(status["version"], str)


def test_json_headers_look_like_express(http: httpx.Client) -> None:
    r = http.get("/v1/models")
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.headers["x-powered-by"] == "Express"
    assert "server" not in r.headers
    assert r.headers["connection"] == "keep-alive"


def test_sse_headers_and_framing(http: httpx.Client) -> None:
    r = http.post(
        "/v1/chat/completions",
        json={"model": LLM, "messages": [{"role": "user", "content": "hi"}], "stream": True},
    )
    assert r.headers["content-type"] == "text/event-stream"
    assert r.headers["cache-control"] == "no-cache"
    frames = r.text.split("\n\n")
    assert frames[-1] == "" and frames[-2] == "data: [DONE]"
    assert all(f.startswith("data: ") for f in frames[:-1])  # no comments, no event: lines
    assert not any(line.startswith(":") for line in r.text.splitlines())


def test_jit_off_lists_only_loaded_and_needs_a_loaded_model(fake: FakeLMStudio, http: httpx.Client) -> None:
    fake.configure(jit=False)
    assert http.get("/v1/models").json() == {"data": [], "object": "list"}
    r = http.post("/v1/chat/completions", json={"model": LLM, "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 400
    assert r.json() == {
        "error": {
            "message": "No models loaded. Please load a model in the developer page "
            "or use the 'lms load' command.",
            "type": "invalid_request_error",
            "param": "model",
            "code": None,
        }
    }
    fake.home.load("google/gemma-3-1b")
    assert [m["id"] for m in http.get("/v1/models").json()["data"]] == ["google/gemma-3-1b"]
    # LM Studio quirk: the single loaded model answers for any name
    r = http.post(
        "/v1/chat/completions", json={"model": "whatever", "messages": [{"role": "user", "content": "x"}]}
    )
    assert r.status_code == 200 and r.json()["model"] == "google/gemma-3-1b"


def test_jit_load_reports_instance_and_second_instance_identifier(
    fake: FakeLMStudio, http: httpx.Client
) -> None:
    fake.home.load("google/gemma-3-1b")
    fake.home.load("google/gemma-3-1b")
    assert [i.identifier for i in fake.home.instances()] == ["google/gemma-3-1b", "google/gemma-3-1b:2"]
    r = http.post(
        "/v1/chat/completions",
        json={"model": "google/gemma-3-1b:2", "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.json()["model"] == "google/gemma-3-1b:2"
    assert r.json()["system_fingerprint"] == "google/gemma-3-1b:2"


def test_cors_enabled(fake: FakeLMStudio, http: httpx.Client) -> None:
    fake.configure(cors=True)
    r = http.options("/v1/chat/completions", headers={"Origin": "http://example.com"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "*"


def test_stream_error_after_start_is_an_sse_error_event(fake: FakeLMStudio, http: httpx.Client) -> None:
    from fake_lms.api.types import Reply, SSEEvent

    def broken():
        yield SSEEvent('{"choices":[]}')
        raise RuntimeError("boom")

    fake.expect_request("/v1/chat/completions").respond_with_handler(
        lambda request: __import__("fake_lms.server.http", fromlist=["to_response"]).to_response(
            Reply(200, stream=broken()), request
        )
    )
    r = http.post("/v1/chat/completions", json={})
    assert r.text.endswith('"type":"internal_error","param":null,"code":null}}\n\n')


def test_pytest_httpserver_expectations_take_precedence(fake: FakeLMStudio, http: httpx.Client) -> None:
    fake.expect_oneshot_request("/v1/models").respond_with_json(
        {"data": [{"id": "scripted"}], "object": "list"}
    )
    assert http.get("/v1/models").json()["data"][0]["id"] == "scripted"
    assert http.get("/v1/models").json()["data"][0]["id"] == LLM  # fallback: LM Studio again
    assert len(fake.log) == 2
    fake.check_assertions()
