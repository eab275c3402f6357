"""Native REST API v0 (/api/v0/*) over real HTTP (spec §2.1)."""

from __future__ import annotations

import json

import httpx
import pytest

from fake_lms import FakeLMStudio

V0_KEYS = [
    "id",
    "object",
    "type",
    "publisher",
    "arch",
    "compatibility_type",
    "quantization",
    "state",
    "max_context_length",
]


@pytest.fixture
def fake(tmp_path):
    with FakeLMStudio(home=tmp_path / "home") as server:
        yield server


@pytest.fixture
def client(fake):
    with httpx.Client(base_url=fake.url, timeout=10, verify=False) as c:
        yield c


def test_v0_models_lists_downloaded_models_with_documented_fields(client):
    body = client.get("/api/v0/models").json()
    assert list(body) == ["data", "object"] and body["object"] == "list"
    by_id = {m["id"]: m for m in body["data"]}
    assert set(by_id) == {"qwen/qwen3-4b", "google/gemma-3-1b", "text-embedding-nomic-embed-text-v1.5"}
    qwen = by_id["qwen/qwen3-4b"]
    assert list(qwen)[: len(V0_KEYS)] == V0_KEYS
    assert qwen["type"] == "llm" and qwen["state"] == "not-loaded"
    assert qwen["quantization"] == "Q4_K_M" and qwen["compatibility_type"] == "gguf"
    assert qwen["capabilities"] == ["tool_use"]
    assert "loaded_context_length" not in qwen
    assert "capabilities" not in by_id["google/gemma-3-1b"]  # omitted when empty
    assert by_id["text-embedding-nomic-embed-text-v1.5"]["type"] == "embeddings"


def test_v0_vlm_type_for_vision_models(tmp_path):
    """Vision shows as type "vlm", never in `capabilities`: "We will add 'vision' to the
    capabilities array in a future version, but it's not yet there" (zed-industries/zed#32741,
    LM Studio's author); a 2026 capture of google/gemma-3-4b has no `capabilities` key (fidelity
    review row 19)."""
    with FakeLMStudio(home=tmp_path / "home") as fake:
        fake.home.mark_downloaded("qwen/qwen2.5-vl-7b")
        model = httpx.get(fake.url + "/api/v0/models/qwen/qwen2.5-vl-7b", verify=False).json()
    assert model["type"] == "vlm" and "capabilities" not in model


def test_v0_loaded_context_length_only_when_loaded(fake, client):
    fake.home.load("google/gemma-3-1b", context_length=8192)
    model = client.get("/api/v0/models/google/gemma-3-1b").json()
    assert model["state"] == "loaded"
    assert model["loaded_context_length"] == 8192
    assert list(model)[: len(V0_KEYS) + 1] == [*V0_KEYS, "loaded_context_length"]


def test_v0_model_by_id_accepts_key_variant_and_instance_id(fake, client):
    fake.home.load("qwen/qwen3-4b", identifier="my-qwen")
    for name in ("qwen/qwen3-4b", "qwen/qwen3-4b@q4_k_m", "my-qwen", "QWEN/Qwen3-4B"):
        model = client.get(f"/api/v0/models/{name}").json()
        assert model["id"] == "qwen/qwen3-4b" and model["state"] == "loaded", name


@pytest.mark.parametrize("name", ["nope/nope", "openai/gpt-oss-20b"])  # unknown; in catalog, not downloaded
def test_v0_model_by_id_unknown_is_404_model_not_found(client, name):
    resp = client.get(f"/api/v0/models/{name}")
    assert resp.status_code == 404
    error = resp.json()["error"]
    assert error["code"] == "model_not_found" and error["type"] == "invalid_request_error"
    assert name in error["message"]


def test_v0_chat_completion_has_stats_model_info_runtime(client):
    resp = client.post(
        "/api/v0/chat/completions",
        json={"model": "google/gemma-3-1b", "messages": [{"role": "user", "content": "Introduce yourself."}]},
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["model"] == body["system_fingerprint"] == "google/gemma-3-1b"
    assert set(body["stats"]) == {
        "tokens_per_second",
        "time_to_first_token",
        "generation_time",
        "stop_reason",
    }
    assert body["stats"]["stop_reason"] == "eosFound"
    assert body["model_info"] == {
        "arch": "gemma3",
        "quant": "Q4_K_M",
        "format": "gguf",
        "context_length": 4096,
    }
    assert set(body["runtime"]) == {"name", "version", "supported_formats"}
    assert body["runtime"]["supported_formats"] == ["gguf"]
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_v0_chat_max_tokens_stop_reason(client):
    body = client.post(
        "/api/v0/chat/completions",
        json={"model": "google/gemma-3-1b", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3},
    ).json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["stats"]["stop_reason"] == "maxPredictedTokensReached"
    assert body["usage"]["completion_tokens"] == 3


def test_v0_completions_has_native_blocks(client):
    body = client.post(
        "/api/v0/completions",
        json={
            "model": "google/gemma-3-1b",
            "prompt": "the meaning of life is",
            "max_tokens": 10,
            "stop": "\n",
        },
    ).json()
    assert body["object"] == "text_completion" and body["id"].startswith("cmpl-")
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["stats"]["stop_reason"] == "maxPredictedTokensReached"
    assert {"model_info", "runtime"} <= set(body)


def test_v0_embeddings_plain_openai_shape(client):
    body = client.post(
        "/api/v0/embeddings",
        json={"model": "text-embedding-nomic-embed-text-v1.5", "input": ["Some text", "more text"]},
    ).json()
    assert body["object"] == "list"
    assert [d["index"] for d in body["data"]] == [0, 1]
    assert len(body["data"][0]["embedding"]) == 768
    assert body["model"] == "text-embedding-nomic-embed-text-v1.5@q4_k_m"
    assert "stats" not in body


def test_v0_streaming_chat_chunks(client):
    with client.stream(
        "POST",
        "/api/v0/chat/completions",
        json={
            "model": "google/gemma-3-1b",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
        },
    ) as resp:
        lines = [line for line in resp.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert all("usage" not in c and "stats" not in c for c in chunks)  # no include_usage asked
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_v0_listing_with_jit_off_shows_only_loaded(fake, client):
    fake.configure(jit=False)
    assert client.get("/api/v0/models").json() == {"data": [], "object": "list"}
    fake.home.load("qwen/qwen3-4b")
    ids = [m["id"] for m in client.get("/api/v0/models").json()["data"]]
    assert ids == ["qwen/qwen3-4b"]
    assert client.get("/api/v0/models/google/gemma-3-1b").status_code == 404
