"""LM Studio-shaped bodies (from spec/lmstudio-surface.md) and helpers shared by the client tests."""

from __future__ import annotations

import json
import socket
from typing import Any

from pytest_httpserver import HTTPServer

from pytest_lmstudio.client import AsyncLMStudioClient, LMStudioClient
from pytest_lmstudio.client.config import ClientConfig

V1_MODELS = {
    "data": [
        {"id": "qwen/qwen3-4b", "object": "model", "owned_by": "organization_owner"},
        {"id": "text-embedding-nomic-embed-text-v1.5", "object": "model", "owned_by": "organization_owner"},
    ],
    "object": "list",
}

V0_MODELS = {
    "data": [
        {
            "id": "google/gemma-3-4b",
            "object": "model",
            "type": "vlm",
            "publisher": "google",
            "arch": "gemma3",
            "compatibility_type": "gguf",
            "quantization": "Q4_K_M",
            "state": "loaded",
            "max_context_length": 131072,
            "loaded_context_length": 12918,
            "capabilities": ["tool_use"],
        },
        {
            "id": "text-embedding-nomic-embed-text-v1.5",
            "object": "model",
            "type": "embeddings",
            "publisher": "nomic-ai",
            "arch": "nomic-bert",
            "compatibility_type": "gguf",
            "quantization": "Q4_0",
            "state": "not-loaded",
            "max_context_length": 2048,
        },
    ],
    "object": "list",
}

NATIVE_MODELS = {
    "models": [
        {
            "type": "llm",
            "publisher": "google",
            "key": "google/gemma-4-26b-a4b",
            "display_name": "Gemma 4 26B A4B",
            "architecture": "gemma4",
            "quantization": {"name": "Q4_K_M", "bits_per_weight": 4},
            "size_bytes": 17990000000,
            "params_string": "26B-A4B",
            "loaded_instances": [
                {
                    "id": "google/gemma-4-26b-a4b",
                    "config": {
                        "context_length": 4096,
                        "eval_batch_size": 512,
                        "parallel": 4,
                        "flash_attention": True,
                        "num_experts": 8,
                        "offload_kv_cache_to_gpu": True,
                    },
                },
                {"id": "google/gemma-4-26b-a4b:2", "config": {"context_length": 8192}},
            ],
            "max_context_length": 262144,
            "format": "gguf",
            "capabilities": {"vision": True, "trained_for_tool_use": True},
            "description": None,
            "variants": ["google/gemma-4-26b-a4b@q4_k_m"],
            "selected_variant": "google/gemma-4-26b-a4b@q4_k_m",
        },
        {
            "type": "embedding",
            "publisher": "gaianet",
            "key": "text-embedding-nomic-embed-text-v1.5-embedding",
            "display_name": "Nomic Embed Text v1.5",
            "quantization": {"name": "F16", "bits_per_weight": 16},
            "size_bytes": 274290560,
            "params_string": None,
            "loaded_instances": [],
            "max_context_length": 2048,
            "format": "gguf",
        },
    ]
}

CHAT = {
    "id": "chatcmpl-0y6dbfrovvc94gvie5mdry1",
    "object": "chat.completion",
    "created": 1786978904,
    "model": "google/gemma-4-e4b",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Hello! How can I help you today?",
                "reasoning_content": "",
                "tool_calls": [],
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 10,
        "completion_tokens": 10,
        "total_tokens": 20,
        "completion_tokens_details": {"reasoning_tokens": 0},
    },
    "stats": {},
    "system_fingerprint": "google/gemma-4-e4b",
}

TOOL_CHAT = {
    "id": "chatcmpl-gb1t1uqzefudice8ntxd9i",
    "object": "chat.completion",
    "created": 1730913210,
    "model": "lmstudio-community/qwen2.5-7b-instruct",
    "choices": [
        {
            "index": 0,
            "logprobs": None,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "365174485",
                        "type": "function",
                        "function": {
                            "name": "search_products",
                            "arguments": '{"query":"dell","category":"electronics","max_price":50}',
                        },
                    }
                ],
            },
        }
    ],
    "usage": {"prompt_tokens": 263, "completion_tokens": 34, "total_tokens": 297},
    "system_fingerprint": "lmstudio-community/qwen2.5-7b-instruct",
}

SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search_products",
        "description": "Search the catalog",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    },
}

COMPLETION = {
    "id": "cmpl-p9rtxv6fky2v9k8jrd8cc",
    "object": "text_completion",
    "created": 1731990488,
    "model": "granite-3.0-2b-instruct",
    "choices": [
        {
            "index": 0,
            "text": " to find your purpose, and once you have",
            "logprobs": None,
            "finish_reason": "length",
        }
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14},
}

EMBEDDINGS = {
    "object": "list",
    "data": [
        {"object": "embedding", "embedding": [0.25, -0.5, 0.125], "index": 1},
        {"object": "embedding", "embedding": [-0.0167, 0.0284, 0.5], "index": 0},
    ],
    "model": "text-embedding-nomic-embed-text-v1.5@q4_k_m",
    "usage": {"prompt_tokens": 0, "total_tokens": 0},
}

