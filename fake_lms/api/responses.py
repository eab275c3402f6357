"""``POST /v1/responses`` (LM Studio 0.3.29+): OpenAI Response objects and their SSE events.

LM Studio documents only part of this surface (spec §1.5); the rest mirrors OpenAI, in the event
order every surveyed client accepts (clients.md §0.9). ``previous_response_id`` threads are kept
in memory for the life of the server.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator, Mapping
from typing import Any

from fake_lms.api import errors
from fake_lms.api.errors import ApiError
from fake_lms.api.fields import object_body, opt_int, sampling
from fake_lms.api.openai import reasoning_requested
from fake_lms.api.types import ApiRequest, Reply, SSEEvent, StreamItem, dumps
from fake_lms.core import exchange, mcp
from fake_lms.core.context import Context, Resolved
from fake_lms.core.exchange import Ask
from fake_lms.model import engine


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return ""


def input_messages(value: Any) -> list[dict[str, Any]]:
    """Turn a Responses ``input`` into chat messages."""
    if value is None:
        raise ApiError(errors.oai(400, "Required", param="input", code="missing_required_parameter"))
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list):
        raise ApiError(errors.invalid_field("'input' must be a string or an array of input items", "input"))
    messages: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise ApiError(errors.invalid_field(f"'input[{i}]' must be an object", "input"))
        kind = item.get("type", "message")
        if kind == "message" or (kind is None and "role" in item):
            role = item.get("role", "user")
            if role not in ("user", "assistant", "system", "developer"):
                raise ApiError(errors.invalid_field(f"'input[{i}].role' is not a valid role", "input"))
            messages.append(
                {"role": "system" if role == "developer" else role, "content": _text_of(item.get("content"))}
            )
        elif kind == "function_call":
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": item.get("call_id", ""),
                            "type": "function",
                            "function": {
                                "name": item.get("name", ""),
                                "arguments": item.get("arguments", "{}"),
                            },
                        }
                    ],
                }
            )
        elif kind == "function_call_output":
            output = item.get("output")
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": item.get("call_id", ""),
                    "content": output if isinstance(output, str) else json.dumps(output),
                }
            )
        elif kind in ("reasoning", "item_reference"):
            continue
        else:
            raise ApiError(errors.invalid_field(f"'input[{i}].type' {kind!r} is not supported", "input"))
    return messages


def _format(body: Mapping[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    text = body.get("text")
    if text is None:
        return None, {"type": "text"}
    if not isinstance(text, Mapping) or "format" not in text:
        raise ApiError(errors.oai(400, "Required", param="text.format", code="missing_required_parameter"))
    fmt = text["format"]
    if not isinstance(fmt, Mapping):
        raise ApiError(errors.invalid_field("'text.format' must be an object", "text.format"))
    if fmt.get("type") == "text":
        return None, dict(fmt)
    if fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), Mapping):
        return dict(fmt["schema"]), dict(fmt)
    raise ApiError(errors.invalid_field("'text.format.type' must be 'json_schema' or 'text'", "text.format"))


def _tools(body: Mapping[str, Any]) -> tuple[list[Any] | None, Any]:
    tools = body.get("tools")
    if tools is None:
        return None, None
    if not isinstance(tools, list):
        raise ApiError(errors.invalid_field("'tools' must be an array", "tools"))
    functions = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, Mapping) or tool.get("type") != "function":
            continue
        if not isinstance(tool.get("name"), str):
            # LM Studio wants Responses-style flat function tools; the chat-style nested form
            # ({"type":"function","function":{"name":...}}) is refused (fidelity review row 16,
            # lmstudio-bridge-enhanced RESPONSES_API_BREAKTHROUGH.md)
            raise ApiError(
                errors.oai(400, "Required", param=f"tools.{i}.name", code="missing_required_parameter")
            )
        functions.append(tool)
    return functions or None, body.get("tool_choice", "auto") or "auto"


def _allowed_tools(value: Any, where: str) -> tuple[str, ...] | None:
    """``allowed_tools``: a list of names, or OpenAI's filter object ``{"tool_names": [...]}``."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        value = value.get("tool_names", [])
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise ApiError(
            errors.invalid_field(f"'{where}.allowed_tools' must be an array of tool names", "tools")
        )
    return tuple(value)


