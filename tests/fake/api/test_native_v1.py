"""Native REST API v1 (/api/v1/*) over real HTTP (spec §2.2, §3)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import pytest
from _waiting import wait_for

from fake_lms import FakeLMStudio

LLM_FIELDS = [
    "type",
    "publisher",
    "key",
    "display_name",
    "architecture",
    "quantization",
    "size_bytes",
    "params_string",
    "loaded_instances",
    "max_context_length",
    "format",
    "capabilities",
    "description",
]
EMBEDDING_FIELDS = [
    "type",
    "publisher",
    "key",
    "display_name",
    "quantization",
    "size_bytes",
    "params_string",
    "loaded_instances",
    "max_context_length",
    "format",
]
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def fake(tmp_path):
    with FakeLMStudio(home=tmp_path / "home", download_seconds=0.5) as server:
        yield server


@pytest.fixture
def client(fake):
    with httpx.Client(base_url=fake.url, timeout=10, verify=False) as c:
        yield c


def models(client: httpx.Client) -> dict[str, dict[str, Any]]:
    body = client.get("/api/v1/models").json()
    assert list(body) == ["models"]
    return {m["key"]: m for m in body["models"]}


def sse_events(resp: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """``event: x`` / ``data: {...}`` pairs; checks that ``data.type`` repeats the event name."""
    events = []
    for block in resp.text.split("\n\n"):
        if not block.strip():
            continue
        lines = block.split("\n")
        assert lines[0].startswith("event: ") and lines[1].startswith("data: "), block
        name, data = lines[0][7:], json.loads(lines[1][6:])
        assert data["type"] == name and next(iter(data)) == "type"
        events.append((name, data))
    return events


# -- GET /api/v1/models --------------------------------------------------------------------------


def test_models_fields_in_documented_order(client):
    found = models(client)
    assert list(found) == ["qwen/qwen3-4b", "google/gemma-3-1b", "text-embedding-nomic-embed-text-v1.5"]
    qwen = found["qwen/qwen3-4b"]
    assert list(qwen) == [*LLM_FIELDS, "variants", "selected_variant"]
    assert qwen["quantization"] == {"name": "Q4_K_M", "bits_per_weight": 4}
    assert qwen["capabilities"] == {
        "vision": False,
        "trained_for_tool_use": True,
        "reasoning": {"allowed_options": ["off", "on"], "default": "on"},
    }
    assert qwen["variants"] == ["qwen/qwen3-4b@q4_k_m", "qwen/qwen3-4b@q8_0"]
    assert qwen["selected_variant"] == "qwen/qwen3-4b@q4_k_m"
    assert qwen["loaded_instances"] == [] and qwen["description"] is None
    assert found["google/gemma-3-1b"]["capabilities"] == {"vision": False, "trained_for_tool_use": False}
    nomic = found["text-embedding-nomic-embed-text-v1.5"]
    assert list(nomic) == EMBEDDING_FIELDS  # no architecture, capabilities, description, variants
    assert nomic["type"] == "embedding" and nomic["params_string"] is None


def test_models_loaded_instances_config(fake, client):
    fake.home.load("qwen/qwen3-4b", context_length=8192)
    fake.home.load("text-embedding-nomic-embed-text-v1.5")
    found = models(client)
    assert found["qwen/qwen3-4b"]["loaded_instances"] == [
        {
            "id": "qwen/qwen3-4b",
            "config": {
                "context_length": 8192,
                "eval_batch_size": 512,
                "parallel": 4,
                "flash_attention": True,
                "offload_kv_cache_to_gpu": True,
            },
        }
    ]
    assert found["text-embedding-nomic-embed-text-v1.5"]["loaded_instances"] == [
        {"id": "text-embedding-nomic-embed-text-v1.5", "config": {"context_length": 2048}}
    ]


# -- POST /api/v1/models/load, /unload -----------------------------------------------------------


def test_load_response_and_second_instance(client):
    first = client.post("/api/v1/models/load", json={"model": "qwen/qwen3-4b"})
    assert first.status_code == 200
    body = first.json()
    assert list(body) == ["type", "instance_id", "load_time_seconds", "status"]
    assert body["type"] == "llm" and body["instance_id"] == "qwen/qwen3-4b" and body["status"] == "loaded"
    assert isinstance(body["load_time_seconds"], float)
    second = client.post("/api/v1/models/load", json={"model": "qwen/qwen3-4b"}).json()
    assert second["instance_id"] == "qwen/qwen3-4b:2"
    third = client.post("/api/v1/models/load", json={"model": "qwen/qwen3-4b"}).json()
    assert third["instance_id"] == "qwen/qwen3-4b:3"
    ids = [i["id"] for i in models(client)["qwen/qwen3-4b"]["loaded_instances"]]
    assert ids == ["qwen/qwen3-4b", "qwen/qwen3-4b:2", "qwen/qwen3-4b:3"]


def test_load_echo_load_config(client):
    body = client.post(
        "/api/v1/models/load",
        json={
            "model": "qwen/qwen3-4b",
            "context_length": 16384,
            "flash_attention": False,
            "num_experts": 4,
            "eval_batch_size": 256,
            "echo_load_config": True,
        },
    ).json()
    assert body["load_config"] == {
        "context_length": 16384,
        "eval_batch_size": 256,
        "flash_attention": False,
        "offload_kv_cache_to_gpu": True,
        "num_experts": 4,
    }
    assert list(body["load_config"]) == [
        "context_length",
        "eval_batch_size",
        "flash_attention",
        "offload_kv_cache_to_gpu",
        "num_experts",
    ]
    config = models(client)["qwen/qwen3-4b"]["loaded_instances"][0]["config"]
    assert config["context_length"] == 16384 and config["num_experts"] == 4


def test_load_embedding_echo_has_only_context_length(client):
    body = client.post(
        "/api/v1/models/load",
        json={
            "model": "text-embedding-nomic-embed-text-v1.5",
            "echo_load_config": True,
            "flash_attention": True,
        },
    ).json()
    assert body["type"] == "embedding"
    assert body["load_config"] == {"context_length": 2048}


def test_load_ttl_and_identifier_extensions(fake, client):
    body = client.post(
        "/api/v1/models/load", json={"model": "google/gemma-3-1b", "identifier": "gem", "ttl": 120}
    ).json()
    assert body["instance_id"] == "gem"
    inst = fake.home.find_instance("gem")
    assert inst is not None and inst.ttl_seconds == 120 and not inst.jit
    taken = client.post("/api/v1/models/load", json={"model": "qwen/qwen3-4b", "identifier": "gem"})
    assert taken.status_code == 400
    assert taken.json()["error"]["type"] == "invalid_request"
    chat = client.post(
        "/v1/chat/completions", json={"model": "gem", "messages": [{"role": "user", "content": "x"}]}
    )
    assert chat.json()["model"] == chat.json()["system_fingerprint"] == "gem"


@pytest.mark.parametrize(
    ("model", "status", "error_type"),
    [
        ("nope/nope", 404, "model_not_found"),
        ("openai/gpt-oss-20b", 404, "model_not_found"),  # in the catalog, not downloaded
    ],
)
def test_load_unknown_or_not_downloaded(client, model, status, error_type):
    resp = client.post("/api/v1/models/load", json={"model": model})
    assert resp.status_code == status
    error = resp.json()["error"]
    assert error["type"] == error_type and error["param"] == "model" and model in error["message"]
    assert "code" not in error or error["code"] is not None  # v1 shape: code omitted, never null


def test_load_missing_model_is_v1_required_error(client):
    resp = client.post("/api/v1/models/load", json={})
    assert resp.status_code == 400
    assert resp.json() == {
        "error": {
            "message": '"model" is required',
            "type": "invalid_request",
            "code": "missing_required_parameter",
            "param": "model",
        }
    }


def test_load_context_length_above_max_rejected(client):
    resp = client.post("/api/v1/models/load", json={"model": "google/gemma-3-1b", "context_length": 10**9})
    assert resp.status_code == 400
    assert resp.json()["error"]["param"] == "context_length"


def test_unload(client):
    client.post("/api/v1/models/load", json={"model": "qwen/qwen3-4b"})
    client.post("/api/v1/models/load", json={"model": "qwen/qwen3-4b"})
    resp = client.post("/api/v1/models/unload", json={"instance_id": "qwen/qwen3-4b:2"})
    assert resp.status_code == 200 and resp.json() == {"instance_id": "qwen/qwen3-4b:2"}
    ids = [i["id"] for i in models(client)["qwen/qwen3-4b"]["loaded_instances"]]
    assert ids == ["qwen/qwen3-4b"]
    gone = client.post("/api/v1/models/unload", json={"instance_id": "qwen/qwen3-4b:2"})
    assert gone.status_code == 404
    assert gone.json()["error"]["type"] == "model_not_found"
    assert gone.json()["error"]["param"] == "instance_id"


# -- downloads ---------------------------------------------------------------------------------


def test_download_progress_then_completion(fake, client):
    assert "openai/gpt-oss-20b" not in models(client)
    started = client.post("/api/v1/models/download", json={"model": "openai/gpt-oss-20b"})
    assert started.status_code == 200
    job = started.json()
    assert re.fullmatch(r"job_[0-9a-f]{10}", job["job_id"])
    assert job["status"] == "downloading" and job["total_size_bytes"] == 12_109_565_632
    assert ISO.match(job["started_at"]) and ISO.match(job["estimated_completion"])
    time.sleep(0.1)
    mid = client.get(f"/api/v1/models/download/status/{job['job_id']}").json()
    assert list(mid) == [
        "job_id",
        "status",
        "total_size_bytes",
        "downloaded_bytes",
        "bytes_per_second",
        "estimated_completion",
        "started_at",
    ]
    assert mid["status"] == "downloading"
    assert 0 < mid["downloaded_bytes"] < mid["total_size_bytes"]
    assert mid["bytes_per_second"] == pytest.approx(12_109_565_632 / 0.5)
    # the same model again while it downloads: the same job
    again = client.post("/api/v1/models/download", json={"model": "openai/gpt-oss-20b"}).json()
    assert again["job_id"] == job["job_id"]
    # no status poll needed: listings show it as soon as its time is up
    assert wait_for(lambda: "openai/gpt-oss-20b" in models(client))
    assert fake.home.is_downloaded("openai/gpt-oss-20b")
    done = client.get(f"/api/v1/models/download/status/{job['job_id']}").json()
    assert list(done) == [
        "job_id",
        "status",
        "total_size_bytes",
        "downloaded_bytes",
        "started_at",
        "completed_at",
    ]
    assert done["status"] == "completed" and done["downloaded_bytes"] == done["total_size_bytes"]
    assert ISO.match(done["completed_at"])
    assert client.post("/api/v1/models/download", json={"model": "openai/gpt-oss-20b"}).json() == {
        "status": "already_downloaded"
    }
    assert (
        client.post("/api/v1/models/load", json={"model": "openai/gpt-oss-20b"}).json()["status"] == "loaded"
    )


def test_download_completes_in_home_without_any_reader(fake, client):
    job = client.post("/api/v1/models/download", json={"model": "qwen/qwen2.5-vl-7b"}).json()
    assert job["status"] == "downloading"
    assert wait_for(lambda: fake.home.is_downloaded("qwen/qwen2.5-vl-7b"))  # the timer, not a request
    ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert "qwen/qwen2.5-vl-7b" in ids


def test_download_instant_when_duration_zero(fake, client):
    fake.configure(download_seconds=0)
    job = client.post("/api/v1/models/download", json={"model": "text-embedding-qwen3-embedding-0.6b"}).json()
    assert job["status"] == "completed" and "completed_at" in job
    assert fake.home.is_downloaded("text-embedding-qwen3-embedding-0.6b")


def test_download_speed_setting(fake, client):
    fake.configure(download_bytes_per_second=639_150_592)  # the 0.6b embedding model in one second
    job = client.post("/api/v1/models/download", json={"model": "text-embedding-qwen3-embedding-0.6b"}).json()
    assert job["bytes_per_second"] == pytest.approx(639_150_592)


def test_download_already_downloaded(client):
    resp = client.post("/api/v1/models/download", json={"model": "qwen/qwen3-4b"})
    assert resp.json() == {"status": "already_downloaded"}


def test_download_huggingface_url(client):
    url = "https://huggingface.co/Qwen/Qwen3-Embedding-0.6B-GGUF"
    job = client.post("/api/v1/models/download", json={"model": url, "quantization": "Q8_0"}).json()
    assert job["status"] == "downloading"
    missing = client.post("/api/v1/models/download", json={"model": url, "quantization": "Q2_K"})
    assert missing.status_code == 404
    insecure = client.post("/api/v1/models/download", json={"model": "http://example.com/x"})
    assert insecure.status_code == 400


def test_download_unknown_model_and_unknown_job(client):
    resp = client.post("/api/v1/models/download", json={"model": "nobody/nothing"})
    assert resp.status_code == 404 and resp.json()["error"]["type"] == "model_not_found"
    job = client.get("/api/v1/models/download/status/job_0123456789")
    assert job.status_code == 404
    assert job.json()["error"]["type"] == "job_not_found"


# -- POST /api/v1/chat -------------------------------------------------------------------------


def test_chat_plain(client):
    resp = client.post(
        "/api/v1/chat", json={"model": "google/gemma-3-1b", "input": "My favorite color is blue."}
    )
    assert resp.status_code == 200
    body = resp.json()
    assert list(body) == ["model_instance_id", "output", "stats", "response_id"]
    assert body["model_instance_id"] == "google/gemma-3-1b"
    assert body["output"] == [{"type": "message", "content": body["output"][0]["content"]}]
    assert "blue" in body["output"][0]["content"]
    stats = body["stats"]
    assert list(stats) == [
        "input_tokens",
        "total_output_tokens",
        "reasoning_output_tokens",
        "tokens_per_second",
        "time_to_first_token_seconds",
        "model_load_time_seconds",  # this request JIT-loaded the model
    ]
    assert stats["reasoning_output_tokens"] == 0
    assert re.fullmatch(r"resp_[0-9a-f]{48}", body["response_id"])
    again = client.post("/api/v1/chat", json={"model": "google/gemma-3-1b", "input": "x"}).json()
    assert "model_load_time_seconds" not in again["stats"]  # already loaded


def test_chat_content_matches_v1_chat_completions(client):
    question = "What is the capital of France?"
    native = client.post("/api/v1/chat", json={"model": "google/gemma-3-1b", "input": question}).json()
    oai = client.post(
        "/v1/chat/completions",
        json={"model": "google/gemma-3-1b", "messages": [{"role": "user", "content": question}]},
    ).json()
    assert native["output"][-1]["content"] == oai["choices"][0]["message"]["content"]
    assert native["stats"]["input_tokens"] == oai["usage"]["prompt_tokens"]
    assert native["stats"]["total_output_tokens"] == oai["usage"]["completion_tokens"]


def test_chat_reasoning_model_and_settings(client):
    body = client.post("/api/v1/chat", json={"model": "qwen/qwen3-4b", "input": "Think about it"}).json()
    assert [o["type"] for o in body["output"]] == ["reasoning", "message"]  # qwen3 default: on
    assert body["stats"]["reasoning_output_tokens"] > 0
    off = client.post(
        "/api/v1/chat", json={"model": "qwen/qwen3-4b", "input": "x", "reasoning": "off"}
    ).json()
    assert [o["type"] for o in off["output"]] == ["message"]
    unsupported = client.post(
        "/api/v1/chat", json={"model": "qwen/qwen3-4b", "input": "x", "reasoning": "high"}
    )
    assert unsupported.status_code == 400
    assert unsupported.json()["error"]["param"] == "reasoning"
    not_reasoning = client.post(
        "/api/v1/chat", json={"model": "google/gemma-3-1b", "input": "x", "reasoning": "on"}
    )
    assert not_reasoning.status_code == 400
    bad = client.post("/api/v1/chat", json={"model": "google/gemma-3-1b", "input": "x", "reasoning": "max"})
    assert bad.status_code == 400


def test_chat_input_items(client):
    body = client.post(
        "/api/v1/chat",
        json={
            "model": "google/gemma-3-1b",
            "input": [
                {"type": "message", "content": "first part"},
                {"type": "text", "content": "second part"},
            ],
        },
    ).json()
    assert "first part" in body["output"][0]["content"]


def test_chat_text_key_instead_of_content_is_invalid_union(client):
    resp = client.post(
        "/api/v1/chat", json={"model": "google/gemma-3-1b", "input": [{"type": "text", "text": "hello"}]}
    )
    assert resp.status_code == 400
    assert resp.content == (
        b'{"error":{"message":"\'input.0.content\' is required, Unrecognized key(s) in object: \'text\'",'
        b'"type":"invalid_request","code":"invalid_union","param":"input"}}'
    )


def test_chat_images_need_a_vision_model(fake, client):
    image = {"type": "image", "data_url": "data:image/png;base64,iVBORw0KGgo="}
    refused = client.post(
        "/api/v1/chat",
        json={"model": "google/gemma-3-1b", "input": [{"type": "text", "content": "Describe"}, image]},
    )
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "input"
    fake.home.mark_downloaded("qwen/qwen2.5-vl-7b")
    ok = client.post(
        "/api/v1/chat",
        json={"model": "qwen/qwen2.5-vl-7b", "input": [{"type": "text", "content": "Describe"}, image]},
    )
    assert ok.status_code == 200


def test_chat_stateful_threads(client):
    first = client.post(
        "/api/v1/chat", json={"model": "google/gemma-3-1b", "input": "My favorite color is blue."}
    )
    first_id = first.json()["response_id"]
    second = client.post(
        "/api/v1/chat",
        json={
            "model": "google/gemma-3-1b",
            "input": "What color did I mention?",
            "previous_response_id": first_id,
        },
    ).json()
    assert second["response_id"] != first_id
    # the thread is part of the prompt: more input tokens than the question alone
    alone = client.post(
        "/api/v1/chat", json={"model": "google/gemma-3-1b", "input": "What color did I mention?"}
    )
    assert second["stats"]["input_tokens"] > alone.json()["stats"]["input_tokens"]
    # branching from the first response again works too
    branch = client.post(
        "/api/v1/chat",
        json={"model": "google/gemma-3-1b", "input": "Other question", "previous_response_id": first_id},
    )
    assert branch.status_code == 200


def test_chat_store_false_has_no_response_id(client):
    body = client.post(
        "/api/v1/chat", json={"model": "google/gemma-3-1b", "input": "x", "store": False}
    ).json()
    assert "response_id" not in body


@pytest.mark.parametrize("previous", ["abc_123", "resp_doesnotexist", 42])
def test_chat_bad_previous_response_id(client, previous):
    resp = client.post(
        "/api/v1/chat", json={"model": "google/gemma-3-1b", "input": "x", "previous_response_id": previous}
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["param"] == "previous_response_id"


def test_chat_system_prompt_and_max_output_tokens(client):
    with_system = client.post(
        "/api/v1/chat",
        json={
            "model": "google/gemma-3-1b",
            "input": "hi",
            "system_prompt": "Answer in rhymes.",
            "max_output_tokens": 4,
        },
    ).json()
    plain = client.post("/api/v1/chat", json={"model": "google/gemma-3-1b", "input": "hi"}).json()
    assert with_system["stats"]["input_tokens"] > plain["stats"]["input_tokens"]
    assert with_system["stats"]["total_output_tokens"] == 4


def test_chat_missing_fields_and_errors_are_v1_shaped(client):
    no_model = client.post("/api/v1/chat", json={"input": "x"})
    assert no_model.status_code == 400
    assert no_model.json()["error"] == {
        "message": '"model" is required',
        "type": "invalid_request",
        "code": "missing_required_parameter",
        "param": "model",
    }
    no_input = client.post("/api/v1/chat", json={"model": "google/gemma-3-1b"})
    assert no_input.json()["error"]["param"] == "input"
    unknown = client.post("/api/v1/chat", json={"model": "nope/nope", "input": "x"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["type"] == "model_not_found"
    embedding = client.post(
        "/api/v1/chat", json={"model": "text-embedding-nomic-embed-text-v1.5", "input": "x"}
    )
    assert embedding.status_code == 400 and embedding.json()["error"]["type"] == "invalid_request"
    integrations = client.post(
        "/api/v1/chat", json={"model": "google/gemma-3-1b", "input": "x", "integrations": ["mcp/playwright"]}
    )
    # an mcp.json plugin needs "Allow calling servers from mcp.json", off by default (0_core/mcp.mdx);
    # the MCP refusals have their own tests (tests/fake/api/test_mcp.py)
    assert integrations.status_code == 403 and integrations.json()["error"]["param"] == "integrations"


def test_chat_context_length_applies_to_the_load(fake, client):
    client.post("/api/v1/chat", json={"model": "google/gemma-3-1b", "input": "x", "context_length": 8000})
    inst = fake.home.find_instance("google/gemma-3-1b")
    assert inst is not None and inst.context_length == 8000 and inst.jit


def test_chat_stream_events_with_load(fake, client):
    fake.configure(load_seconds=0.05)
    resp = client.post("/api/v1/chat", json={"model": "qwen/qwen3-4b", "input": "Tell me", "stream": True})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    events = sse_events(resp)
    names = [name for name, _ in events]
    assert names[0] == "chat.start" and names[-1] == "chat.end"
    assert events[0][1] == {"type": "chat.start", "model_instance_id": "qwen/qwen3-4b"}
    compact = [n for i, n in enumerate(names) if i == 0 or n != names[i - 1]]  # collapse repeats
    assert compact == [
        "chat.start",
        "model_load.start",
        "model_load.progress",
        "model_load.end",
        "prompt_processing.start",
        "prompt_processing.progress",
        "prompt_processing.end",
        "reasoning.start",
        "reasoning.delta",
        "reasoning.end",
        "message.start",
        "message.delta",
        "message.end",
        "chat.end",
    ]
    progress = [d["progress"] for n, d in events if n == "model_load.progress"]
    assert progress == sorted(progress) and progress[-1] == 1.0
    load_end = next(d for n, d in events if n == "model_load.end")
    assert load_end["load_time_seconds"] >= 0.05
    result = events[-1][1]["result"]
    message = "".join(d["content"] for n, d in events if n == "message.delta")
    reasoning = "".join(d["content"] for n, d in events if n == "reasoning.delta")
    assert result["output"] == [
        {"type": "reasoning", "content": reasoning},
        {"type": "message", "content": message},
    ]
    assert result["stats"]["model_load_time_seconds"] >= 0.05
    assert result["response_id"].startswith("resp_")
    # second call: loaded already, so no model_load events and no load time
    again = sse_events(
        client.post("/api/v1/chat", json={"model": "qwen/qwen3-4b", "input": "x", "stream": True})
    )
    assert not [n for n, _ in again if n.startswith("model_load")]
    assert "model_load_time_seconds" not in again[-1][1]["result"]["stats"]


def test_chat_stream_without_reasoning(client):
    events = sse_events(
        client.post(
            "/api/v1/chat", json={"model": "google/gemma-3-1b", "input": "x", "stream": True, "store": False}
        )
    )
    names = {n for n, _ in events}
    assert not any(n.startswith("reasoning") for n in names)
    assert "response_id" not in events[-1][1]["result"]


def test_chat_context_length_above_model_max_rejected_before_loading(fake, client):
    resp = client.post(
        "/api/v1/chat", json={"model": "google/gemma-3-1b", "input": "x", "context_length": 10**6}
    )
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "context_length"
    assert fake.home.instances() == []


# -- scripted download failures and pauses (issue 14) -------------------------------------------


def test_a_scripted_failure_stops_the_download(fake, client):
    fake.fault("download_failed", model="openai/gpt-oss-20b", after=0.1, message="Disk is full")
    job = client.post("/api/v1/models/download", json={"model": "openai/gpt-oss-20b"}).json()
    assert job["status"] == "downloading"

    def status() -> dict[str, Any]:
        return client.get(f"/api/v1/models/download/status/{job['job_id']}").json()

    assert wait_for(lambda: status()["status"] == "failed")
    failed = status()
    assert list(failed) == ["job_id", "status", "total_size_bytes", "downloaded_bytes", "started_at", "error"]
    assert failed["error"] == "Disk is full"
    assert 0 < failed["downloaded_bytes"] < failed["total_size_bytes"]
    assert failed["downloaded_bytes"] == pytest.approx(failed["total_size_bytes"] * 0.1 / 0.5, rel=0.01)
    time.sleep(0.6)  # past the time the download would have taken: it stays failed
    again = client.get(f"/api/v1/models/download/status/{job['job_id']}").json()
    assert again == failed
    assert not fake.home.is_downloaded("openai/gpt-oss-20b")
    assert "openai/gpt-oss-20b" not in models(client)
    (record,) = [r for r in fake.requests if r.path == "/api/v1/models/download"]
    assert record.faults == ["download_failed"]
    # the fault acted once: asking again starts a new job, which completes
    retry = client.post("/api/v1/models/download", json={"model": "openai/gpt-oss-20b"}).json()
    assert retry["job_id"] != job["job_id"] and retry["status"] == "downloading"
    assert wait_for(lambda: fake.home.is_downloaded("openai/gpt-oss-20b"))


def test_a_scripted_pause_and_the_default_failure_text(fake, client):
    fake.fault("download_paused")
    job = client.post("/api/v1/models/download", json={"model": "qwen/qwen2.5-vl-7b"}).json()
    assert job["status"] == "paused" and job["downloaded_bytes"] == 0 and "error" not in job
    time.sleep(0.6)
    assert client.get(f"/api/v1/models/download/status/{job['job_id']}").json()["status"] == "paused"
    assert not fake.home.is_downloaded("qwen/qwen2.5-vl-7b")
    fake.fault("download_failed")
    job = client.post("/api/v1/models/download", json={"model": "qwen/qwen2.5-vl-7b"}).json()
    assert job["status"] == "failed" and job["error"].startswith("The download failed")


def test_a_download_fault_for_another_model_does_not_act(fake, client):
    fake.fault("download_failed", model="openai/gpt-oss-20b")
    job = client.post("/api/v1/models/download", json={"model": "qwen/qwen2.5-vl-7b"}).json()
    assert job["status"] == "downloading"
    assert wait_for(lambda: fake.home.is_downloaded("qwen/qwen2.5-vl-7b"))
    job = client.post("/api/v1/models/download", json={"model": "openai/gpt-oss-20b"}).json()
    assert job["status"] == "failed"


def test_download_faults_through_the_control_api(fake, client):
    from fake_lms.scripting.remote import ControlClient

    control = ControlClient(fake.url)
    rule = control.fault("download_paused", model="openai/gpt-oss-20b", after=0.05)
    assert rule["kind"] == "download_paused"
    job = client.post("/api/v1/models/download", json={"model": "openai/gpt-oss-20b"}).json()
    assert wait_for(
        lambda: client.get(f"/api/v1/models/download/status/{job['job_id']}").json()["status"] == "paused"
    )
    with pytest.raises(Exception, match="unknown parameter"):
        control.fault("download_failed", seconds=1)
