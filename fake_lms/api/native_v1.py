"""LM Studio's native REST API v1 (``/api/v1/*``, LM Studio 0.4.0+; spec §2.2).

``GET /api/v1/models``, ``POST /api/v1/models/load``, ``POST /api/v1/models/unload``,
``POST /api/v1/models/download``, ``GET /api/v1/models/download/status/{job_id}`` and
``POST /api/v1/chat`` (plain, stateful, and streamed as named SSE events; MCP ``integrations``
answered by the test's scripted tools, ``fake_lms.core.mcp``).

Errors use the v1 shape ``{"error": {"message", "type", "code"?, "param"?}}``. Where LM Studio's
status or wording is unconfirmed the choice is listed in ``docs/fidelity.md``.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

from fake_lms.api import errors
from fake_lms.api.errors import ApiError
from fake_lms.api.native_v0 import visible_specs
from fake_lms.api.openai import _native_blocks
from fake_lms.api.types import ApiRequest, BadJSON, Reply, SSEEvent, StreamItem, dumps
from fake_lms.core import exchange, mcp
from fake_lms.core.context import Context, PendingLoad, Resolved
from fake_lms.core.downloads import DownloadJob
from fake_lms.core.exchange import Ask
from fake_lms.model import engine, reasoning
from fake_lms.model.catalog import ModelSpec
from fake_lms.model.home import (
    IdentifierInUse,
    Instance,
    InstanceNotFound,
    ModelNotDownloaded,
    ModelNotInCatalog,
)

REASONING_OPTIONS = ("off", "low", "medium", "high", "xhigh", "on")
LLM_LOAD_DEFAULTS: dict[str, Any] = {
    "eval_batch_size": 512,
    "parallel": 4,
    "flash_attention": True,
    "offload_kv_cache_to_gpu": True,
}
MAX_INT = 2**31 - 1
HF_PREFIX = "https://huggingface.co/"

# --------------------------------------------------------------------------------------------
# v1 errors and request fields


def _error(status: int, message: str, *, type: str = "invalid_request", **kw: Any) -> ApiError:
    return ApiError(errors.v1(status, message, type=type, **kw))


def _required(name: str) -> ApiError:
    return _error(400, f'"{name}" is required', code="missing_required_parameter", param=name)


def _invalid_type(name: str, expected: str) -> ApiError:
    return _error(400, f"'{name}' must be {expected}", code="invalid_type", param=name)


def _body(req: ApiRequest) -> dict[str, Any]:
    try:
        body = req.json()
    except BadJSON as exc:
        message = f"Received request for {req.path} with invalid JSON: {exc}"
        raise _error(400, message, code="invalid_json") from None
    if not isinstance(body, dict):
        raise _error(400, "Request body must be a JSON object", code="invalid_type")
    return body


def _str(body: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _required(name)
        return None
    if not isinstance(value, str):
        raise _invalid_type(name, "a string")
    if required and not value.strip():
        raise _required(name)
    return value


def _bool(body: Mapping[str, Any], name: str, default: bool) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _invalid_type(name, "a boolean")
    return value


def _int(body: Mapping[str, Any], name: str, *, minimum: int = 1, maximum: int = MAX_INT) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid_type(name, "an integer")
    if not minimum <= value <= maximum:
        code = "too_small" if value < minimum else "too_big"
        raise _error(400, f"'{name}' must be between {minimum} and {maximum}", code=code, param=name)
    return value


def _number(body: Mapping[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _invalid_type(name, "a number")
    try:
        number = float(value)  # huge JSON integers overflow a float
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise _invalid_type(name, "a finite number")
    return number


def _ttl(body: Mapping[str, Any]) -> float | None:
    """``ttl`` (seconds): an LM Studio extension on inference requests, accepted here as well."""
    value = _number(body, "ttl")
    if value is not None and value <= 0:
        raise _error(400, "'ttl' must be a positive number of seconds", code="too_small", param="ttl")
    return value


def _iso(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# --------------------------------------------------------------------------------------------
# GET /api/v1/models


def instance_config(spec: ModelSpec, inst: Instance) -> dict[str, Any]:
    """``loaded_instances[].config``: the context length, plus llama.cpp settings for LLMs."""
    config: dict[str, Any] = {"context_length": inst.context_length}
    if spec.is_embedding:
        return config
    merged = {**LLM_LOAD_DEFAULTS, **inst.config}
    for name in ("eval_batch_size", "parallel", "flash_attention", "num_experts", "offload_kv_cache_to_gpu"):
        if name in merged:
            config[name] = merged[name]
    return config


def model_entry(spec: ModelSpec, instances: list[Instance]) -> dict[str, Any]:
    """One model of ``GET /api/v1/models``, fields in LM Studio's order."""
    out: dict[str, Any] = {
        "type": spec.type,
        "publisher": spec.publisher,
        "key": spec.key,
        "display_name": spec.display_name,
    }
    if not spec.is_embedding:
        out["architecture"] = spec.architecture
    out["quantization"] = {"name": spec.quantization, "bits_per_weight": spec.bits_per_weight}
    out["size_bytes"] = spec.size_bytes
    out["params_string"] = spec.params_string
    out["loaded_instances"] = [
        {"id": inst.identifier, "config": instance_config(spec, inst)}
        for inst in instances
        if inst.model_key == spec.key
    ]
    out["max_context_length"] = spec.max_context_length
    out["format"] = spec.format
    if not spec.is_embedding:
        capabilities: dict[str, Any] = {
            "vision": spec.vision,
            "trained_for_tool_use": spec.trained_for_tool_use,
        }
        if spec.reasoning:
            capabilities["reasoning"] = {
                "allowed_options": list(spec.reasoning),
                "default": spec.reasoning_default or spec.reasoning[0],
            }
        out["capabilities"] = capabilities
        out["description"] = spec.description
    if "/" in spec.key or spec.extra_variants:  # hub models are multi-variant artifacts
        out["variants"] = spec.variants
        out["selected_variant"] = spec.variant_key
    return out


