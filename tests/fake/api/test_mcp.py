"""MCP through the API (issue 14 item 6): scripted MCP tools on ``/api/v1/chat`` (``integrations``)
and ``/v1/responses`` (``{"type": "mcp"}`` tools), and LM Studio's refusals, over real HTTP and
with the real ``openai`` client. Sources: docs ``0_core/mcp.mdx``, ``2_rest/chat.md``,
``2_rest/streaming-events.md``, ``3_openai-compat/responses.md``, ``0_server/settings.md``;
bug-tracker #1168, #1073, #1993, #2000, #2027, #2161; choices in docs/fidelity.md ("MCP")."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from fake_lms import FakeLMStudio

MODEL = "google/gemma-3-1b"
TOKEN = "sk-lm-abcdEFGH:abcdefghijKLMNOPQRST"
HF = {
    "type": "ephemeral_mcp",
    "server_label": "huggingface",
    "server_url": "https://huggingface.co/mcp",
    "allowed_tools": ["model_search"],
}  # the ephemeral server of mcp.mdx's example
SEARCH_OUTPUT = '[{"type":"text","text":"Showing first 1 models..."}]'  # streaming-events.md


@pytest.fixture
def fake(tmp_path):
    with FakeLMStudio(home=tmp_path / "home", api_tokens=[TOKEN]) as server:
        yield server


@pytest.fixture
def client(fake):
    with httpx.Client(base_url=fake.url, timeout=10, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c


def chat(client: httpx.Client, integrations: list[Any], **body: Any) -> httpx.Response:
    return client.post(
        "/api/v1/chat",
        json={"model": MODEL, "input": "top trending model?", "integrations": integrations, **body},
    )


def sse(resp: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in resp.text.split("\n\n"):
        if block.strip():
            event, data = block.split("\n")[:2]
            out.append((event.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


# -- /api/v1/chat: tool calls -------------------------------------------------------------------


def test_ephemeral_server_tool_call_then_message(fake, client):
    # mcp.mdx: with "Allow per-request MCPs" on, the model calls the server's tools; the output
    # holds a tool_call item (tool, arguments object, output string, provider_info), then the message
    fake.configure(allow_per_request_mcps=True)
    fake.mcp_tool("huggingface", "model_search", {"sort": "trendingScore", "limit": 1}, output=SEARCH_OUTPUT)
    fake.reply("The top trending model is deepseek-ai/DeepSeek-OCR.")
    body = chat(client, [HF]).json()
    assert body["output"] == [
        {
            "type": "tool_call",
            "tool": "model_search",
            "arguments": {"sort": "trendingScore", "limit": 1},
            "output": SEARCH_OUTPUT,
            "provider_info": {"server_label": "huggingface", "type": "ephemeral_mcp"},
        },
        {"type": "message", "content": "The top trending model is deepseek-ai/DeepSeek-OCR."},
    ]
    assert body["response_id"].startswith("resp_") and body["stats"]["input_tokens"] > 0
    assert fake.requests[-1].scripted


def test_mcp_json_plugin_needs_the_setting_and_authentication(tmp_path):
    # mcp.mdx / authentication.mdx: "mcp/playwright" from mcp.json needs "Allow calling servers from
    # mcp.json", which LM Studio honours only with "Require Authentication" on; chat.md: the call's
    # provider_info is {"plugin_id", "type": "plugin"}
    with FakeLMStudio(home=tmp_path / "h", api_tokens=[TOKEN], allow_mcp_json=True) as fake:
        fake.mcp_tool("mcp/playwright", "browser_navigate", {"url": "https://lmstudio.ai"}, output="<page>")
        with httpx.Client(base_url=fake.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            refused = chat(client, ["mcp/playwright"])
            assert refused.status_code == 403  # authentication off: the setting has no effect
            assert refused.json()["error"]["message"].startswith(
                "Permission denied to use plugin 'mcp/playwright'."
            )
            fake.configure(require_auth=True)
            body = chat(
                client, [{"type": "plugin", "id": "mcp/playwright", "allowed_tools": ["browser_navigate"]}]
            )
        assert body.status_code == 200, body.text
        call, message = body.json()["output"]
        assert call == {
            "type": "tool_call",
            "tool": "browser_navigate",
            "arguments": {"url": "https://lmstudio.ai"},
            "output": "<page>",
            "provider_info": {"plugin_id": "mcp/playwright", "type": "plugin"},
        }
        assert message["type"] == "message" and message["content"]


def test_several_calls_in_registration_order_and_allowed_tools(fake, client):
    # chat.md's example: calls of two servers in one answer; mcp.mdx: allowed_tools limits the
    # tools the model may call (a left-out tool is never called, and its rule stays unused)
    fake.configure(allow_per_request_mcps=True, allow_mcp_json=True, require_auth=True)
    fake.mcp_tool("huggingface", "model_search", {"limit": 1}, output="hits")
    fake.mcp_tool("mcp/playwright", "browser_navigate", {"url": "https://hf.co/x"}, output="page")
    fake.mcp_tool("mcp/playwright", "browser_close", output="closed")
    plugin = {"type": "plugin", "id": "mcp/playwright", "allowed_tools": ["browser_navigate"]}
    output = chat(client, [HF, plugin]).json()["output"]
    assert [(o["type"], o.get("tool")) for o in output] == [
        ("tool_call", "model_search"),
        ("tool_call", "browser_navigate"),
        ("message", None),
    ]
    assert [rule.used for rule in fake.rules] == [1, 1, 0]
    assert [rule.op for rule in fake.unused_rules()] == ["mcp"]


def test_match_and_times_choose_the_requests_that_call(fake, client):
    fake.configure(allow_per_request_mcps=True)
    fake.mcp_tool("huggingface", "model_search", output="once", match="trending", times=1)
    first = chat(client, [HF]).json()["output"]
    second = chat(client, [HF]).json()["output"]  # the server is still declared: reachable, no call
    other = chat(client, [HF], input="something else").json()["output"]
    assert [o["type"] for o in first] == ["tool_call", "message"]
    assert [o["type"] for o in second] == [o["type"] for o in other] == ["message"]


def test_invalid_calls_are_invalid_tool_call_items(fake, client):
    # chat.md / streaming-events.md: invalid_tool_call {reason, metadata {type, tool_name,
    # arguments?, provider_info?}}, arguments and provider only for invalid arguments
    fake.configure(allow_per_request_mcps=True)
    fake.mcp_tool("huggingface", "open_browser", fail="invalid_name")
    fake.mcp_tool(
        "huggingface", "model_search", {"limit": "x"}, fail="invalid_arguments", reason="limit: not a number"
    )
    output = chat(client, [HF]).json()["output"]
    assert output[0] == {
        "type": "invalid_tool_call",
        "reason": "Cannot find tool with name open_browser.",
        "metadata": {"type": "invalid_name", "tool_name": "open_browser"},
    }
    assert output[1] == {
        "type": "invalid_tool_call",
        "reason": "limit: not a number",
        "metadata": {
            "type": "invalid_arguments",
            "tool_name": "model_search",
            "arguments": {"limit": "x"},
            "provider_info": {"server_label": "huggingface", "type": "ephemeral_mcp"},
        },
    }
    assert output[2]["type"] == "message"


def test_streamed_tool_call_events(fake, client):
    # streaming-events.md: tool_call.start {tool, provider_info}, tool_call.arguments {tool,
    # arguments, provider_info}, tool_call.success {tool, arguments, output, provider_info};
    # tool_call.failure {reason, metadata}; chat.end's result is the non-streamed body
    fake.configure(allow_per_request_mcps=True)
    fake.mcp_tool("huggingface", "model_search", {"sort": "trendingScore", "limit": 1}, output=SEARCH_OUTPUT)
    fake.mcp_tool("huggingface", "open_browser", fail="invalid_name")
    events = sse(chat(client, [HF], stream=True))
    names = [name for name, _ in events]
    start = names.index("tool_call.start")
    assert names[start : start + 4] == [
        "tool_call.start",
        "tool_call.arguments",
        "tool_call.success",
        "tool_call.failure",
    ]
    assert names.index("prompt_processing.end") < start < names.index("message.start")
    info = {"type": "ephemeral_mcp", "server_label": "huggingface"}
    by_name = dict(events)
    assert by_name["tool_call.start"] == {
        "type": "tool_call.start",
        "tool": "model_search",
        "provider_info": info,
    }
    assert by_name["tool_call.arguments"]["arguments"] == {"sort": "trendingScore", "limit": 1}
    assert by_name["tool_call.success"]["output"] == SEARCH_OUTPUT
    assert by_name["tool_call.failure"] == {
        "type": "tool_call.failure",
        "reason": "Cannot find tool with name open_browser.",
        "metadata": {"type": "invalid_name", "tool_name": "open_browser"},
    }
    result = by_name["chat.end"]["result"]
    assert [o["type"] for o in result["output"]] == ["tool_call", "invalid_tool_call", "message"]


# -- /api/v1/chat: refusals ---------------------------------------------------------------------


def test_per_request_mcps_off_by_default_is_permission_denied(fake, client):
    # 0_server/settings.md: "Allow Per Request Remote MCPs" is a switch, off unless enabled; the
    # refusal is a 403 invalid_request on "integrations" with code null, like the plugin one
    fake.mcp_tool("huggingface", "model_search", optional=True)
    resp = chat(client, [HF])
    assert resp.status_code == 403
    error = resp.json()["error"]
    assert error["type"] == "invalid_request" and error["param"] == "integrations" and error["code"] is None
    assert error["message"].startswith("Permission denied to use remote MCP server 'huggingface'.")
    assert fake.home.instances() == []  # refused before the model: nothing JIT-loaded


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:21776/sse",  # bug-tracker #1993
        "http://127.0.0.1:8888/",  # bug-tracker #2000
        "http://192.168.1.110:8770",  # bug-tracker #2027 and a measured LAN address
        "http://10.0.0.5/mcp",
        "http://[::1]:8000/mcp",
        "http://169.254.1.1/mcp",
        "http://100.64.0.1/mcp",  # carrier-grade NAT: not public either
        "http://mybox:8770/sse",  # a bare host name resolves only locally
        "http://printer.local/mcp",
    ],
)
def test_non_public_ephemeral_urls_are_refused_even_when_scripted(fake, client, url):
    # LM Studio 0.4.15+: "URL resolves to a non-public address. We only allow public addresses for
    # dynamic remote MCP connections." as mcp_connection_error on "integrations" (bug-tracker #1993,
    # #2161; a third-party measurement of seven local forms, all refused)
    fake.configure(allow_per_request_mcps=True)
    fake.mcp_tool("local", "run", optional=True)
    resp = chat(client, [{"type": "ephemeral_mcp", "server_label": "local", "server_url": url}])
    assert resp.status_code == 400
    assert resp.json()["error"] == {
        "message": f"Unable to connect to remote MCP server 'local' at url '{url}'. URL resolves to a "
        "non-public address. We only allow public addresses for dynamic remote MCP connections.",
        "type": "mcp_connection_error",
        "param": "integrations",
    }


def test_unscripted_servers_are_unreachable(fake, client):
    # streaming-events.md lists mcp_connection_error and plugin_connection_error; the fake connects
    # nowhere, so a server the test did not declare fails to connect (docs/fidelity.md)
    fake.configure(allow_per_request_mcps=True, allow_mcp_json=True, require_auth=True)
    remote = chat(client, [{**HF, "server_label": "exa", "server_url": "https://mcp.exa.ai/mcp"}])
    assert remote.status_code == 400 and remote.json()["error"]["type"] == "mcp_connection_error"
    assert "'exa' at url 'https://mcp.exa.ai/mcp'" in remote.json()["error"]["message"]
    plugin = chat(client, ["mcp/weather"])
    assert plugin.status_code == 400 and plugin.json()["error"]["type"] == "plugin_connection_error"
    # bug-tracker #2161 / a third-party report: a plugin id that is not owner/name is refused
    bare = chat(client, ["weather"])
    assert bare.json()["error"]["type"] == "plugin_connection_error"
    assert "Expected 'owner/name'" in bare.json()["error"]["message"]


def test_integration_items_are_validated(fake, client):
    # chat.md: an ephemeral server needs server_label and server_url; the wording follows the
    # zod messages LM Studio gives for input items (vrgamegirl19 issue #119)
    resp = chat(client, [{"type": "ephemeral_mcp", "server_label": "x", "url": "https://a.b"}])
    assert resp.status_code == 400
    assert resp.json()["error"] == {
        "message": "'integrations.0.server_url' is required, Unrecognized key(s) in object: 'url'",
        "type": "invalid_request",
        "code": "invalid_union",
        "param": "integrations",
    }
    assert chat(client, [{"type": "mcp", "server_label": "x"}]).json()["error"]["code"] == "invalid_union"
    assert chat(client, "mcp/x").json()["error"]["param"] == "integrations"  # type: ignore[arg-type]


def test_headers_never_reach_the_request_log(fake, client):
    fake.configure(allow_per_request_mcps=True)
    fake.mcp_tool("huggingface", "model_search", output="ok")
    secret = "Bearer hf_SUPERSECRETTOKEN"
    assert chat(client, [{**HF, "headers": {"Authorization": secret}}]).status_code == 200
    log = (fake.home.request_log_file).read_text()
    assert "SUPERSECRET" not in log


# -- /v1/responses ------------------------------------------------------------------------------


EXA = {
    "type": "mcp",
    "server_label": "exa",
    "server_url": "https://mcp.exa.ai/mcp",
    "allowed_tools": ["web_search_exa"],
}


def test_responses_mcp_tool_with_the_openai_client(fake):
    # responses.md: remote MCP tools on /v1/responses (opt-in setting); the items are OpenAI's
    # mcp_call (what LM Studio emits is unconfirmed: docs/fidelity.md)
    fake.configure(allow_per_request_mcps=True)
    fake.mcp_tool(
        "exa", "web_search_exa", {"query": "lmstudio.ai header"}, output="Local AI, on Your Computer"
    )
    fake.reply("The main header is 'Local AI, on Your Computer'.")
    client = openai.OpenAI(base_url=fake.base_url, api_key=TOKEN, max_retries=0)
    r = client.responses.create(model=MODEL, input="What is the main header on lmstudio.ai?", tools=[EXA])
    call, message = r.output
    assert message.type == "message"
    assert call.type == "mcp_call" and call.server_label == "exa" and call.name == "web_search_exa"
    assert json.loads(call.arguments) == {"query": "lmstudio.ai header"}
    assert call.output == "Local AI, on Your Computer" and call.error is None and call.status == "completed"
    assert r.output_text == "The main header is 'Local AI, on Your Computer'."


def test_responses_mcp_stream_events_with_the_openai_client(fake):
    fake.configure(allow_per_request_mcps=True)
    fake.mcp_tool("exa", "web_search_exa", {"query": "q"}, output="found")
    fake.mcp_tool("exa", "open_browser", fail="invalid_name")
    client = openai.OpenAI(base_url=fake.base_url, api_key=TOKEN, max_retries=0)
    events = list(client.responses.create(model=MODEL, input="search", tools=[EXA], stream=True))
    kinds = [e.type for e in events]
    first = kinds.index("response.mcp_call_arguments.delta")
    assert kinds[first - 1] == "response.output_item.added"
    assert kinds.index("response.mcp_call_arguments.done") < kinds.index("response.mcp_call.in_progress")
    assert kinds.index("response.mcp_call.completed") < kinds.index("response.mcp_call.failed")
    assert kinds.index("response.mcp_call.failed") < kinds.index("response.output_text.delta")
    final = events[-1]
    assert final.type == "response.completed"
    calls = [o for o in final.response.output if o.type == "mcp_call"]
    assert [(c.name, c.status, c.error) for c in calls] == [
        ("web_search_exa", "completed", None),
        ("open_browser", "failed", "Cannot find tool with name open_browser."),
    ]


def test_responses_local_mcp_server_permission_denied_as_in_1168(fake, client):
    # bug-tracker #1168: a "type": "mcp" tool without server_url names a local (mcp.json) server;
    # refused unless allowed, in the OpenAI shape, param "tools", code null
    resp = client.post(
        "/v1/responses",
        json={
            "model": MODEL,
            "input": "x",
            "tools": [{"type": "mcp", "server_label": "wazuh", "allowed_tools": ["*"]}],
        },
    )
    assert resp.status_code == 403
    assert resp.json() == {
        "error": {
            "message": "Permission denied to use local MCP server 'wazuh'. Ensure that the server "
            "configuration allows local integrations and that your API token has the necessary permissions.",
            "type": "invalid_request_error",
            "param": "tools",
            "code": None,
        }
    }


def test_responses_refusals_match_the_native_ones(fake, client):
    # one behaviour on both endpoints: the same checks, in the OpenAI shape; connection failures as
    # the external_connector_error LM Studio 0.3.29 sent on /v1/responses (bug-tracker #1073)
    def responses(tool: dict[str, Any]) -> httpx.Response:
        return client.post("/v1/responses", json={"model": MODEL, "input": "x", "tools": [tool]})

    assert responses(EXA).status_code == 403  # per-request MCPs off
    fake.configure(allow_per_request_mcps=True)
    unreachable = responses(EXA)
    assert unreachable.status_code == 400
    assert unreachable.json()["error"]["type"] == "external_connector_error"
    assert (
        unreachable.json()["error"]["code"] == "http_error"
        and unreachable.json()["error"]["param"] == "tools"
    )
    local = responses({**EXA, "server_url": "http://127.0.0.1:9000/mcp"})
    assert "URL resolves to a non-public address." in local.json()["error"]["message"]
    fake.configure(allow_mcp_json=True, require_auth=True)
    fake.mcp_tool("mcp/wazuh", "alerts", output="2 alerts")  # the plugin of the local server "wazuh"
    ok = responses({"type": "mcp", "server_label": "wazuh"})
    assert ok.status_code == 200
    assert ok.json()["output"][0] | {"id": None} == {
        "id": None,
        "type": "mcp_call",
        "status": "completed",
        "approval_request_id": None,
        "arguments": "{}",
        "error": None,
        "name": "alerts",
        "output": "2 alerts",
        "server_label": "wazuh",
    }
