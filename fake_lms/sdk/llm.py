"""The ``llm`` namespace: the shared model endpoints plus ``predict``, ``completeRawText`` and
``applyPromptTemplate`` (spec §6.3).

A prediction streams ``promptProcessingProgress``, ``fragment``s (or the tool-call messages),
then ``success`` with all four keys both SDKs require. A ``cancel`` from the client stops the
fragments and ends with ``stopReason: "userStopped"`` and the content so far (spec §9).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from fake_lms.model import engine
from fake_lms.sdk import models
from fake_lms.sdk.backend import Fragment, Prediction, PredictRequest
from fake_lms.sdk.protocol import (
    Close,
    Wait,
    bad_parameter,
    kv,
    stack_fields,
    stack_layer_names,
)
from fake_lms.sdk.registry import Channel, Endpoints, RpcCall, specifier

COMPLETE_MODE_LAYER = "completeModeFormatting"  # the Python SDK's complete() adds it (spec §7)
NOMINAL_TOKENS_PER_SECOND = 100.0
NOMINAL_FIRST_TOKEN_SECONDS = 0.01


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
        results: list[Mapping[str, Any]] = []
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
    tools = value.get("tools")
    if not isinstance(tools, list):
        return []
    return [dict(t) for t in tools if isinstance(t, Mapping) and t.get("type") == "function"]


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


DRAFT_MODEL_KEY = "llm.prediction.speculativeDecoding.draftModel"  # the SDKs' ``draftModel``


def _stats(
    prediction: Prediction, stop_reason: str, predicted: int, draft_model: Any = None
) -> dict[str, Any]:
    # the fake does not time itself (the session knows no clock): nominal timings
    stats: dict[str, Any] = {
        "stopReason": stop_reason,
        "tokensPerSecond": NOMINAL_TOKENS_PER_SECOND,
        "timeToFirstTokenSec": NOMINAL_FIRST_TOKEN_SECONDS,
        "totalTimeSec": round(NOMINAL_FIRST_TOKEN_SECONDS + predicted / NOMINAL_TOKENS_PER_SECOND, 6),
        "promptTokensCount": prediction.prompt_tokens,
        "predictedTokensCount": predicted,
        "totalTokensCount": prediction.prompt_tokens + predicted,
    }
    if isinstance(draft_model, str) and draft_model:  # LLMPredictionStats' draft fields
        counts = engine.draft_counts(predicted)
        stats["usedDraftModelKey"] = draft_model
        stats["totalDraftTokensCount"] = counts.total
        stats["acceptedDraftTokensCount"] = counts.accepted
        stats["rejectedDraftTokensCount"] = counts.rejected
        stats["ignoredDraftTokensCount"] = counts.ignored
    return stats


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


@dataclass(frozen=True)
class Event:
    """One message of a prediction, before the test's stream faults shape the stream (``token``:
    it carries generated text, so ``slow`` paces it)."""

    message: dict[str, Any] | None  # None: the final ``success``, built once the stream has run
    token: bool = False
    fragment: Fragment | None = None


def _events(prediction: Prediction) -> Iterator[Event]:
    for fragment in prediction.fragments:
        yield Event(fragment_message(fragment), True, fragment)
    for call in prediction.tool_calls:
        yield Event({"type": "toolCallGenerationStart", "toolCallId": call.get("id")})
        yield Event({"type": "toolCallGenerationNameReceived", "name": call["name"]})
        arguments = json.dumps(call.get("arguments") or {}, separators=(",", ":"))
        yield Event({"type": "toolCallGenerationArgumentFragmentGenerated", "content": arguments}, True)
        yield Event({"type": "toolCallGenerationEnd", "toolCallRequest": call})
    yield Event(None)


def stream_prediction(channel: Channel, request: PredictRequest) -> Iterator[Any]:
    """Run one prediction on a channel: its messages, with the pacing and faults the backend's
    ``shape`` puts between them, and a ``cancel`` honoured between any two of them."""
    prediction = channel.backend.predict(request)
    yield _prompt_progress(prediction.prompt_tokens, False)
    yield _prompt_progress(prediction.prompt_tokens, True)
    sent: list[Fragment] = []
    finished = False
    shaped = prediction.shape(_events(prediction))
    try:
        for item in shaped:
            if isinstance(item, Wait) and channel.cancelled:
                break  # a cancel ends a wait (a stall, or the turn in the model's queue) at once
            if not isinstance(item, Event):
                yield item  # Wait, Close or SendRaw
                if isinstance(item, Close):
                    return
                continue
            if channel.cancelled:
                break
            if item.message is None:
                finished = True
                break
            yield item.message
            if item.fragment is not None:
                sent.append(item.fragment)
    finally:
        close = getattr(shaped, "close", None)
        if close is not None:
            close()  # the stream's end frees the model's slot, whatever ended it
    if not finished and not channel.cancelled:
        return  # the shaped stream ended early without a failure: nothing more to send
    stop_reason = prediction.stop_reason if finished else "userStopped"
    predicted = prediction.predicted_tokens if finished else sum(f.tokens_count for f in sent)
    yield {
        "type": "success",
        "stats": _stats(prediction, stop_reason, predicted, request.config.get(DRAFT_MODEL_KEY)),
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
    request = PredictRequest(spec, messages, config, prompt, endpoint="completeRawText")
    yield from stream_prediction(channel, request)


def apply_prompt_template(call: RpcCall) -> Any:
    param = call.param()
    spec = specifier(call.endpoint, param.get("specifier"))
    messages = history_messages(call.endpoint, param.get("history"))
    return {"formatted": call.backend.apply_prompt_template(spec, messages)}


ENDPOINTS = Endpoints(
    rpcs={**models.rpcs("llm"), "applyPromptTemplate": apply_prompt_template},
    channels={**models.channels("llm"), "predict": predict, "completeRawText": complete_raw_text},
)
