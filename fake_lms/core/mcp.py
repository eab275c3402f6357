"""MCP servers a request enables, decided once for ``/api/v1/chat`` and ``/v1/responses``.

A dialect parses its wire format (``integrations`` on ``/api/v1/chat``, ``{"type": "mcp"}`` tools
on ``/v1/responses``) into :class:`McpServer` values; :func:`check` applies LM Studio's rules in
its order, before the model is resolved, and :func:`calls` gives the tool calls the model makes:

1. permission: an ephemeral server needs the setting "Allow per-request MCPs"
   (``allow_per_request_mcps``); an ``mcp.json`` server (a plugin) needs "Allow calling servers
   from mcp.json" (``allow_mcp_json``), which LM Studio honours only with "Require
   Authentication" on (docs ``0_core/mcp.mdx``, ``0_server/settings.md``; bug-tracker #1168);
2. the URL of an ephemeral server must be public (LM Studio 0.4.15+, bug-tracker #1993, #2027,
   #2161). The fake resolves no name: IP literals are judged by their address; ``localhost``,
   single-label names and local-only suffixes (``.local``, ``.internal``, ``.lan``,
   ``.home.arpa``, ``.localhost``) are non-public; every other name counts as public;
3. connection: the fake connects to nothing. A server the test declared (``mcp_tool``) answers
   from the script; any other one is unreachable, with LM Studio's connection error.

Each refusal (:func:`check`) is an :class:`McpError` that the dialect renders in its own shape and words.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from fake_lms.core.context import Context
from fake_lms.core.errors import CoreError
from fake_lms.scripting.mcp import McpCall
from fake_lms.scripting.records import RequestRecord

Kind = Literal["plugin", "ephemeral_mcp"]
Refusal = Literal["permission", "non_public", "invalid_url", "bad_plugin_id", "unreachable"]

NON_PUBLIC_SENTENCE = (
    "URL resolves to a non-public address. We only allow public addresses for dynamic remote MCP connections."
)
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa")


@dataclass(frozen=True)
class McpServer:
    """One MCP server a request enables: a plugin (``name`` is its id, ``mcp/<name>``) or an
    ephemeral server (``name`` is its ``server_label``, ``url`` its ``server_url``).
    ``allowed_tools`` ``None``: every tool. ``headers`` are never kept (they may hold secrets)."""

    kind: Kind
    name: str
    url: str | None = None
    allowed_tools: tuple[str, ...] | None = None

    def provider_info(self) -> dict[str, Any]:
        """``provider_info`` of its tool calls, in LM Studio's key order (chat.md)."""
        if self.kind == "plugin":
            return {"plugin_id": self.name, "type": "plugin"}
        return {"server_label": self.name, "type": "ephemeral_mcp"}

    @property
    def label(self) -> str:
        """The name ``/v1/responses`` knows the server by (``server_label``)."""
        return self.name.removeprefix("mcp/") if self.kind == "plugin" else self.name


@dataclass(frozen=True)
class PlannedCall:
    """A tool call the model makes, and the server that answers it."""

    call: McpCall
    server: McpServer


class McpError(CoreError):
    """LM Studio refused a request's MCP server (``refusal``: why). ``message`` is the wording of
    ``/api/v1/chat``; a dialect may word it its own way (:func:`responses_message`)."""

    def __init__(self, refusal: Refusal, server: McpServer, message: str) -> None:
        super().__init__(message, param="integrations")
        self.refusal = refusal
        self.server = server
        self.status = 403 if refusal == "permission" else 400


def _connect_failure(server: McpServer, reason: str) -> str:
    return f"Unable to connect to remote MCP server '{server.name}' at url '{server.url}'. {reason}"