RESPONSE = {
    "id": "resp_0182bd7c479d7451f9a35471f9c26b34de87a7255856b9a4",
    "object": "response",
    "created_at": 1759000000,
    "status": "completed",
    "model": "openai/gpt-oss-20b",
    "output": [
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [],
            "content": [{"type": "reasoning_text", "text": "hm"}],
        },
        {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "status": "completed",
            "content": [
                {"type": "output_text", "text": "Hello ", "annotations": []},
                {"type": "output_text", "text": "there.", "annotations": []},
            ],
        },
    ],
    "usage": {"input_tokens": 12, "output_tokens": 4, "total_tokens": 16},
}

LOAD = {
    "type": "llm",
    "instance_id": "openai/gpt-oss-20b",
    "load_time_seconds": 9.099,
    "status": "loaded",
    "load_config": {
        "context_length": 16384,
        "eval_batch_size": 512,
        "flash_attention": True,
        "offload_kv_cache_to_gpu": True,
        "num_experts": 4,
    },
}

UNAUTHORIZED_401 = {
    "error": {
        "type": "invalid_request",
        "code": "invalid_api_key",
        "message": "An LM Studio API token is required to make requests to this server, but none was provided"
        " using the Authorization header using the 'Bearer' scheme (i.e., 'Authorization: Bearer"
        " $LM_API_TOKEN'). Learn more at: https://lmstudio.ai/docs/developer/core/authentication.",
    }
}

MODEL_NOT_FOUND_400 = {
    "error": {
        "message": 'Invalid model identifier "o4-mini". Please specify a valid downloaded model (e.g.,'
        " qwen/qwen3-4b, google/gemma-3-1b, text-embedding-nomic-embed-text-v1.5).",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }
}

NO_MODELS_MESSAGE = (
    "No models loaded. Please load a model in the developer page or use the 'lms load' command."
)
NO_MODELS_LOADED_OAI = {
    "error": {"message": NO_MODELS_MESSAGE, "type": "invalid_request_error", "param": "model", "code": None}
}
NO_MODELS_LOADED_STRING = {"error": NO_MODELS_MESSAGE}

TOKEN = "sk-lm-Ab3dEf7h:Qr5tUv9wXy1zAb3dEf7hIj"


def unexpected(method: str, path: str) -> dict[str, str]:
    return {"error": f"Unexpected endpoint or method. ({method} {path})"}


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-um3b2l9t12bzrtha63q8",
        "object": "chat.completion.chunk",
        "created": 1747835957,
        "model": "qwen/qwen3-4b",
        "system_fingerprint": "qwen/qwen3-4b",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **extra,
    }


def sse(*frames: Any, done: bool = True) -> str:
    """SSE body: one ``data:`` frame per item (dicts are JSON-encoded), then ``[DONE]``."""
    parts = [f"data: {f if isinstance(f, str) else json.dumps(f, separators=(',', ':'))}\n\n" for f in frames]
    if done:
        parts.append("data: [DONE]\n\n")
    return "".join(parts)


USAGE_CHUNK = {
    "id": "chatcmpl-um3b2l9t12bzrtha63q8",
    "object": "chat.completion.chunk",
    "created": 1747835957,
    "model": "qwen/qwen3-4b",
    "system_fingerprint": "qwen/qwen3-4b",
    "choices": [],
    "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
}

TEXT_STREAM = sse(
    chunk({"role": "assistant", "content": "Hel"}),
    chunk({"role": "assistant", "content": "lo"}),
    chunk({"role": "assistant", "content": "!"}),
    chunk({}, "stop"),
    USAGE_CHUNK,
)

TOOL_STREAM = sse(
    chunk(
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "index": 0,
                    "id": "814890118",
                    "type": "function",
                    "function": {"name": "get_current_weather", "arguments": ""},
                }
            ],
        }
    ),
    *[
        chunk(
            {"role": "assistant", "tool_calls": [{"index": 0, "function": {"name": "", "arguments": piece}}]}
        )
        for piece in ['{"', "location", '":"', "San Francisco", '"}']
    ],
    chunk({}, "tool_calls"),
)


def root(httpserver: HTTPServer) -> str:
    return f"http://{httpserver.host}:{httpserver.port}"


def client(httpserver: HTTPServer | str, **kw: Any) -> LMStudioClient:
    """A sync client that ignores the environment (no API key unless given)."""
    url = httpserver if isinstance(httpserver, str) else root(httpserver)
    return LMStudioClient(config=ClientConfig(base_url=url), **kw)


def aclient(httpserver: HTTPServer | str, **kw: Any) -> AsyncLMStudioClient:
    url = httpserver if isinstance(httpserver, str) else root(httpserver)
    return AsyncLMStudioClient(config=ClientConfig(base_url=url), **kw)


def closed_port_url() -> str:
    """A loopback URL where nothing listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
