"""Wire details that real clients depend on, asserted over raw HTTP so that CI (which installs none
of those clients) still guards them. Each test names the client that would notice.

Also codex's HTTP calls (clients.md §8) replayed exactly: codex is Rust, so a replay is the only way
to test it from Python. The Python clients themselves are exercised in
``tests/test_third_party_clients.py`` (skipped unless they are installed).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fake_lms import FakeLMStudio
from fake_lms.cli.launcher import install_lms

QWEN = "qwen/qwen3-4b"
OSS = "openai/gpt-oss-20b"


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeLMStudio]:
    with FakeLMStudio(home=tmp_path / "home") as server:
        yield server


# --------------------------------------------------------------------------------------------
# the status line: Express's reason phrases


CHAT = {"model": QWEN, "messages": [{"role": "user", "content": "x"}]}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "phrase"),
    [
        ("GET", "/v1/models", None, 200, "OK"),
        ("POST", "/v1/chat/completions", {**CHAT, "model": "nope"}, 400, "Bad Request"),
        ("GET", "/api/v0/models/nope", None, 404, "Not Found"),
        ("POST", "/v1/chat/completions", {**CHAT, "stream": True}, 200, "OK"),
    ],
)
def test_status_line_uses_express_reason_phrases(
    fake: FakeLMStudio, method: str, path: str, body: Any, status: int, phrase: str
) -> None:
    """LM Studio (Express on Node) answers ``HTTP/1.1 400 Bad Request``; werkzeug's own wording is
    ``400 BAD REQUEST``. Clients show the phrase: llama-index-llms-lmstudio raises httpx's
    ``Client error '400 Bad Request' for url ...`` and llm-lmstudio wraps requests'
    ``400 Client Error: Bad Request for url: ...``."""
    r = httpx.request(method, fake.url + path, json=body, timeout=10)
    assert r.status_code == status
    assert r.reason_phrase == phrase


def test_status_line_for_a_401(tmp_path: Path) -> None:
    with FakeLMStudio(home=tmp_path / "home", require_auth=True) as fake:
        r = httpx.get(fake.base_url + "/models", timeout=10)
    assert (r.status_code, r.reason_phrase) == (401, "Unauthorized")


# --------------------------------------------------------------------------------------------
# codex-rs/lmstudio (clients.md §8): the exact calls, and what its parsers need

# codex's provider has no env_key: no Authorization header; reqwest sends these
CODEX_HEADERS = {"content-type": "application/json", "accept": "text/event-stream"}
SHELL_TOOL = {
    "type": "function",
    "name": "shell",
    "description": "Runs a shell command and returns its output.",
    "strict": False,
    "parameters": {
        "type": "object",
        "properties": {
            "command": {
                "type": "array",
                "items": {"type": "string"},
                "description": "The command to execute",
            },
            "workdir": {"type": "string", "description": "The working directory"},
            "timeout_ms": {"type": "number", "description": "The timeout for the command in milliseconds"},
        },
        "required": ["command"],
        "additionalProperties": False,
    },
}


def _user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


CONTEXT = [
    {
        "type": "message",
        "role": "developer",
        "content": [
            {"type": "input_text", "text": "<permissions instructions>read-only</permissions instructions>"}
        ],
    },
    _user("<environment_context>\n  <cwd>/work</cwd>\n  <shell>bash</shell>\n</environment_context>"),
]


def _turn_body(model: str, items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """``ResponsesApiRequest`` as codex serialises it (``codex-api/src/common.rs``): ``reasoning``
    is always present (``null`` when unset), ``text`` and ``previous_response_id`` only when set."""
    body = {
        "model": model,
        "instructions": "You are Codex, a coding agent running in a terminal.",
        "input": items,
        "tools": [SHELL_TOOL],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "reasoning": None,
        "store": False,
        "stream": True,
        "include": [],
        "prompt_cache_key": "0199f3c2-5b1e-7d40-9a61-2c8e4b7f1a3d",
    }
    body.update(extra)
    return body


def _codex_stream(base: str, body: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    """POST {base}/responses and parse the SSE the way codex's eventsource parser does."""
    events: list[tuple[str | None, dict[str, Any]]] = []
    with httpx.stream(
        "POST", base + "/responses", content=json.dumps(body), headers=CODEX_HEADERS, timeout=10
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        name: str | None = None
        for line in r.iter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                events.append((name, json.loads(line[5:])))
            elif not line:
                name = None
    return events


def _check_completed(events: list[tuple[str | None, dict[str, Any]]]) -> dict[str, Any]:
    """codex fails with "stream closed before response.completed" without it; its usage must hold
    integers (``ResponseCompletedUsage``)."""
    for name, data in events:
        assert name == data["type"]  # the `event:` line names the data's type
    assert events[0][1]["type"] == "response.created"
    done = [d for _, d in events if d["type"] == "response.completed"]
    assert len(done) == 1 and events[-1][1] is done[0]
    response = done[0]["response"]
    assert isinstance(response["id"], str) and response["id"]
    usage = response["usage"]
    for key in ("input_tokens", "output_tokens", "total_tokens"):
        assert type(usage[key]) is int
    assert type(usage["input_tokens_details"]["cached_tokens"]) is int
    assert type(usage["output_tokens_details"]["reasoning_tokens"]) is int
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    return response


def _items_done(events: list[tuple[str | None, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [d["item"] for _, d in events if d["type"] == "response.output_item.done"]


def _answer_items(events: list[tuple[str | None, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The items after qwen3's reasoning item: a reasoning model reasons by default (fidelity
    review §2 row 7) and LM Studio's Responses stream carries it first (earendil-works/pi#4191)."""
    reasoning, *rest = _items_done(events)
    assert reasoning["type"] == "reasoning"
    return rest


def test_codex_check_server_and_fetch_models(fake: FakeLMStudio) -> None:
    r = httpx.get(fake.base_url + "/models", timeout=5)  # check_server: any 2xx
    assert 200 <= r.status_code < 300
    data = r.json()["data"]  # fetch_models: json["data"] must be an array of {"id": str}
    assert isinstance(data, list)
    assert QWEN in [m["id"] for m in data]
    assert OSS not in [m["id"] for m in data]  # codex will run `lms get --yes openai/gpt-oss-20b`


def test_codex_downloads_with_lms_get_then_warms_up_and_streams_a_turn(
    fake: FakeLMStudio, tmp_path: Path
) -> None:
    # download: `lms get --yes <model>` found on PATH, stdin null, stdout inherited, stderr null
    lms = install_lms(tmp_path / "bin")
    env = {
        **os.environ,
        "LMS_FAKE_HOME": str(fake.home.path),
        "PATH": f"{lms.parent}{os.pathsep}{os.environ['PATH']}",
    }
    done = subprocess.run(
        ["lms", "get", "--yes", OSS],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0
    assert OSS in [m["id"] for m in httpx.get(fake.base_url + "/models", timeout=5).json()["data"]]

    # "load": the warm-up request; only the status matters, and `input` is an empty string
    r = httpx.post(
        fake.base_url + "/responses",
        content=json.dumps({"model": OSS, "input": "", "max_output_tokens": 1}),
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert r.status_code == 200

    # a turn with reasoning, as codex sends it for gpt-oss
    events = _codex_stream(
        fake.base_url,
        _turn_body(OSS, [*CONTEXT, _user("say hello")], reasoning={"effort": "medium", "summary": "auto"}),
    )
    response = _check_completed(events)
    assert response["usage"]["output_tokens_details"]["reasoning_tokens"] > 0
    text = "".join(d["delta"] for _, d in events if d["type"] == "response.output_text.delta")
    items = _items_done(events)
    reasoning = [i for i in items if i["type"] == "reasoning"]
    assert reasoning and reasoning[0]["content"][0]["type"] == "reasoning_text"
    (message,) = [i for i in items if i["type"] == "message"]
    assert message["role"] == "assistant"
    assert message["content"][0]["type"] == "output_text" and message["content"][0]["text"] == text
    assert "say hello" in text
    # the request was taken as sent: no auth header needed, store:false/include/prompt_cache_key ignored
    turn = fake.requests[-1]
    assert "authorization" not in turn.headers
    assert turn.json["store"] is False and turn.json["include"] == []
    # store:false keeps nothing to chain from
    follow = _turn_body(OSS, [_user("again")], previous_response_id=response["id"])
    r = httpx.post(fake.base_url + "/responses", json=follow, timeout=10)
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "previous_response_id"


def test_codex_tool_round_trip(fake: FakeLMStudio) -> None:
    ask = _user("run the shell command ls")
    events = _codex_stream(fake.base_url, _turn_body(QWEN, [*CONTEXT, ask]))
    _check_completed(events)
    (call,) = _answer_items(events)
    assert call["type"] == "function_call" and call["name"] == "shell"
    assert isinstance(call["call_id"], str) and call["call_id"]
    assert isinstance(json.loads(call["arguments"])["command"], list)
    deltas = "".join(d["delta"] for _, d in events if d["type"] == "response.function_call_arguments.delta")
    assert deltas == call["arguments"]

    # codex resends the history: the call (no id) and its output
    history = [
        *CONTEXT,
        ask,
        {
            "type": "function_call",
            "name": call["name"],
            "arguments": call["arguments"],
            "call_id": call["call_id"],
        },
        {"type": "function_call_output", "call_id": call["call_id"], "output": "README.md\nsrc"},
    ]
    events = _codex_stream(fake.base_url, _turn_body(QWEN, history))
    _check_completed(events)
    (message,) = _answer_items(events)
    assert message["type"] == "message"
    assert "README.md" in message["content"][0]["text"]


def test_codex_output_schema(fake: FakeLMStudio) -> None:
    schema = {
        "type": "object",
        "properties": {
            "summary": {"type": "string"},
            "files": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["summary", "files"],
        "additionalProperties": False,
    }
    text_format = {
        "format": {"type": "json_schema", "strict": True, "schema": schema, "name": "codex_output_schema"}
    }
    events = _codex_stream(
        fake.base_url, _turn_body(QWEN, [_user("summarise the repo")], tools=[], text=text_format)
    )
    _check_completed(events)
    (message,) = _answer_items(events)
    out = json.loads(message["content"][0]["text"])
    assert set(out) == {"summary", "files"} and isinstance(out["files"], list)
