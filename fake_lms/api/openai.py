"""OpenAI-compatible endpoints (spec §1) and their /api/v0 twins (spec §2.1).

Each handler is a pure function ``(ctx, request) -> Reply``; streaming replies carry a generator
of :class:`SSEEvent` built from the same :class:`~fake_lms.model.engine.Generation` as the JSON reply,
so a streamed and a non-streamed call for the same request say the same thing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from fake_lms.api import errors
from fake_lms.api.errors import ApiError
from fake_lms.api.fields import object_body, opt_int, sampling, stop_list
from fake_lms.api.types import ApiRequest, Reply, SSEEvent, StreamItem, dumps, json_str
from fake_lms.core import exchange
from fake_lms.core.context import Context, Resolved
from fake_lms.core.exchange import Ask
from fake_lms.model import engine, reasoning
from fake_lms.model.catalog import ModelSpec

DONE = SSEEvent("[DONE]")
ROLES = {"system", "user", "assistant", "tool", "developer", "function"}


_RNG = random.Random()  # ids need to be unique-looking, not secret: 20x cheaper than `secrets`


def _rand36(n: int) -> str:
    """``n`` random lowercase alphanumerics (hex digits: the same shape as LM Studio's base36 ids)."""
    return format(_RNG.getrandbits(4 * n), f"0{n}x")


def _messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    if "messages" not in body or body["messages"] is None:
        raise ApiError(errors.messages_required())
    messages = body["messages"]
    if not isinstance(messages, list):
        raise ApiError(errors.invalid_field("'messages' must be an array of message objects", "messages"))
    if not messages:
        raise ApiError(errors.invalid_field("'messages' must contain at least one message", "messages"))
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ApiError(
                errors.invalid_field(f"'messages[{i}]' must be an object with a string 'role'", "messages")
            )
        if message["role"] not in ROLES:
            raise ApiError(
                errors.invalid_field(
                    f"'messages[{i}].role' must be one of system, user, assistant, tool; got "
                    f"{message['role']!r}",
                    "messages",
                )
            )
        if not isinstance(message.get("content"), (str, list)):
            # missing and null too, even beside tool_calls (fidelity review row 9;
            # nugget/thane-ai-agent#1229: an omitted content, LM Studio 0.4.x, July 2026)
            raise ApiError(errors.plain(400, CONTENT_REFUSED))
        if message["role"] == "developer":
            message = {**message, "role": "system"}
        out.append(message)
    return out


# LM Studio's words, with its doubled full stop (nugget/thane-ai-agent#1229 quotes the body)
CONTENT_REFUSED = "Invalid 'content': 'content' field must be a string or an array of objects.."
IMAGES_UNSUPPORTED = "Model does not support images. Please use a model that does."
IMAGE_URL_UNSUPPORTED = "Only base64-encoded images (data: URLs) are supported, not http(s) URLs."


def _image_urls(messages: list[dict[str, Any]]) -> list[str]:
    """The URLs of the ``image_url`` parts of the messages."""
    urls = []
    for message in messages:
        content = message.get("content")
        for part in content if isinstance(content, list) else ():
            if isinstance(part, dict) and part.get("type") == "image_url":
                image = part.get("image_url")
                url = image.get("url") if isinstance(image, dict) else image
                urls.append(url if isinstance(url, str) else "")
    return urls


def _check_images(urls: list[str], spec: ModelSpec) -> None:
    """LM Studio refuses images for a model without vision (bug-tracker #908), and images given
    by http(s) URL rather than as base64 data (#1120)."""
    if not urls:
        return
    if not spec.vision:
        raise ApiError(errors.plain(400, IMAGES_UNSUPPORTED))
    if any(url.startswith(("http://", "https://")) for url in urls):
        raise ApiError(errors.plain(400, IMAGE_URL_UNSUPPORTED))


def _tools(body: Mapping[str, Any]) -> tuple[list[Any] | None, Any]:
    tools = body.get("tools")
    if tools is None:
        return None, None
    if not isinstance(tools, list):
        raise ApiError(errors.invalid_field("'tools' must be an array", "tools"))
    names = []
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise ApiError(
                errors.invalid_field(
                    f'\'tools[{i}]\' must be {{"type": "function", "function": {{"name": ...}}}}', "tools"
                )
            )
        names.append(fn["name"])
    choice = body.get("tool_choice", "auto")
    if choice is None:
        choice = "auto"
    if isinstance(choice, str):
        if choice not in ("auto", "none", "required"):
            raise ApiError(
                errors.invalid_field(
                    "'tool_choice' must be 'auto', 'none', 'required' or a function", "tool_choice"
                )
            )
    elif isinstance(choice, dict):
        wanted = (
            (choice.get("function") or {}).get("name")
            if isinstance(choice.get("function"), dict)
            else choice.get("name")
        )
        if wanted not in names:
            raise ApiError(
                errors.invalid_field(
                    f"'tool_choice' names function {wanted!r}, which is not in 'tools'", "tool_choice"
                )
            )
    else:
        raise ApiError(errors.invalid_field("'tool_choice' must be a string or an object", "tool_choice"))
    return tools, choice


def _json_schema(body: Mapping[str, Any]) -> dict[str, Any] | None:
    fmt = body.get("response_format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict):
        raise ApiError(errors.invalid_field("'response_format' must be an object", "response_format"))
    kind = fmt.get("type")
    if kind == "text":
        return None
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise ApiError(
                errors.invalid_field(
                    "'response_format.json_schema.schema' must be a JSON schema object", "response_format"
                )
            )
        return schema
    raise ApiError(errors.json_object_rejected())


def reasoning_requested(body: Mapping[str, Any]) -> Callable[[ModelSpec], reasoning.Choice]:
    """The reasoning a request gets from a model: the model's default unless the request names a
    setting (``reasoning_effort``, or ``reasoning.effort`` / a ``reasoning`` string) the model
    offers; another setting falls back to the default with LM Studio's warning
    (:mod:`fake_lms.model.reasoning`)."""
    requested = body.get("reasoning_effort")
    if requested is None:
        nested = body.get("reasoning")
        requested = nested.get("effort") if isinstance(nested, Mapping) else nested
    return lambda spec: reasoning.choose(spec, requested)


def _usage(gen: engine.Generation) -> dict[str, Any]:
    return {
        "prompt_tokens": gen.prompt_tokens,
        "completion_tokens": gen.completion_tokens,
        "total_tokens": gen.total_tokens,
        "completion_tokens_details": {"reasoning_tokens": len(gen.reasoning_tokens)},
    }


def _reasoning_key(res: Resolved) -> str:
    return "reasoning" if (res.spec.architecture or "").startswith("gpt-oss") else "reasoning_content"


def draft_model(body: Mapping[str, Any], res: Resolved) -> str | None:
    """The speculative-decoding draft model of a request: its ``draft_model`` (LM Studio 0.3.10),
    else the one the instance was loaded with (``lms load --speculative-draft-model``)."""
    named = body.get("draft_model")
    if isinstance(named, str) and named:
        return named
    loaded = res.instance.config.get("speculative_draft_model")
    return loaded if isinstance(loaded, str) and loaded else None


def _native_blocks(gen: engine.Generation, res: Resolved, draft: str | None = None) -> dict[str, Any]:
    tokens = max(gen.completion_tokens, 1)
    gen_time = round(tokens / 50.0, 3)
    stats: dict[str, Any] = {
        "tokens_per_second": tokens / gen_time if gen_time else 0.0,
        "time_to_first_token": 0.05,
        "generation_time": gen_time,
        "stop_reason": gen.stop_reason,
    }
    if draft is not None:  # speculative decoding's counters (API changelog 0.3.10)
        counts = engine.draft_counts(gen.completion_tokens)
        stats["draft_model"] = draft
        stats["total_draft_tokens_count"] = counts.total
        stats["accepted_draft_tokens_count"] = counts.accepted
        stats["rejected_draft_tokens_count"] = counts.rejected
        stats["ignored_draft_tokens_count"] = counts.ignored
    return {
        "stats": stats,
        "model_info": {
            "arch": res.spec.architecture,
            "quant": res.spec.quantization,
            "format": res.spec.format,
            "context_length": res.instance.context_length,
        },
        "runtime": {
            "name": "llama.cpp-linux-x86_64-avx2" if res.spec.format == "gguf" else "mlx-llm-mac-arm64",
            "version": "1.52.0",
            "supported_formats": [res.spec.format],
        },
    }


# --------------------------------------------------------------------------------------------
# GET /v1/models


def list_models(ctx: Context, req: ApiRequest) -> Reply:
    state = ctx.home.snapshot()
    if state.settings.jit:
        ids = [spec.key for spec in ctx.home.catalog if spec.key in state.downloaded]
    else:
        ids = [inst.identifier for inst in state.live_instances()]
    return Reply(
        200,
        {
            "data": [{"id": i, "object": "model", "owned_by": "organization_owner"} for i in ids],
            "object": "list",
        },
    )


# --------------------------------------------------------------------------------------------
# POST /v1/chat/completions, /api/v0/chat/completions


def chat_completions(ctx: Context, req: ApiRequest, *, native: bool = False) -> Reply:
    body = object_body(req)
    messages = _messages(body)
    tools, tool_choice = _tools(body)
    schema = _json_schema(body)
    max_tokens = opt_int(body, "max_tokens", "max_completion_tokens")
    stop = stop_list(body)
    sampling(body)
    stream = bool(body.get("stream"))
    opts = body.get("stream_options")
    include_usage = isinstance(opts, dict) and bool(opts.get("include_usage"))
    ask = Ask(
        "chat",
        body.get("model"),
        req.record,
        messages=messages,
        tools=tools,
        tool_choice=tool_choice,
        json_schema=schema,
        max_tokens=max_tokens,
        stop=stop,
        reasoning=reasoning_requested(body),
        ttl=body.get("ttl"),
    )
    found = exchange.plan(ctx, ask)
    _check_images(_image_urls(messages), found.spec)  # before a JIT load, as LM Studio checks
    done = exchange.generate(ctx, ask, found)
    res, gen = done.resolved, done.generation
    chat_id = "chatcmpl-" + _rand36(21)
    created = int(time.time())
    if stream:
        events = done.shape(_chat_stream(chat_id, created, res, gen, include_usage))
        return Reply(
            200, stream=events, model=res.identifier, usage=done.usage, notes=done.notes, claim=done.claim
        )
    raw = chat_completion_json(chat_id, created, res, gen, native=native, draft=draft_model(body, res))
    return Reply(
        200,
        raw=raw,
        model=res.identifier,
        usage=done.usage,
        notes=done.notes,
        claim=done.claim,
        delay=done.delay,
    )


def chat_completion_json(
    chat_id: str,
    created: int,
    res: Resolved,
    gen: engine.Generation,
    *,
    native: bool = False,
    draft: str | None = None,
) -> bytes:
    """The ``chat.completion`` object as JSON: byte for byte what :func:`dumps` writes for it
    (``tests/test_chat_body.py`` holds the object and compares), from a template, because the
    encoder walking the nested object was a fifth of a plain call's handling time."""
    ident = json_str(res.identifier)
    if gen.tool_calls:  # "" beside tool calls, as LM Studio 0.4.x sends (docs/fidelity.md)
        content = '""'
        calls = dumps(
            [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in gen.tool_calls
            ]
        )
    else:
        content, calls = json_str(gen.content), "[]"
    message = (
        f'{{"role":"assistant","content":{content},"{_reasoning_key(res)}":{json_str(gen.reasoning)},'
        f'"tool_calls":{calls}}}'
    )
    usage = (
        f'{{"prompt_tokens":{gen.prompt_tokens},"completion_tokens":{gen.completion_tokens},'
        f'"total_tokens":{gen.total_tokens},'
        f'"completion_tokens_details":{{"reasoning_tokens":{len(gen.reasoning_tokens)}}}}}'
    )
    stats, rest = "{}", ""
    if native:  # /api/v0: LM Studio's stats, model_info and runtime blocks
        blocks = _native_blocks(gen, res, draft)
        stats = dumps(blocks["stats"])
        rest = f',"model_info":{dumps(blocks["model_info"])},"runtime":{dumps(blocks["runtime"])}'
    return (
        f'{{"id":{json_str(chat_id)},"object":"chat.completion","created":{created},"model":{ident},'
        f'"choices":[{{"index":0,"message":{message},"logprobs":null,'
        f'"finish_reason":{json_str(gen.finish_reason)}}}],"usage":{usage},"stats":{stats},'
        f'"system_fingerprint":{ident}{rest}}}'
    ).encode()


def _chat_stream(
    chat_id: str, created: int, res: Resolved, gen: engine.Generation, include_usage: bool
) -> Iterator[StreamItem]:
    ident = res.identifier
    head = (
        f'{{"id":"{chat_id}","object":"chat.completion.chunk","created":{created},'
        f'"model":{dumps(ident)},"system_fingerprint":{dumps(ident)},"choices":['
    )
    tail = "]}"

    def chunk(delta: dict[str, Any], finish: str | None = None) -> SSEEvent:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return SSEEvent(head + dumps(choice) + tail, token=finish is None)

    reasoning_key = _reasoning_key(res)
    for tok in gen.reasoning_tokens:
        yield chunk({"role": "assistant", reasoning_key: tok})
    for tok in gen.content_tokens:
        yield chunk({"role": "assistant", "content": tok})
    for index, call in enumerate(gen.tool_calls):
        yield chunk(
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "index": index,
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": ""},
                    }
                ],
            }
        )
        for frag in engine.tokenize(call.arguments):
            yield chunk(
                {"role": "assistant", "tool_calls": [{"index": index, "function": {"arguments": frag}}]}
            )
    yield chunk({}, gen.finish_reason)
    if include_usage:
        yield SSEEvent(head + '],"usage":' + dumps(_usage(gen)) + "}")
    yield DONE