def list_models(ctx: Context, req: ApiRequest) -> Reply:
    specs, instances = visible_specs(ctx)
    return Reply(200, {"models": [model_entry(spec, instances) for spec in specs]})


# --------------------------------------------------------------------------------------------
# POST /api/v1/models/load, /api/v1/models/unload


def _downloaded_spec(ctx: Context, name: str) -> ModelSpec:
    spec = ctx.home.catalog.find(name)
    if spec is None or not ctx.home.is_downloaded(spec.key):
        known = ", ".join(ctx.known_keys()[:3])
        hint = f" Downloaded models include: {known}." if known else ""
        if spec is not None:
            hint = (
                f" It is in the catalog but not downloaded: download it first (POST /api/v1/models/download"
                f" or `lms get {spec.key}`)."
            )
        raise _error(404, f'Model "{name}" not found.{hint}', type="model_not_found", param="model")
    return spec


def load(ctx: Context, req: ApiRequest) -> Reply:
    body = _body(req)
    name = _str(body, "model", required=True)
    assert name is not None
    spec = _downloaded_spec(ctx, name)
    context_length = _int(body, "context_length", maximum=spec.max_context_length)
    llm_config: dict[str, Any] = {}
    for field_name in ("eval_batch_size", "parallel"):
        value = _int(body, field_name)
        if value is not None:
            llm_config[field_name] = value
    num_experts = _int(body, "num_experts", minimum=0)
    if num_experts is not None:
        llm_config["num_experts"] = num_experts
    for field_name in ("flash_attention", "offload_kv_cache_to_gpu"):
        if body.get(field_name) is not None:
            llm_config[field_name] = _bool(body, field_name, True)
    echo = _bool(body, "echo_load_config", False)
    ttl = _ttl(body)
    identifier = _str(body, "identifier")
    if identifier is not None and not identifier.strip():
        raise _required("identifier")
    try:
        result = ctx.home.load(
            spec.key,
            identifier=identifier,
            ttl_seconds=ttl,
            context_length=context_length,
            config={} if spec.is_embedding else llm_config,
        )
    except IdentifierInUse as exc:
        raise _error(400, str(exc), code="identifier_in_use", param="identifier") from None
    except (ModelNotDownloaded, ModelNotInCatalog):  # removed since the check above
        raise _error(404, f'Model "{name}" not found.', type="model_not_found", param="model") from None
    inst = result.instance
    notes = {"action": "load", "model_key": spec.key, "instance_id": inst.identifier}
    out: dict[str, Any] = {
        "type": spec.type,
        "instance_id": inst.identifier,
        "load_time_seconds": round(result.load_seconds, 3),
        "status": "loaded",
    }
    if echo:
        config = instance_config(spec, inst)
        config.pop("parallel", None)
        if not spec.is_embedding:  # LM Studio's order: num_experts last
            config["offload_kv_cache_to_gpu"] = config.pop("offload_kv_cache_to_gpu")
            if "num_experts" in config:
                config["num_experts"] = config.pop("num_experts")
        out["load_config"] = config
    return Reply(200, out, model=spec.key, notes=notes)