def mcp_servers(body: Mapping[str, Any]) -> list[mcp.McpServer]:
    """The ``{"type": "mcp"}`` tools (responses.md): with a ``server_url``, an ephemeral remote
    server; without one, the ``mcp.json`` server of that label, a plugin ``mcp/<label>`` (as
    bug-tracker #1168's "local MCP server" shows)."""
    tools = body.get("tools")
    if not isinstance(tools, list):
        return []
    servers: list[mcp.McpServer] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, Mapping) or tool.get("type") != "mcp":
            continue
        where = f"tools[{i}]"
        label = tool.get("server_label")
        if not isinstance(label, str) or not label.strip():
            raise ApiError(errors.invalid_field(f"'{where}.server_label' is required", "tools"))
        url = tool.get("server_url")
        if url is not None and not isinstance(url, str):
            raise ApiError(errors.invalid_field(f"'{where}.server_url' must be a string", "tools"))
        allowed = _allowed_tools(tool.get("allowed_tools"), where)
        if url:
            servers.append(mcp.McpServer("ephemeral_mcp", label, url, allowed_tools=allowed))
        else:
            servers.append(mcp.McpServer("plugin", f"mcp/{label}", allowed_tools=allowed))
    return servers


def _mcp_error(exc: mcp.McpError) -> ApiError:
    """An MCP refusal in the OpenAI shape: a permission refusal as bug-tracker #1168 shows it; a
    connection refusal as an ``external_connector_error`` (bug-tracker #1073, 0.3.29)."""
    message = mcp.responses_message(exc)
    if exc.refusal == "permission":
        return ApiError(errors.oai(exc.status, message, param="tools"))
    return ApiError(
        errors.oai(exc.status, message, type="external_connector_error", param="tools", code="http_error")
    )


def _rid(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


def responses(ctx: Context, req: ApiRequest) -> Reply:
    body = object_body(req)
    new_messages = input_messages(body.get("input"))
    schema, fmt = _format(body)
    tools, tool_choice = _tools(body)
    servers = mcp_servers(body)
    max_tokens = opt_int(body, "max_output_tokens")
    sampling(body)
    previous = body.get("previous_response_id")
    history: list[dict[str, Any]] = []
    if previous is not None:
        found = ctx.conversations.get(previous) if isinstance(previous, str) else None
        if found is None:
            raise ApiError(
                errors.oai(
                    400,
                    f"Previous response with id '{previous}' not found.",
                    param="previous_response_id",
                    code="previous_response_not_found",
                )
            )
        history = found
    instructions = body.get("instructions")
    messages = [*history]
    if isinstance(instructions, str) and instructions:
        messages = [
            {"role": "system", "content": instructions},
            *[m for m in messages if m["role"] != "system"],
        ]
    messages += new_messages
    try:  # before the model: a refused request loads nothing
        mcp.check(ctx, servers)
    except mcp.McpError as exc:
        raise _mcp_error(exc) from None
    ask = Ask(
        "chat",
        body.get("model"),
        req.record,
        messages=messages,
        tools=tools,
        tool_choice=tool_choice,
        json_schema=schema,
        max_tokens=max_tokens,
        reasoning=reasoning_requested(body),
        ttl=body.get("ttl"),
        wanted="responses",
    )
    planned = exchange.plan(ctx, ask)
    calls = mcp.calls(ctx, servers, req.record)
    done = exchange.generate(ctx, ask, planned)
    res, gen = done.resolved, done.generation
    response_id = _rid("resp")
    store = body.get("store", True) is not False
    builder = _ResponseBuilder(response_id, res, body, fmt, gen, previous, calls)
    if store:
        assistant: dict[str, Any] = {"role": "assistant", "content": gen.content}
        if gen.tool_calls:
            assistant = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                    for c in gen.tool_calls
                ],
            }
        ctx.conversations.put(response_id, [*messages, assistant])
    if body.get("stream"):
        return Reply(
            200, stream=done.shape(builder.events()), model=res.identifier, usage=done.usage, notes=done.notes
        )
    return Reply(
        200,
        builder.response("completed"),
        model=res.identifier,
        usage=done.usage,
        notes=done.notes,
        delay=done.delay,
    )


