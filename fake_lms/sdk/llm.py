"""The ``llm`` namespace: the shared model endpoints plus ``predict``, ``completeRawText`` and
``applyPromptTemplate`` (spec §6.3).

A prediction streams ``promptProcessingProgress``, ``fragment``s (or the tool-call messages),
then ``success`` with all four keys both SDKs require. A ``cancel`` from the client stops the
fragments and ends with ``stopReason: "userStopped"`` and the content so far (spec §9).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from fake_lms.sdk import models
from fake_lms.sdk.backend import Fragment, Prediction, PredictRequest
from fake_lms.sdk.protocol import (
    Close,
    SdkError,
    SendRaw,
    Wait,
    bad_parameter,
    kv,
    stack_fields,
    stack_layer_names,
)
from fake_lms.sdk.registry import Channel, Endpoints, RpcCall, specifier

COMPLETE_MODE_LAYER = "completeModeFormatting"  # the Python SDK's complete() adds it (spec §7)


# -- history and config -------------------------------------------------------------------------


def history_messages(endpoint: str, history: Any) -> list[dict[str, Any]]:
    """The SDK's chat history (``{messages:[{role, content:[parts]}]}``) as OpenAI-style messages."""
    if not isinstance(history, Mapping) or not isinstance(history.get("messages"), list):
        raise bad_parameter(endpoint, "'history' must be an object with a 'messages' list")
    out: list[dict[str, Any]] = []
    for message in history["messages"]:
        if not isinstance(message, Mapping) or message.get("role") not in (
            "system",
            "user",
            "assistant",
            "tool",
        ):
            raise bad_parameter(
                endpoint, "every history message needs a role: system, user, assistant or tool"
            )
        parts = message.get("content")
        if not isinstance(parts, list):
            raise bad_parameter(endpoint, "a history message's 'content' must be a list of parts")
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        for part in parts:
            if not isinstance(part, Mapping):
                continue
            kind = part.get("type")
            if kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind == "file":
                texts.append(f"[file {part.get('name', '')}]")
            elif kind == "toolCallRequest" and isinstance(part.get("toolCallRequest"), Mapping):
                req = part["toolCallRequest"]
                calls.append(
                    {
                        "id": str(req.get("id") or ""),
                        "type": "function",
                        "function": {
                            "name": str(req.get("name") or ""),
                            "arguments": json.dumps(req.get("arguments") or {}, separators=(",", ":")),
                        },
                    }
                )
            elif kind == "toolCallResult":
                results.append(part)
        if results:
            for result in results:
                content = result.get("content")
                out.append(
                    {
                        "role": "tool",
                        "content": content if isinstance(content, str) else json.dumps(content),
                        "tool_call_id": str(result.get("toolCallId") or ""),
                    }
                )
            continue
        entry: dict[str, Any] = {"role": message["role"], "content": "\n".join(texts)}
        if calls:
            entry["tool_calls"] = calls
        out.append(entry)
    return out