def unload(ctx: Context, req: ApiRequest) -> Reply:
    body = _body(req)
    identifier = _str(body, "instance_id", required=True)
    assert identifier is not None
    inst = ctx.home.find_instance(identifier)
    if inst is None:
        raise _error(
            404,
            f'Cannot find a model instance with the identifier "{identifier}".',
            type="model_not_found",
            param="instance_id",
        )
    try:
        ctx.home.unload(identifier)
    except InstanceNotFound:  # gone (TTL, lms unload) between the lookup and the unload
        pass
    notes = {"action": "unload", "model_key": inst.model_key, "instance_id": identifier}
    return Reply(200, {"instance_id": identifier}, model=inst.model_key, notes=notes)


# --------------------------------------------------------------------------------------------
# POST /api/v1/models/download, GET /api/v1/models/download/status/{job_id}


def job_status(job: DownloadJob, now: float) -> dict[str, Any]:
    """A download job as ``/api/v1/models/download`` and its status endpoint show it."""
    out: dict[str, Any] = {"job_id": job.job_id}
    status = job.status(now)
    if status in ("failed", "paused"):  # a scripted stop: where it stopped, and why if it failed
        out["status"] = status
        out["total_size_bytes"] = job.total_size_bytes
        out["downloaded_bytes"] = job.downloaded_bytes(now)
        out["started_at"] = _iso(job.started)
        if job.error is not None:
            out["error"] = job.error
        return out
    if job.done(now):
        out["status"] = "completed"
        out["total_size_bytes"] = job.total_size_bytes
        out["downloaded_bytes"] = job.total_size_bytes
        out["started_at"] = _iso(job.started)
        out["completed_at"] = _iso(job.started + job.duration)
        return out
    out["status"] = "downloading"
    out["total_size_bytes"] = job.total_size_bytes
    out["downloaded_bytes"] = job.downloaded_bytes(now)
    out["bytes_per_second"] = job.total_size_bytes / job.duration
    out["estimated_completion"] = _iso(job.started + job.duration)
    out["started_at"] = _iso(job.started)
    return out


def _download_spec(ctx: Context, name: str, quantization: str | None) -> ModelSpec:
    catalog = ctx.home.catalog
    if name.startswith(("http://", "https://")):
        if not name.startswith(HF_PREFIX):
            raise _error(400, "Only https://huggingface.co URLs are supported.", param="model")
        repo = "/".join(name[len(HF_PREFIX) :].strip("/").split("/")[:2]).lower()
        spec = next(
            (s for s in catalog if s.relative_dir.lower() == repo or s.path.lower().startswith(repo + "/")),
            None,
        )
        if spec is not None and quantization is not None:
            wanted = f"{spec.key}@{quantization.lower()}"
            if wanted not in spec.variants:
                raise _error(
                    404, f"Cannot find variant {quantization}.", type="model_not_found", param="quantization"
                )
    else:
        spec = catalog.find(name)
    if spec is None:
        raise _error(
            404,
            f'Could not find a model matching "{name}" in the LM Studio catalog.',
            type="model_not_found",
            param="model",
        )
    return spec