class _ResponseBuilder:
    def __init__(
        self,
        response_id: str,
        res: Resolved,
        body: Mapping[str, Any],
        fmt: dict[str, Any],
        gen: engine.Generation,
        previous: Any,
        calls: list[mcp.PlannedCall] | None = None,
    ) -> None:
        self.id = response_id
        self.res = res
        self.body = body
        self.fmt = fmt
        self.gen = gen
        self.previous = previous
        self.created = int(time.time())
        self.msg_id = _rid("msg")
        self.reasoning_id = _rid("rs")
        self.call_ids = [_rid("fc") for _ in gen.tool_calls]
        self.mcp_calls = list(calls or ())
        self.mcp_ids = [_rid("mcp") for _ in self.mcp_calls]
        self.seq = 0

    @property
    def incomplete(self) -> bool:
        return self.gen.finish_reason == "length"

    def usage(self) -> dict[str, Any]:
        return {
            "input_tokens": self.gen.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": self.gen.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": len(self.gen.reasoning_tokens)},
            "total_tokens": self.gen.total_tokens,
        }

    def reasoning_item(self) -> dict[str, Any]:
        return {
            "id": self.reasoning_id,
            "type": "reasoning",
            "summary": [],
            "content": [{"type": "reasoning_text", "text": self.gen.reasoning}],
        }

    def message_item(self, status: str, text: str | None = None) -> dict[str, Any]:
        content = (
            [] if text is None else [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
        )
        return {
            "id": self.msg_id,
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        }

    def call_item(self, i: int, status: str, arguments: str | None = None) -> dict[str, Any]:
        call = self.gen.tool_calls[i]
        return {
            "id": self.call_ids[i],
            "type": "function_call",
            "status": status,
            "arguments": call.arguments if arguments is None else arguments,
            "call_id": call.id,
            "name": call.name,
        }

    def mcp_item(self, i: int, status: str, arguments: str | None = None) -> dict[str, Any]:
        """An MCP tool call as OpenAI's ``mcp_call`` item (what LM Studio sends is unconfirmed:
        docs/fidelity.md); an invalid call is ``failed`` with its reason as ``error``."""
        planned = self.mcp_calls[i]
        call = planned.call
        done = status != "in_progress"
        return {
            "id": self.mcp_ids[i],
            "type": "mcp_call",
            "status": ("failed" if call.failed else "completed") if done else status,
            "approval_request_id": None,
            "arguments": mcp_arguments(planned) if arguments is None else arguments,
            "error": call.failure_reason() if done and call.failed else None,
            "name": call.tool,
            "output": call.output if done and not call.failed else None,
            "server_label": planned.server.label,
        }

    def output(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        if self.gen.reasoning:
            items.append(self.reasoning_item())
        items.extend(self.mcp_item(i, "completed") for i in range(len(self.mcp_calls)))
        if self.gen.tool_calls:
            items.extend(self.call_item(i, "completed") for i in range(len(self.gen.tool_calls)))
        else:
            items.append(
                self.message_item("incomplete" if self.incomplete else "completed", self.gen.content)
            )
        return items

    def response(self, status: str) -> dict[str, Any]:
        done = status != "in_progress"
        final_status = ("incomplete" if self.incomplete else "completed") if done else status
        body = self.body
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created,
            "status": final_status,
            "background": False,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if done and self.incomplete else None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": self.res.identifier,
            "output": self.output() if done else [],
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": self.previous,
            "reasoning": {
                "effort": (body.get("reasoning") or {}).get("effort")
                if isinstance(body.get("reasoning"), Mapping)
                else None,
                "summary": None,
            },
            "store": body.get("store", True) is not False,
            "temperature": body.get("temperature", 1.0),
            "text": {"format": self.fmt},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "top_p": body.get("top_p", 1.0),
            "truncation": "disabled",
            "usage": self.usage() if done else None,
            "user": None,
            "metadata": {},
        }

    def _event(self, kind: str, **payload: Any) -> SSEEvent:
        data = {"type": kind, "sequence_number": self.seq, **payload}
        self.seq += 1
        return SSEEvent(dumps(data), event=kind, token=kind.endswith(".delta"))

    def events(self) -> Iterator[StreamItem]:
        yield self._event("response.created", response=self.response("in_progress"))
        yield self._event("response.in_progress", response=self.response("in_progress"))
        index = 0
        if self.gen.reasoning:
            yield self._event(
                "response.output_item.added",
                output_index=index,
                item={**self.reasoning_item(), "content": []},
            )
            yield self._event(
                "response.reasoning_text.done",
                item_id=self.reasoning_id,
                output_index=index,
                content_index=0,
                text=self.gen.reasoning,
            )
            yield self._event("response.output_item.done", output_index=index, item=self.reasoning_item())
            index += 1
        for i in range(len(self.mcp_calls)):
            yield from self.mcp_events(i, index)
            index += 1
        if self.gen.tool_calls:
            for i, call in enumerate(self.gen.tool_calls):
                item_id = self.call_ids[i]
                yield self._event(
                    "response.output_item.added",
                    output_index=index,
                    item=self.call_item(i, "in_progress", ""),
                )
                for frag in engine.tokenize(call.arguments):
                    yield self._event(
                        "response.function_call_arguments.delta",
                        item_id=item_id,
                        output_index=index,
                        delta=frag,
                    )
                yield self._event(
                    "response.function_call_arguments.done",
                    item_id=item_id,
                    output_index=index,
                    name=call.name,
                    arguments=call.arguments,
                )
                yield self._event(
                    "response.output_item.done", output_index=index, item=self.call_item(i, "completed")
                )
                index += 1
        else:
            yield self._event(
                "response.output_item.added", output_index=index, item=self.message_item("in_progress")
            )
            yield self._event(
                "response.content_part.added",
                item_id=self.msg_id,
                output_index=index,
                content_index=0,
                part={"type": "output_text", "text": "", "annotations": []},
            )
            for tok in self.gen.content_tokens:
                yield self._event(
                    "response.output_text.delta",
                    item_id=self.msg_id,
                    output_index=index,
                    content_index=0,
                    delta=tok,
                    logprobs=[],
                )
            text = self.gen.content
            yield self._event(
                "response.output_text.done",
                item_id=self.msg_id,
                output_index=index,
                content_index=0,
                text=text,
                logprobs=[],
            )
            yield self._event(
                "response.content_part.done",
                item_id=self.msg_id,
                output_index=index,
                content_index=0,
                part={"type": "output_text", "text": text, "annotations": []},
            )
            status = "incomplete" if self.incomplete else "completed"
            yield self._event(
                "response.output_item.done", output_index=index, item=self.message_item(status, text)
            )
        final = "response.incomplete" if self.incomplete else "response.completed"
        yield self._event(final, response=self.response("completed"))

    def mcp_events(self, i: int, index: int) -> Iterator[StreamItem]:
        """One MCP call's events, in OpenAI's order: the item added, its arguments, in progress,
        completed (or failed), the item done."""
        item_id = self.mcp_ids[i]
        arguments = mcp_arguments(self.mcp_calls[i])
        yield self._event(
            "response.output_item.added", output_index=index, item=self.mcp_item(i, "in_progress", "")
        )
        for frag in engine.tokenize(arguments):
            yield self._event(
                "response.mcp_call_arguments.delta", item_id=item_id, output_index=index, delta=frag
            )
        yield self._event(
            "response.mcp_call_arguments.done", item_id=item_id, output_index=index, arguments=arguments
        )
        yield self._event("response.mcp_call.in_progress", item_id=item_id, output_index=index)
        outcome = "failed" if self.mcp_calls[i].call.failed else "completed"
        yield self._event(f"response.mcp_call.{outcome}", item_id=item_id, output_index=index)
        yield self._event("response.output_item.done", output_index=index, item=self.mcp_item(i, "completed"))


def mcp_arguments(planned: mcp.PlannedCall) -> str:
    """The arguments of an ``mcp_call``, as OpenAI sends them: JSON text."""
    return json.dumps(planned.call.arguments, ensure_ascii=False, separators=(",", ":"))