# --------------------------------------------------------------------------------------------
# POST /v1/completions, /api/v0/completions


def completions(ctx: Context, req: ApiRequest, *, native: bool = False) -> Reply:
    body = object_body(req)
    prompt = body.get("prompt")
    if prompt is None:
        raise ApiError(errors.field_required("prompt"))
    if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
        prompt = "".join(prompt)
    if not isinstance(prompt, str):
        raise ApiError(errors.invalid_field("'prompt' must be a string", "prompt"))
    max_tokens = opt_int(body, "max_tokens")
    stop = stop_list(body)
    sampling(body)
    stream = bool(body.get("stream"))
    opts = body.get("stream_options")
    include_usage = isinstance(opts, dict) and bool(opts.get("include_usage"))
    ask = Ask(
        "complete",
        body.get("model"),
        req.record,
        messages=[{"role": "user", "content": prompt}],
        prompt=prompt,
        max_tokens=max_tokens,
        stop=stop,
        ttl=body.get("ttl"),
        wanted="completions",
    )
    done = exchange.generate(ctx, ask)
    res, gen = done.resolved, done.generation
    cmpl_id = "cmpl-" + _rand36(21)
    created = int(time.time())
    usage = {
        "prompt_tokens": gen.prompt_tokens,
        "completion_tokens": gen.completion_tokens,
        "total_tokens": gen.total_tokens,
    }
    if stream:

        def events() -> Iterator[StreamItem]:
            base = {"id": cmpl_id, "object": "text_completion", "created": created, "model": res.identifier}
            for tok in gen.content_tokens:
                choice = {"index": 0, "text": tok, "logprobs": None, "finish_reason": None}
                yield SSEEvent(dumps({**base, "choices": [choice]}), token=bool(tok))
            yield SSEEvent(
                dumps(
                    {
                        **base,
                        "choices": [
                            {"index": 0, "text": "", "logprobs": None, "finish_reason": gen.finish_reason}
                        ],
                    }
                )
            )
            if include_usage:
                yield SSEEvent(dumps({**base, "choices": [], "usage": usage}))
            yield DONE

        return Reply(
            200,
            stream=done.shape(events()),
            model=res.identifier,
            usage=done.usage,
            notes=done.notes,
            claim=done.claim,
        )
    out: dict[str, Any] = {
        "id": cmpl_id,
        "object": "text_completion",
        "created": created,
        "model": res.identifier,
        "choices": [{"index": 0, "text": gen.content, "logprobs": None, "finish_reason": gen.finish_reason}],
        "usage": usage,
    }
    if native:
        out.update(_native_blocks(gen, res, draft_model(body, res)))
    return Reply(
        200, out, model=res.identifier, usage=done.usage, notes=done.notes, claim=done.claim, delay=done.delay
    )


# --------------------------------------------------------------------------------------------
# POST /v1/embeddings, /api/v0/embeddings


def _embedding_inputs(body: Mapping[str, Any]) -> list[str]:
    """A string or an array of strings; LM Studio refuses token arrays (bug-tracker #692)."""
    value = body.get("input")
    if value is None:
        raise ApiError(errors.field_required("input"))
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    message = "'input' field must be a string or an array of strings"
    raise ApiError(errors.invalid_field(message, "input"))


def embeddings(ctx: Context, req: ApiRequest, *, native: bool = False) -> Reply:
    body = object_body(req)
    texts = _embedding_inputs(body)
    found = exchange.embed(ctx, texts, model=body.get("model"), record=req.record, ttl=body.get("ttl"))
    data = [{"object": "embedding", "embedding": v, "index": i} for i, v in enumerate(found.vectors)]
    return Reply(
        200,
        {
            "object": "list",
            "data": data,
            "model": found.resolved.spec.variant_key,
            "usage": {"prompt_tokens": found.tokens, "total_tokens": found.tokens},
        },
        model=found.identifier,
        usage=(found.tokens, 0),
        notes=found.notes,
        claim=found.claim,
        delay=found.delay,
    )
