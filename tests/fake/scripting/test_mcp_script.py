"""Scripted MCP tools as rules (fake_lms.scripting.mcp): validation at the script, the control
API's JSON form, and how a rule reads in a report. The wire behaviour is in tests/fake/api/test_mcp.py."""

from __future__ import annotations

import httpx
import pytest

from fake_lms import FakeLMStudio
from fake_lms.scripting.remote import ControlClient, ControlError
from fake_lms.scripting.rules import ScriptError

HF = {"type": "ephemeral_mcp", "server_label": "huggingface", "server_url": "https://huggingface.co/mcp"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"server": "", "tool": "t"}, "needs its server"),
        ({"server": "s", "tool": ""}, "needs a tool name"),
        ({"server": "s", "tool": "t", "arguments": [1, 2]}, "must be a JSON object"),
        ({"server": "s", "tool": "t", "arguments": "{not json"}, "not JSON"),
        ({"server": "s", "tool": "t", "output": {"a": 1}}, "output must be a string"),
        (
            {"server": "s", "tool": "t", "fail": "timeout"},
            "fail must be one of invalid_name, invalid_arguments",
        ),
        ({"server": "s", "tool": "t", "fail": "invalid_name", "output": "x"}, "a reason, not an output"),
        ({"server": "s", "tool": "t", "reason": "why"}, "reason is the text of a failing call"),
        ({"server": "s", "tool": "t", "times": 0}, "times must be a positive integer"),
    ],
)
def test_invalid_mcp_tools_fail_at_the_script(fake: FakeLMStudio, kwargs, message) -> None:
    server, tool = kwargs.pop("server"), kwargs.pop("tool")
    with pytest.raises(ScriptError, match=message):
        fake.mcp_tool(server, tool, **kwargs)
    assert fake.rules == []


def test_unknown_fields_over_the_control_api(fake: FakeLMStudio) -> None:
    resp = httpx.post(f"{fake.url}/__fake__/script", json={"mcp": {"server": "s", "tool": "t", "colour": 1}})
    assert resp.status_code == 400 and "unknown mcp field(s): colour" in resp.text


def test_mcp_tools_over_the_control_api(fake: FakeLMStudio) -> None:
    # the session-wide fake process is scripted this way (lmstudio_control): the same rule, as JSON
    remote = ControlClient(fake.url)
    remote.configure(allow_per_request_mcps=True)
    rule = remote.mcp_tool("huggingface", "model_search", '{"limit": 1}', output="hits", match="trending")
    assert {k: rule[k] for k in ("op", "kind", "server", "tool", "arguments", "output", "match")} == {
        "op": "mcp",
        "kind": "call",
        "server": "huggingface",
        "tool": "model_search",
        "arguments": {"limit": 1},
        "output": "hits",
        "match": "trending",
    }
    failing = remote.mcp_tool("huggingface", "open_browser", fail="invalid_name", optional=True)
    assert failing["kind"] == "invalid_name" and "output" not in failing
    body = httpx.post(
        f"{fake.url}/api/v1/chat",
        json={"model": "google/gemma-3-1b", "input": "what is trending?", "integrations": [HF]},
    ).json()
    assert [o["type"] for o in body["output"]] == ["tool_call", "invalid_tool_call", "message"]
    with pytest.raises(ControlError, match="fail must be one of"):
        remote.mcp_tool("huggingface", "x", fail="boom")


def test_a_rule_names_its_server_and_tool(fake: FakeLMStudio) -> None:
    # an unused rule is listed at teardown by its repr: which tool of which server went uncalled
    rule = fake.mcp_tool("mcp/playwright", "browser_navigate", {"url": "https://lmstudio.ai"})
    assert (
        repr(rule) == f"<Rule #{rule.id} mcp call mcp/playwright:browser_navigate match=any request forever>"
    )
    assert fake.unused_rules() == [rule]


def test_doc_mcp_tool(lmstudio_fake: FakeLMStudio) -> None:
    """docs/scripting.md "MCP tools" runs as written (the example cites mcp.mdx's request)."""
    import re
    from pathlib import Path

    doc = (Path(__file__).parents[3] / "docs" / "scripting.md").read_text(encoding="utf-8")
    start = doc.index("### MCP tools")
    block = re.compile(r"```python\n(.*?)```", re.S).search(doc, start)
    assert block is not None
    exec(compile(block.group(1), "docs/scripting.md", "exec"), {"lmstudio_fake": lmstudio_fake})
    assert lmstudio_fake.unused_rules() == []