def _refuse(refusal: Refusal, server: McpServer) -> McpError:
    if refusal == "permission":
        if server.kind == "plugin":  # seen in third-party clients' tests of LM Studio 0.4.x
            message = (
                f"Permission denied to use plugin '{server.name}'. Ensure that the server configuration "
                "allows plugin usage and, if using an API token, it has the necessary permissions."
            )
        else:  # the fake's sentence, by analogy (docs/fidelity.md)
            message = (
                f"Permission denied to use remote MCP server '{server.name}'. Ensure that the server "
                "configuration allows per-request MCPs and, if using an API token, it has the "
                "necessary permissions."
            )
    elif refusal == "non_public":
        message = _connect_failure(server, NON_PUBLIC_SENTENCE)
    elif refusal == "invalid_url":
        message = _connect_failure(server, "Invalid URL.")
    elif refusal == "bad_plugin_id":  # bug-tracker #2161; a bare name: "Expected 'owner/name'"
        message = f"Invalid plugin identifier '{server.name}'. Expected 'owner/name'."
    elif server.kind == "plugin":
        message = (
            f"Unable to connect to plugin '{server.name}'. The fake LM Studio has no mcp.json: "
            f"declare the server's tools with mcp_tool({server.name!r}, ...)."
        )
    else:
        message = _connect_failure(
            server,
            f"The fake LM Studio connects to no MCP server: declare its tools with "
            f"mcp_tool({server.name!r}, ...).",
        )
    return McpError(refusal, server, message)


def responses_message(exc: McpError) -> str:
    """The wording of ``/v1/responses``: its local servers are "local MCP servers", named by
    label (bug-tracker #1168)."""
    server = exc.server
    if exc.refusal == "permission" and server.kind == "plugin":
        return (
            f"Permission denied to use local MCP server '{server.label}'. Ensure that the server "
            "configuration allows local integrations and that your API token has the necessary permissions."
        )
    if exc.refusal == "unreachable" and server.kind == "plugin":
        return (
            f"Unable to connect to local MCP server '{server.label}'. The fake LM Studio has no mcp.json: "
            f"declare the server's tools with mcp_tool({server.name!r}, ...)."
        )
    return exc.message


def non_public(url: str) -> Refusal | None:
    """Why an ephemeral server's URL is refused before any connection (``None``: it is not)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "invalid_url"
    if parts.scheme not in ("http", "https") or not host:
        return "invalid_url"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        name = host.rstrip(".").lower()
        if name == "localhost" or "." not in name or name.endswith(LOCAL_SUFFIXES):
            return "non_public"
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return None if address.is_global else "non_public"


def _owner_name(plugin_id: str) -> bool:
    owner, slash, name = plugin_id.partition("/")
    return bool(slash and owner and name and "/" not in name)


def check(ctx: Context, servers: Sequence[McpServer]) -> None:
    """Refuse the request's servers as LM Studio does (permission, then URL and plugin id, then
    connection, each over all servers in order); raises :class:`McpError`."""
    if not servers:
        return
    settings = ctx.home.settings
    for server in servers:
        if server.kind == "plugin":
            allowed = settings.allow_mcp_json and settings.require_auth
        else:
            allowed = settings.allow_per_request_mcps
        if not allowed:
            raise _refuse("permission", server)
    for server in servers:
        if server.kind == "ephemeral_mcp":
            refusal = non_public(server.url or "")
            if refusal is not None:
                raise _refuse(refusal, server)
        elif not _owner_name(server.name):
            raise _refuse("bad_plugin_id", server)
    declared: set[str] = ctx.scripts.mcp_servers() if ctx.scripts is not None else set()
    for server in servers:
        if server.name not in declared:
            raise _refuse("unreachable", server)


def calls(ctx: Context, servers: Sequence[McpServer], record: RequestRecord | None) -> list[PlannedCall]:
    """The tool calls the model makes for a request whose servers passed :func:`check` (the
    script's rules count them as used)."""
    if not servers or ctx.scripts is None:
        return []
    by_name = {server.name: server for server in servers}
    made: list[McpCall] = ctx.scripts.mcp_calls(
        record, {server.name: server.allowed_tools for server in servers}
    )
    return [PlannedCall(call, by_name[call.server]) for call in made]