def tools_of(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    value = config.get("llm.prediction.tools")
    if not isinstance(value, Mapping) or value.get("type") != "toolArray":
        return []
    return [t for t in value.get("tools") or () if isinstance(t, Mapping) and t.get("type") == "function"]


# -- wire shapes --------------------------------------------------------------------------------


def fragment_message(fragment: Fragment) -> dict[str, Any]:
    return {
        "type": "fragment",
        "fragment": {
            "content": fragment.content,
            "tokensCount": fragment.tokens_count,
            "containsDrafted": False,
            "reasoningType": fragment.reasoning_type,
            "isStructural": fragment.reasoning_type in ("reasoningStartTag", "reasoningEndTag"),
        },
    }


def _stats(prediction: Prediction, stop_reason: str, predicted: int) -> dict[str, Any]:
    seconds = prediction.first_token_seconds + prediction.token_seconds * predicted
    return {
        "stopReason": stop_reason,
        "tokensPerSecond": round(predicted / seconds, 3) if seconds > 0 else 100.0,
        "timeToFirstTokenSec": prediction.first_token_seconds or 0.01,
        "totalTimeSec": round(seconds, 6) or 0.01,
        "promptTokensCount": prediction.prompt_tokens,
        "predictedTokensCount": predicted,
        "totalTokensCount": prediction.prompt_tokens + predicted,
    }


def _prompt_progress(prompt_tokens: int, done: bool) -> dict[str, Any]:
    processed = prompt_tokens if done else 0
    return {
        "type": "promptProcessingProgress",
        "progress": 1.0 if done else 0.0,
        "details": {
            "cachedTokenCount": 0,
            "totalPromptTokenCount": prompt_tokens,
            "processedPromptTokenCount": processed,
            "unprocessedPromptTokenCount": prompt_tokens - processed,
        },
    }


def stream_prediction(channel: Channel, request: PredictRequest) -> Iterator[Any]:
    """Run one prediction on a channel: the messages, the pacing and the faults the backend asks for."""
    prediction = channel.backend.predict(request)
    yield _prompt_progress(prediction.prompt_tokens, False)
    yield _prompt_progress(prediction.prompt_tokens, True)
    if prediction.first_token_seconds > 0 and not channel.cancelled:
        yield Wait(prediction.first_token_seconds)
    sent: list[Fragment] = []
    total = len(prediction.fragments)
    for index in range(total + 1):
        if prediction.cut_after == index:
            yield Close(abrupt=True)
            return
        if prediction.error_after is not None and prediction.error_after[0] == index:
            raise SdkError(prediction.error_after[1])
        if prediction.garbage_after == index:
            yield SendRaw(
                '{"type":"channelSend","channelId":' + str(channel.id) + ',"message":{"type":"fragm'
            )
        if index == total or channel.cancelled:
            break
        if prediction.stall_after is not None and prediction.stall_after[0] == index:
            yield Wait(prediction.stall_after[1])
            if channel.cancelled:
                break
        if index and prediction.token_seconds > 0:
            yield Wait(prediction.token_seconds)
            if channel.cancelled:
                break
        fragment = prediction.fragments[index]
        yield fragment_message(fragment)
        sent.append(fragment)
    cancelled = channel.cancelled
    stop_reason = "userStopped" if cancelled else prediction.stop_reason
    predicted = sum(f.tokens_count for f in sent)
    if not cancelled:
        for call in prediction.tool_calls:
            yield {"type": "toolCallGenerationStart", "toolCallId": call.get("id")}
            yield {"type": "toolCallGenerationNameReceived", "name": call["name"]}
            arguments = json.dumps(call.get("arguments") or {}, separators=(",", ":"))
            yield {"type": "toolCallGenerationArgumentFragmentGenerated", "content": arguments}
            yield {"type": "toolCallGenerationEnd", "toolCallRequest": call}
        predicted = prediction.predicted_tokens
    yield {
        "type": "success",
        "stats": _stats(prediction, stop_reason, predicted),
        "modelInfo": prediction.model_info,
        "loadModelConfig": prediction.load_config,
        "predictionConfig": kv(request.config),
    }
    output = "".join(f.content for f in sent if f.reasoning_type == "none")
    prompt = request.raw_prompt if request.raw_prompt is not None else _prompt_text(request.messages)
    info = prediction.model_info
    channel.backend.log_prediction(str(info.get("identifier")), str(info.get("path")), prompt, output)


def _prompt_text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(f"{m['role']}: {m.get('content') or ''}" for m in messages)


# -- endpoints ----------------------------------------------------------------------------------


def predict(channel: Channel) -> Iterator[Any]:
    param = channel.param()
    spec = specifier(channel.endpoint, param.get("modelSpecifier"))
    messages = history_messages(channel.endpoint, param.get("history"))
    stack = param.get("predictionConfigStack")
    config = stack_fields(stack)
    raw_prompt = None
    if COMPLETE_MODE_LAYER in stack_layer_names(stack):  # Python's complete(): the history is the prompt
        raw_prompt = "".join(str(m.get("content") or "") for m in messages)
    request = PredictRequest(spec, messages, config, raw_prompt, tools_of(config))
    yield from stream_prediction(channel, request)


def complete_raw_text(channel: Channel) -> Iterator[Any]:
    param = channel.param()
    spec = specifier(channel.endpoint, param.get("modelSpecifier"))
    prompt = param.get("rawPrompt")
    if not isinstance(prompt, str):
        raise bad_parameter(channel.endpoint, "'rawPrompt' must be a string")
    config = stack_fields(param.get("predictionConfigStack"))
    messages = [{"role": "user", "content": prompt}]
    yield from stream_prediction(channel, PredictRequest(spec, messages, config, prompt))


def apply_prompt_template(call: RpcCall) -> Any:
    param = call.param()
    spec = specifier(call.endpoint, param.get("specifier"))
    messages = history_messages(call.endpoint, param.get("history"))
    return {"formatted": call.backend.apply_prompt_template(spec, messages)}


ENDPOINTS = Endpoints(
    rpcs={**models.rpcs("llm"), "applyPromptTemplate": apply_prompt_template},
    channels={**models.channels("llm"), "predict": predict, "completeRawText": complete_raw_text},
)
