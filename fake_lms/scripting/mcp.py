"""Scripted MCP tools: what a tool of an MCP server or plugin answers when the model calls it.

LM Studio runs the MCP tool loop itself on ``/api/v1/chat`` (``integrations``) and on
``/v1/responses`` (``tools: [{"type": "mcp", ...}]``): it connects to the servers the request
names, the model calls their tools, and the calls come back as output items. The fake connects
nowhere; a test declares the tool calls instead, as script rules of the op ``"mcp"``::

    {"mcp": {"server": "huggingface", "tool": "model_search", "arguments": {"limit": 1},
             "output": "...", "match": ..., "times": ..., "optional": ...}}
    {"mcp": {"server": "mcp/playwright", "tool": "open_browser", "fail": "invalid_name"}}

``server`` names the server as requests do: an ephemeral server by its ``server_label``, an
``mcp.json`` server by its plugin id (``mcp/<name>``). A server some rule names is reachable; a
request naming any other server gets LM Studio's connection error (``fake_lms.core.mcp``).
``fail`` makes the call an invalid one (``invalid_name``: no such tool; ``invalid_arguments``),
reported as LM Studio reports it, with ``reason`` (LM Studio's words by default).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FAILURES = ("invalid_name", "invalid_arguments")
MCP_FIELDS = ("server", "tool", "arguments", "output", "fail", "reason")


class McpScriptError(ValueError):
    """An MCP tool description is invalid."""


@dataclass(frozen=True)
class McpCall:
    """One scripted call the model makes: ``server`` (label or plugin id), ``tool``,
    ``arguments`` (a JSON object), and either ``output`` or a ``fail`` kind with its ``reason``."""

    server: str
    tool: str
    arguments: dict[str, Any]
    output: str = ""
    fail: str | None = None
    reason: str | None = None

    @property
    def failed(self) -> bool:
        return self.fail is not None

    def failure_reason(self) -> str:
        """What LM Studio says of an invalid call (streaming-events.md shows the invalid-name
        sentence; the invalid-arguments one is the fake's, docs/fidelity.md)."""
        if self.reason is not None:
            return self.reason
        if self.fail == "invalid_name":
            return f"Cannot find tool with name {self.tool}."
        return f"Invalid arguments for tool {self.tool}."


def validate(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of an ``"mcp"`` rule, checked; raises :class:`McpScriptError`."""
    unknown = set(spec) - set(MCP_FIELDS)
    if unknown:
        raise McpScriptError(
            f"unknown mcp field(s): {', '.join(sorted(map(str, unknown)))}; known: {', '.join(MCP_FIELDS)}"
        )
    server, tool = spec.get("server"), spec.get("tool")
    if not isinstance(server, str) or not server.strip():
        raise McpScriptError(
            "an MCP tool needs its server: a server_label or a plugin id like 'mcp/playwright', "
            f"not {server!r}"
        )
    if not isinstance(tool, str) or not tool.strip():
        raise McpScriptError(f"an MCP tool needs a tool name, not {tool!r}")
    arguments = spec.get("arguments")
    if arguments is None:
        arguments = {}
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            raise McpScriptError(f"MCP tool {tool!r}: arguments string is not JSON: {arguments!r}") from None
    if not isinstance(arguments, Mapping):
        raise McpScriptError(
            f"MCP tool {tool!r}: arguments must be a JSON object (LM Studio reports them as one), "
            f"not {arguments!r}"
        )
    try:
        arguments = json.loads(json.dumps(arguments))
    except (TypeError, ValueError) as exc:
        raise McpScriptError(f"MCP tool {tool!r}: arguments are not JSON-serialisable: {exc}") from None
    fail = spec.get("fail")
    if fail is not None and fail not in FAILURES:
        raise McpScriptError(f"MCP tool {tool!r}: fail must be one of {', '.join(FAILURES)}, not {fail!r}")
    output = spec.get("output")
    if fail is not None and output is not None:
        raise McpScriptError(f"MCP tool {tool!r}: a failing call has a reason, not an output")
    if output is None:
        output = ""
    if not isinstance(output, str):
        raise McpScriptError(
            f"MCP tool {tool!r}: output must be a string (LM Studio passes the tool's raw output "
            f"on as text), not {output!r}"
        )
    reason = spec.get("reason")
    if reason is not None and (fail is None or not isinstance(reason, str)):
        raise McpScriptError(f"MCP tool {tool!r}: reason is the text of a failing call (fail=...)")
    params: dict[str, Any] = {"server": server, "tool": tool, "arguments": arguments, "output": output}
    if fail is not None:
        params["fail"] = fail
        params.pop("output")
        if reason is not None:
            params["reason"] = reason
    return params


def call_of(params: Mapping[str, Any]) -> McpCall:
    return McpCall(
        params["server"],
        params["tool"],
        dict(params["arguments"]),
        params.get("output", ""),
        params.get("fail"),
        params.get("reason"),
    )