def download(ctx: Context, req: ApiRequest) -> Reply:
    body = _body(req)
    name = _str(body, "model", required=True)
    quantization = _str(body, "quantization")
    assert name is not None
    spec = _download_spec(ctx, name.strip(), quantization)
    notes: dict[str, Any] = {"model_key": spec.key}
    if ctx.home.is_downloaded(spec.key):
        return Reply(200, {"status": "already_downloaded"}, model=spec.key, notes=notes)
    scripts = ctx.scripts
    job, created = ctx.downloads.start(
        spec, (lambda: scripts.download(req.record, spec.key)) if scripts is not None else None
    )
    notes.update(job_id=job.job_id, **({"action": "download"} if created else {}))
    return Reply(200, job_status(job, time.time()), model=spec.key, notes=notes)


def download_status(ctx: Context, req: ApiRequest, job_id: str) -> Reply:
    now = time.time()
    job = ctx.downloads.get(job_id, now)
    if job is None:
        raise _error(404, f'No download job with id "{job_id}".', type="job_not_found", param="job_id")
    return Reply(200, job_status(job, now))


# --------------------------------------------------------------------------------------------
# POST /api/v1/chat


ITEM_FIELDS = {"message": ("content",), "text": ("content",), "image": ("data_url",)}


def _input_items(value: Any) -> tuple[list[dict[str, Any]], bool]:
    """``input`` as chat messages (one user message), and whether it carries an image. Item
    validation mirrors LM Studio's zod messages: ``'input.0.content' is required, Unrecognized
    key(s) in object: 'text'`` with code ``invalid_union``."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}], False
    if not isinstance(value, list):
        raise _error(
            400, "'input' must be a string or an array of input items", code="invalid_union", param="input"
        )
    parts: list[dict[str, Any]] = []
    has_image = False
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise _error(400, f"'input.{i}' must be an object", code="invalid_union", param="input")
        kind = item.get("type")
        if kind not in ITEM_FIELDS:
            raise _error(
                400,
                f"'input.{i}.type' must be one of 'message', 'text', 'image'",
                code="invalid_union",
                param="input",
            )
        issues = []
        (field_name,) = ITEM_FIELDS[kind]
        if item.get(field_name) is None:
            issues.append(f"'input.{i}.{field_name}' is required")
        elif not isinstance(item[field_name], str):
            issues.append(f"'input.{i}.{field_name}' must be a string")
        extra = [key for key in item if key not in ("type", field_name)]
        if extra:
            issues.append("Unrecognized key(s) in object: " + ", ".join(f"'{key}'" for key in extra))
        if issues:
            raise _error(400, ", ".join(issues), code="invalid_union", param="input")
        if kind == "image":
            has_image = True
            parts.append({"type": "image_url", "image_url": {"url": item["data_url"]}})
        else:
            parts.append({"type": "text", "text": item["content"]})
    return [{"role": "user", "content": parts}], has_image


def _reasoning_on(spec: ModelSpec, setting: str | None) -> bool:
    """Whether the model reasons for a ``reasoning`` setting. LM Studio's refusals (fidelity
    review row 30): a model without reasoning configuration refuses every value, ``"off"`` too
    (Deno2026/comfyui-deno-custom-nodes#24); a setting the model does not offer names the ones it
    does (abdulmominsakib/localmind#75); both ``code: "invalid_value"``."""
    if setting is None:
        return reasoning.reasons_by_default(spec)
    if not spec.reasoning:
        raise _error(
            400,
            f"Model '{spec.key}' does not expose reasoning configuration.",
            code="invalid_value",
            param="reasoning",
        )
    if setting not in spec.reasoning:
        allowed = ", ".join(f"'{o}'" for o in spec.reasoning)
        raise _error(
            400,
            f"Reasoning setting '{setting}' is not supported by model '{spec.key}'. "
            f"Supported settings: {allowed}.",
            code="invalid_value",
            param="reasoning",
        )
    return setting != "off"


INTEGRATION_FIELDS = {
    "plugin": ("type", "id", "allowed_tools"),
    "ephemeral_mcp": ("type", "server_label", "server_url", "allowed_tools", "headers"),
}


def _integration_error(message: str) -> ApiError:
    return _error(400, message, code="invalid_union", param="integrations")


def _integrations(value: Any) -> list[mcp.McpServer]:
    """``integrations`` (chat.md): plugin-id strings, plugin objects, ephemeral MCP servers.
    Item validation follows the zod wording of ``input`` items (docs/fidelity.md)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _invalid_type("integrations", "an array")
    servers: list[mcp.McpServer] = []
    for i, item in enumerate(value):
        where = f"integrations.{i}"
        if isinstance(item, str):
            if not item.strip():
                raise _integration_error(f"'{where}' must be a non-empty plugin identifier")
            servers.append(mcp.McpServer("plugin", item))
            continue
        if not isinstance(item, dict):
            raise _integration_error(f"'{where}' must be a plugin identifier or an object")
        kind = item.get("type")
        if kind not in INTEGRATION_FIELDS:
            raise _integration_error(f"'{where}.type' must be one of 'plugin', 'ephemeral_mcp'")
        required = ("id",) if kind == "plugin" else ("server_label", "server_url")
        issues = []
        for name in required:
            if item.get(name) is None:
                issues.append(f"'{where}.{name}' is required")
            elif not isinstance(item[name], str) or not item[name].strip():
                issues.append(f"'{where}.{name}' must be a non-empty string")
        allowed = item.get("allowed_tools")
        if allowed is not None and (
            not isinstance(allowed, list) or not all(isinstance(t, str) for t in allowed)
        ):
            issues.append(f"'{where}.allowed_tools' must be an array of strings")
        headers = item.get("headers")
        if headers is not None and (
            not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values())
        ):
            issues.append(f"'{where}.headers' must be an object of strings")
        extra = [key for key in item if key not in INTEGRATION_FIELDS[kind]]
        if extra:
            issues.append("Unrecognized key(s) in object: " + ", ".join(f"'{key}'" for key in extra))
        if issues:
            raise _integration_error(", ".join(issues))
        tools = tuple(allowed) if allowed is not None else None
        if kind == "plugin":
            servers.append(mcp.McpServer("plugin", item["id"], allowed_tools=tools))
        else:
            servers.append(
                mcp.McpServer("ephemeral_mcp", item["server_label"], item["server_url"], allowed_tools=tools)
            )
    return servers


def _mcp_error(exc: mcp.McpError) -> ApiError:
    """An MCP refusal in the v1 shape: a permission refusal is an ``invalid_request`` with
    ``code: null`` (as third-party clients' tests show it); a connection refusal is an
    ``mcp_connection_error`` (ephemeral servers, as bug-tracker #1993 reports it) or a
    ``plugin_connection_error`` (bug-tracker #2161)."""
    if exc.refusal == "permission":
        error: dict[str, Any] = {"message": exc.message, "type": "invalid_request", "param": "integrations"}
        error["code"] = None
    else:
        kind = "plugin_connection_error" if exc.server.kind == "plugin" else "mcp_connection_error"
        error = {"message": exc.message, "type": kind, "param": "integrations"}
    return ApiError(Reply(exc.status, {"error": error}))


def _chat_fields(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """Validate everything that does not need the model."""
    model = _str(body, "model", required=True)
    if "input" not in body or body["input"] is None:
        raise _required("input")
    new_messages, has_image = _input_items(body["input"])
    system_prompt = _str(body, "system_prompt")
    for name in ("temperature", "top_p", "min_p", "repeat_penalty"):
        _number(body, name)
    top_k = body.get("top_k")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, float))):
        raise _invalid_type("top_k", "an integer")
    setting = body.get("reasoning")
    if setting is not None and setting not in REASONING_OPTIONS:
        raise _error(
            400,
            "'reasoning' must be one of " + ", ".join(f"'{o}'" for o in REASONING_OPTIONS),
            code="invalid_enum_value",
            param="reasoning",
        )
    servers = _integrations(body.get("integrations"))
    previous = body.get("previous_response_id")
    history: list[dict[str, Any]] = []
    if previous is not None:
        if not isinstance(previous, str) or not previous.startswith("resp_"):
            raise _error(400, "'previous_response_id' must start with 'resp_'", param="previous_response_id")
        found = ctx.conversations.get(previous)
        if found is None:
            raise _error(400, f"No response found with id '{previous}'.", param="previous_response_id")
        history = found
    if system_prompt is not None:
        history = [
            {"role": "system", "content": system_prompt},
            *(m for m in history if m.get("role") != "system"),
        ]
    return {
        "model": model,
        "messages": history + new_messages,
        "has_image": has_image,
        "stream": _bool(body, "stream", False),
        "store": _bool(body, "store", True),
        "max_output_tokens": _int(body, "max_output_tokens", minimum=0),
        "context_length": _int(body, "context_length"),
        "reasoning": setting,
        "ttl": _ttl(body),
        "servers": servers,
    }


def tool_call_item(planned: mcp.PlannedCall) -> dict[str, Any]:
    """An MCP tool call as an ``output`` item (chat.md): ``tool_call``, or ``invalid_tool_call``
    whose ``metadata`` carries the arguments and provider only for invalid arguments
    (streaming-events.md, ``tool_call.failure``)."""
    call, server = planned.call, planned.server
    if not call.failed:
        return {
            "type": "tool_call",
            "tool": call.tool,
            "arguments": call.arguments,
            "output": call.output,
            "provider_info": server.provider_info(),
        }
    return {
        "type": "invalid_tool_call",
        "reason": call.failure_reason(),
        "metadata": _failure_metadata(planned),
    }


def _failure_metadata(planned: mcp.PlannedCall) -> dict[str, Any]:
    call = planned.call
    metadata: dict[str, Any] = {"type": call.fail, "tool_name": call.tool}
    if call.fail == "invalid_arguments":
        metadata["arguments"] = call.arguments
        metadata["provider_info"] = planned.server.provider_info()
    return metadata


def _chat_result(
    res: Resolved,
    gen: engine.Generation,
    store: bool,
    response_id: str | None,
    calls: list[mcp.PlannedCall] | None = None,
) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    if gen.reasoning:
        output.append({"type": "reasoning", "content": gen.reasoning})
    output.extend(tool_call_item(planned) for planned in calls or ())
    output.append({"type": "message", "content": gen.content})
    timing = _native_blocks(gen, res)["stats"]
    stats: dict[str, Any] = {
        "input_tokens": gen.prompt_tokens,
        "total_output_tokens": gen.completion_tokens,
        "reasoning_output_tokens": len(gen.reasoning_tokens),
        "tokens_per_second": timing["tokens_per_second"],
        "time_to_first_token_seconds": timing["time_to_first_token"],
    }
    if res.jit_loaded:
        stats["model_load_time_seconds"] = round(res.load_seconds, 3)
    out: dict[str, Any] = {"model_instance_id": res.identifier, "output": output, "stats": stats}
    if store and response_id is not None:
        out["response_id"] = response_id
    return out


def _event(kind: str, **payload: Any) -> SSEEvent:
    return SSEEvent(dumps({"type": kind, **payload}), event=kind, token=kind.endswith(".delta"))


def _tool_call_events(planned: mcp.PlannedCall) -> Iterator[StreamItem]:
    """``tool_call.start``, ``.arguments``, then ``.success`` or ``.failure`` (streaming-events.md).
    A call to a tool that does not exist has no provider: only its failure is sent."""
    call, info = planned.call, planned.server.provider_info()
    if call.fail != "invalid_name":
        yield _event("tool_call.start", tool=call.tool, provider_info=info)
        yield _event("tool_call.arguments", tool=call.tool, arguments=call.arguments, provider_info=info)
    if call.failed:
        yield _event("tool_call.failure", reason=call.failure_reason(), metadata=_failure_metadata(planned))
    else:
        yield _event(
            "tool_call.success",
            tool=call.tool,
            arguments=call.arguments,
            output=call.output,
            provider_info=info,
        )


def _chat_events(
    res: Resolved,
    gen: engine.Generation,
    result: dict[str, Any],
    calls: list[mcp.PlannedCall] | None = None,
) -> Iterator[StreamItem]:
    ident = res.identifier
    yield _event("chat.start", model_instance_id=ident)
    if res.jit_loaded:  # the load happened before the stream started; replay its events
        yield _event("model_load.start", model_instance_id=ident)
        for progress in (0.0, 0.5, 1.0):
            yield _event("model_load.progress", model_instance_id=ident, progress=progress)
        yield _event("model_load.end", model_instance_id=ident, load_time_seconds=round(res.load_seconds, 3))
    yield _event("prompt_processing.start")
    for progress in (0.0, 1.0):
        yield _event("prompt_processing.progress", progress=progress)
    yield _event("prompt_processing.end")
    if gen.reasoning_tokens:
        yield _event("reasoning.start")
        for token in gen.reasoning_tokens:
            yield _event("reasoning.delta", content=token)
        yield _event("reasoning.end")
    for planned in calls or ():
        yield from _tool_call_events(planned)
    yield _event("message.start")
    for token in gen.content_tokens:
        yield _event("message.delta", content=token)
    yield _event("message.end")
    yield _event("chat.end", result=result)


def chat(ctx: Context, req: ApiRequest) -> Reply:
    body = _body(req)
    fields = _chat_fields(ctx, body)
    servers = fields["servers"]
    try:  # before the model: a refused request loads nothing
        mcp.check(ctx, servers)
    except mcp.McpError as exc:
        raise _mcp_error(exc) from None
    ask = Ask(
        "chat",
        fields["model"],
        req.record,
        messages=fields["messages"],
        max_tokens=fields["max_output_tokens"],
        reasoning=lambda spec: _reasoning_on(spec, fields["reasoning"]),
        tools_allowed=False,
        ttl=fields["ttl"],
        context_length=fields["context_length"],
        wanted="chat",
    )
    found = exchange.plan(ctx, ask)
    spec = found.spec
    if isinstance(found, PendingLoad):
        _int(fields, "context_length", maximum=spec.max_context_length)
    _reasoning_on(spec, fields["reasoning"])  # an unsupported setting is refused before any load
    if fields["has_image"] and not spec.vision:
        raise _error(
            400, f'Model "{spec.key}" does not support images. Please use a model that does.', param="input"
        )
    calls = mcp.calls(ctx, servers, req.record)
    done = exchange.generate(ctx, ask, found)
    res, gen = done.resolved, done.generation
    messages = fields["messages"]
    response_id = None
    if fields["store"]:
        response_id = ctx.conversations.new_id()
        ctx.conversations.put(response_id, [*messages, {"role": "assistant", "content": gen.content}])
    result = _chat_result(res, gen, fields["store"], response_id, calls)
    if fields["stream"]:
        events = _chat_events(res, gen, result, calls)
        return Reply(200, stream=done.shape(events), model=res.identifier, notes=done.notes, claim=done.claim)
    return Reply(200, result, model=res.identifier, notes=done.notes, claim=done.claim, delay=done.delay)


# --------------------------------------------------------------------------------------------

ROUTES: dict[tuple[str, str], Callable[[Context, ApiRequest], Reply]] = {
    ("GET", "/api/v1/models"): list_models,
    ("POST", "/api/v1/models/load"): load,
    ("POST", "/api/v1/models/unload"): unload,
    ("POST", "/api/v1/models/download"): download,
    ("POST", "/api/v1/chat"): chat,
}
PATTERN_ROUTES: list[tuple[str, re.Pattern[str], Callable[..., Reply]]] = [
    ("GET", re.compile(r"/api/v1/models/download/status/(?P<job_id>[^/]+)"), download_status),
]
