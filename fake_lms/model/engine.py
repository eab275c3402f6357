"""Deterministic generation: replies, token counts, tool calls, schema-valid JSON and embeddings.

The same request always produces the same content. Token counts are consistent everywhere: a
"token" is a word or a punctuation mark together with the whitespace before it, so joining a
reply's tokens gives the reply back, ``usage.completion_tokens`` equals the number of streamed
content chunks, and ``max_tokens=N`` cuts the reply after exactly N tokens.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import random
import re
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from fake_lms.model.catalog import ModelSpec

_TOKEN_RE = re.compile(r"\s*[\w']+|\s*[^\w\s]|\s+$")
_WORD_RE = re.compile(r"[\w']+")
MESSAGE_OVERHEAD_TOKENS = 4
REPLY_PRIMING_TOKENS = 3
SCHEMA_BUDGET_CHARS = 1 << 20  # never more than this, whatever the limits


def _budget(spec: ModelSpec, max_tokens: int | None) -> int:
    """Characters a schema instance may take: a model writes at most ``max_tokens`` tokens (or,
    without a limit, until its context is full), at most ~8 characters each."""
    tokens = spec.default_context_length if max_tokens is None or max_tokens < 0 else max_tokens
    return min(SCHEMA_BUDGET_CHARS, 8 * tokens + 64)


def tokenize(text: str) -> list[str]:
    """Split text into tokens whose concatenation is the text."""
    if not text:
        return []
    return _TOKEN_RE.findall(text)


def count_tokens(text: str) -> int:
    return len(tokenize(text))


def content_text(content: Any) -> str:
    """Text of an OpenAI message ``content``: a string, or a list of content parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping):
                text = part.get("text")
                if text is None and isinstance(part.get("content"), str):
                    text = part["content"]
                if isinstance(text, str):
                    parts.append(text)
        return "\n".join(parts)
    return str(content)


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return content_text(message.get("content")).strip()
    return ""


def prompt_token_count(
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Any] | None = None,
    counted: Mapping[str, int] | None = None,
) -> int:
    """Prompt tokens: message text + a fixed per-message overhead + the tool definitions
    (LM Studio counts the system prompt and tools since 0.3.17). ``counted`` holds token counts
    of texts already tokenized for this request."""
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        text = content_text(message.get("content"))
        known = counted.get(text) if counted else None
        total += MESSAGE_OVERHEAD_TOKENS + (count_tokens(text) if known is None else known)
        for call in message.get("tool_calls") or ():
            if isinstance(call, Mapping):
                fn = call.get("function") or {}
                total += count_tokens(str(fn.get("name", ""))) + count_tokens(str(fn.get("arguments", "")))
    if tools:
        total += count_tokens(json.dumps(tools, sort_keys=True))
    return total


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def default_reply(model_key: str, messages: Sequence[Mapping[str, Any]]) -> str:
    """A plausible, deterministic reply derived from the conversation."""
    return _default_reply(model_key, messages)[0]


_ECHO_HEAD = 'You said: "'


@lru_cache(maxsize=256)
def _echo_frame(model_key: str) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    """The fixed text around the question echoed by the default reply, and its tokens."""
    tail = f'". This is a reply from {model_key} on the fake LM Studio.'
    return tuple(tokenize(_ECHO_HEAD)), tail, tuple(tokenize(tail))


def _default_reply(
    model_key: str, messages: Sequence[Mapping[str, Any]]
) -> tuple[str, list[str], tuple[str, int] | None]:
    """The default reply, its tokens, and the question it echoes with that question's token
    count (``None`` when it echoes none). Only the question is tokenized
    here: the text around it begins and ends at a quote, a token of its own, so the parts
    tokenize alone exactly as they do together (``tests/test_engine.py`` checks this)."""
    if messages and messages[-1].get("role") == "tool":
        result = _short(content_text(messages[-1].get("content")), 300)
        text = f"Based on the tool result, here is the answer: {result}"
        return text, tokenize(text), None
    question = last_user_text(messages)
    if not question:
        text = "Hello! How can I help you today?"
        return text, tokenize(text), None
    echoed = _short(question)
    echoed_tokens = tokenize(echoed)
    head_tokens, tail, tail_tokens = _echo_frame(model_key)
    tokens = [*head_tokens, *echoed_tokens, *tail_tokens]
    return f"{_ECHO_HEAD}{echoed}{tail}", tokens, (echoed, len(echoed_tokens))


def reasoning_text(messages: Sequence[Mapping[str, Any]]) -> str:
    question = last_user_text(messages)
    return f"The user wrote: {_short(question, 120)}. I will answer directly." if question else ""


# --------------------------------------------------------------------------------------------
# tool calls


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as LM Studio sends it


def dumps_call(call: ToolCall) -> str:
    """A tool call as the model writes it before LM Studio parses it out of the text."""
    return json.dumps({"name": call.name, "arguments": json.loads(call.arguments)}, ensure_ascii=False)


def tool_call_id(*parts: str) -> str:
    """LM Studio-style tool call id: 9 digits."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return str(int.from_bytes(digest[:8], "big") % 900_000_000 + 100_000_000)


def _tool_function(tool: Any) -> Mapping[str, Any] | None:
    if not isinstance(tool, Mapping):
        return None
    fn = tool.get("function") if tool.get("type", "function") == "function" else None
    if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
        return fn
    if isinstance(tool.get("name"), str):  # Responses API flat function tools
        return tool
    return None


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD_RE.findall(text.replace("_", " ")) if len(w) > 2}


def choose_tool(
    tools: Sequence[Any], tool_choice: Any, messages: Sequence[Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    """Which function to call, if any.

    ``none`` → never; a named choice → that function; ``required`` → the best match (or the
    first tool); ``auto`` → the tool whose name/description shares the most words with the last
    user message, and none when nothing overlaps or the last message is a tool result.
    """
    functions = [fn for fn in (_tool_function(t) for t in tools) if fn is not None]
    if not functions or tool_choice == "none":
        return None
    if isinstance(tool_choice, Mapping):
        wanted = (tool_choice.get("function") or {}).get("name") or tool_choice.get("name")
        for fn in functions:
            if fn["name"] == wanted:
                return fn
        return None
    if messages and messages[-1].get("role") == "tool" and tool_choice != "required":
        return None
    prompt_words = _words(last_user_text(messages))
    best, best_score = None, 0
    for fn in functions:
        score = len(prompt_words & _words(f"{fn['name']} {fn.get('description') or ''}"))
        if score > best_score:
            best, best_score = fn, score
    if best is None and tool_choice == "required":
        best = functions[0]
    return best


def make_tool_call(
    fn: Mapping[str, Any], messages: Sequence[Mapping[str, Any]], budget: int = SCHEMA_BUDGET_CHARS
) -> ToolCall:
    hint = last_user_text(messages)
    schema = fn.get("parameters") or {"type": "object", "properties": {}}
    args = SchemaInstance(schema, hint, budget).build()
    text = json.dumps(args, ensure_ascii=False, separators=(",", ":"))
    return ToolCall(id=tool_call_id(fn["name"], text, str(len(messages))), name=fn["name"], arguments=text)


# --------------------------------------------------------------------------------------------
# JSON schema instances


_FORMAT_SAMPLES = {
    "date-time": "2025-01-01T00:00:00Z",
    "date": "2025-01-01",
    "time": "12:00:00",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "hostname": "example.com",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
}
_NAME_HINTS = {
    ("city", "location", "place", "town", "destination", "capital"): "Paris",
    ("country",): "France",
    ("name", "first_name", "firstname", "author", "person", "user", "username"): "Alice",
    ("last_name", "lastname", "surname"): "Smith",
    ("language", "lang"): "English",
    ("unit", "units"): "celsius",
    ("title",): "Example",
}
_TEXT_FIELDS = {"query", "q", "text", "prompt", "question", "search", "input", "message", "content"}


class SchemaInstance:
    """Build a value that validates against a JSON schema (the subset that structured-output and
    tool schemas use: types, properties/required, enums/const, arrays with bounds, numeric and
    length bounds, formats, anyOf/oneOf/allOf, $ref/$defs, nullable unions, defaults/examples).

    ``budget`` bounds the characters it writes: a model writes no more than it may generate, so a
    schema asking for ``minLength: 100000000`` or ``minItems: 1e9`` gets what fits (and the
    reply is then cut at ``max_tokens``, as a model's would be), never 100 MB."""

    def __init__(self, schema: Mapping[str, Any], hint: str = "", budget: int = SCHEMA_BUDGET_CHARS) -> None:
        self.root = schema if isinstance(schema, Mapping) else {}
        self.hint = hint
        self.budget = budget
        self._capitalised = [w for w in re.findall(r"\b[A-Z][a-z]+\b", hint)][1:] or []

    def build(self) -> Any:
        return self._value(self.root, "value", depth=0)

    def _resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        seen = 0
        while isinstance(schema, Mapping) and "$ref" in schema and seen < 32:
            ref = schema["$ref"]
            target: Any = self.root
            if isinstance(ref, str) and ref.startswith("#"):
                for part in ref.lstrip("#").split("/"):
                    if part:
                        target = (
                            target.get(part.replace("~1", "/").replace("~0", "~"), {})
                            if isinstance(target, Mapping)
                            else {}
                        )
            else:
                target = {}
            merged = dict(target) if isinstance(target, Mapping) else {}
            merged.update({k: v for k, v in schema.items() if k != "$ref"})
            schema = merged
            seen += 1
        return schema

    def _value(self, schema: Any, name: str, depth: int) -> Any:
        if schema is True or not isinstance(schema, Mapping):
            return self._string({}, name)
        schema = self._resolve(schema)
        if depth > 12:
            return None
        if "const" in schema:
            return copy.deepcopy(schema["const"])
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return copy.deepcopy(schema["enum"][0])
        for key in ("default",):
            if key in schema:
                return copy.deepcopy(schema[key])
        if isinstance(schema.get("examples"), list) and schema["examples"]:
            return copy.deepcopy(schema["examples"][0])
        if isinstance(schema.get("allOf"), list):
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                part = self._resolve(part) if isinstance(part, Mapping) else {}
                for k, v in part.items():
                    if k in ("properties",) and isinstance(v, Mapping):
                        merged.setdefault("properties", {}).update(v)
                    elif k == "required" and isinstance(v, list):
                        merged.setdefault("required", []).extend(v)
                    else:
                        merged.setdefault(k, v)
            rest = {k: v for k, v in schema.items() if k != "allOf"}
            merged.update(rest)
            return self._value(merged, name, depth + 1)
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                non_null = [o for o in options if not (isinstance(o, Mapping) and o.get("type") == "null")]
                return self._value((non_null or options)[0], name, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            non_null = [k for k in kind if k != "null"]
            kind = non_null[0] if non_null else "null"
        if kind is None:
            if "properties" in schema:
                kind = "object"
            elif "items" in schema or "prefixItems" in schema:
                kind = "array"
            else:
                kind = "string"
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, name, depth)
        if kind == "integer":
            return self._number(schema, integer=True)
        if kind == "number":
            return self._number(schema, integer=False)
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return self._string(schema, name)

    def _object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        found = schema.get("properties")
        props: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        out: dict[str, Any] = {}
        for key, sub in props.items():
            out[key] = self._value(sub, key, depth + 1)
        for key in schema.get("required") or ():
            if isinstance(key, str) and key not in out:
                out[key] = self._string({}, key)
        min_props = schema.get("minProperties")
        extra = schema.get("additionalProperties")
        if isinstance(min_props, int) and len(out) < min_props and extra is not False:
            for i in range(min_props - len(out)):
                if self.budget <= 0:
                    break
                self.budget -= 8  # a key at least
                out[f"key{i + 1}"] = self._value(
                    extra if isinstance(extra, Mapping) else {}, "value", depth + 1
                )
        return out

    def _array(self, schema: Mapping[str, Any], name: str, depth: int) -> list[Any]:
        found, items = schema.get("prefixItems"), schema.get("items", {})
        prefix: list[Any] = found if isinstance(found, list) else []
        lowest, highest = schema.get("minItems"), schema.get("maxItems")
        min_items: int = lowest if isinstance(lowest, int) else 1
        max_items: int | None = highest if isinstance(highest, int) else None
        count = max(min_items, len(prefix), 1 if max_items is None or max_items >= 1 else 0)
        if max_items is not None:
            count = min(count, max_items)
        out = []
        for i in range(count):
            if self.budget <= 0:
                break
            self.budget -= 2  # a separator at least
            sub = prefix[i] if i < len(prefix) else (items if isinstance(items, Mapping) else {})
            value = self._value(sub, name, depth + 1)
            if schema.get("uniqueItems") and value in out:
                value = self._unique_variant(value, i)
            out.append(value)
        return out

    @staticmethod
    def _unique_variant(value: Any, i: int) -> Any:
        if isinstance(value, str):
            return f"{value}{i + 1}"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value + i
        return value

    @staticmethod
    def _number(schema: Mapping[str, Any], integer: bool) -> int | float:
        low = schema.get("minimum")
        high = schema.get("maximum")
        ex_low = schema.get("exclusiveMinimum")
        ex_high = schema.get("exclusiveMaximum")
        step = 1 if integer else 0.5
        value: float = 1
        if isinstance(low, (int, float)):
            value = max(value, low)
        if isinstance(ex_low, (int, float)) and not isinstance(ex_low, bool):
            value = max(value, ex_low + step)
        if isinstance(high, (int, float)):
            value = min(value, high)
        if isinstance(ex_high, (int, float)) and not isinstance(ex_high, bool):
            value = min(value, ex_high - step)
        multiple = schema.get("multipleOf")
        if isinstance(multiple, (int, float)) and multiple > 0:
            value = math.ceil(value / multiple) * multiple
            if isinstance(high, (int, float)) and value > high:
                value -= multiple
        return math.ceil(value) if integer else float(value)

    def _string(self, schema: Mapping[str, Any], name: str) -> str:
        fmt = schema.get("format")
        if isinstance(fmt, str) and fmt in _FORMAT_SAMPLES:
            value = _FORMAT_SAMPLES[fmt]
        else:
            value = self._string_for_name(name)
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            value = _string_for_pattern(pattern, value)
        shortest, longest = schema.get("minLength"), schema.get("maxLength")
        min_len: int = shortest if isinstance(shortest, int) else 0
        max_len: int | None = longest if isinstance(longest, int) else None
        if len(value) < min_len:
            value = value + "x" * (min(min_len, max(len(value), self.budget)) - len(value))
        if max_len is not None and len(value) > max_len:
            value = value[:max_len]
        self.budget -= len(value) + 2
        return value

    def _string_for_name(self, name: str) -> str:
        lowered = name.lower()
        if lowered in _TEXT_FIELDS and self.hint:
            return _short(self.hint, 120)
        for names, default in _NAME_HINTS.items():
            if lowered in names or any(lowered.endswith("_" + n) for n in names):
                if names[0] in ("city", "country") and self._capitalised:
                    return self._capitalised[-1]
                return default
        return f"example {name}" if name != "value" else "example"


def _string_for_pattern(pattern: str, fallback: str) -> str:
    try:
        compiled = re.compile(pattern)
    except re.error:
        return fallback
    candidates = [
        fallback,
        "a",
        "A",
        "1",
        "abc",
        "ABC",
        "123",
        "a1",
        "example",
        "2025-01-01",
        "user@example.com",
        "https://example.com/",
        "AB-123",
        "ab_12",
    ]
    for candidate in candidates:
        if compiled.search(candidate):
            return candidate
    return fallback


# --------------------------------------------------------------------------------------------
# generation


@dataclass(slots=True)
class Generation:
    """The engine's answer to one chat or completion request."""

    content: str
    content_tokens: list[str]
    finish_reason: str
    prompt_tokens: int
    tool_calls: list[ToolCall] = field(default_factory=list)
    reasoning: str = ""
    reasoning_tokens: list[str] = field(default_factory=list)
    stop_reason: str = "eosFound"  # LM Studio's stats.stop_reason
    stop_sequence: str | None = None  # the stop string the text was cut at, if any
    completion_tokens: int = field(init=False)
    total_tokens: int = field(init=False)

    def __post_init__(self) -> None:
        calls = 0
        for c in self.tool_calls:
            calls += count_tokens(c.name) + count_tokens(c.arguments)
        self.completion_tokens = len(self.content_tokens) + len(self.reasoning_tokens) + calls
        self.total_tokens = self.prompt_tokens + self.completion_tokens


def _apply_limits(
    text: str, max_tokens: int | None, stop: Sequence[str], tokens: list[str] | None = None
) -> tuple[str, list[str], str, str, str | None]:
    """Cut ``text`` at the earliest stop string and after ``max_tokens`` tokens (``tokens``: the
    tokens of ``text``, when already known). Returns the text, its tokens, the finish reason, LM
    Studio's stop reason and the stop string that cut it."""
    best: tuple[int, str] | None = None
    for s in stop:
        index = text.find(s) if s else -1
        if index >= 0 and (best is None or index < best[0]):
            best = (index, s)
    if best is not None:
        text = text[: best[0]]
    if tokens is None or best is not None:
        tokens = tokenize(text)
    if max_tokens is not None and max_tokens >= 0 and len(tokens) > max_tokens:
        tokens = tokens[:max_tokens]
        return "".join(tokens), tokens, "length", "maxPredictedTokensReached", None
    if best is not None:
        return text, tokens, "stop", "stopStringFound", best[1]
    return text, tokens, "stop", "eosFound", None


def generate_chat(
    spec: ModelSpec,
    messages: Sequence[Mapping[str, Any]],
    *,
    tools: Sequence[Any] | None = None,
    tool_choice: Any = "auto",
    json_schema: Mapping[str, Any] | None = None,
    max_tokens: int | None = None,
    stop: Sequence[str] = (),
    reasoning: bool = False,
    scripted_text: str | None = None,
    scripted_tool_calls: Sequence[tuple[str, Any]] | None = None,
    scripted_reasoning: str | None = None,
) -> Generation:
    """Produce the reply to a chat request. ``scripted_*`` replace the default content, and
    ``scripted_reasoning`` the default reasoning of a model that reasons (``reasoning``).

    A reasoning model thinks first, and its thinking counts against ``max_tokens`` as in LM
    Studio: a small limit can be spent on reasoning alone, leaving no content and
    ``finish_reason: "length"`` (fidelity review §4.2)."""
    if not reasoning:
        think = ""
    else:
        think = reasoning_text(messages) if scripted_reasoning is None else scripted_reasoning
    think_tokens = tokenize(think) if think else []
    if think_tokens and max_tokens is not None and max_tokens >= 0:
        if len(think_tokens) >= max_tokens:
            think_tokens = think_tokens[:max_tokens]
            prompt_tokens = prompt_token_count(messages, tools)
            return Generation(
                "",
                [],
                "length",
                prompt_tokens,
                [],
                "".join(think_tokens),
                think_tokens,
                "maxPredictedTokensReached",
            )
        max_tokens -= len(think_tokens)  # what is left for the answer
    calls: list[ToolCall] = []
    if scripted_tool_calls:
        for i, (name, arguments) in enumerate(scripted_tool_calls):
            text = arguments if isinstance(arguments, str) else json.dumps(arguments, separators=(",", ":"))
            calls.append(
                ToolCall(id=tool_call_id(name, text, str(i), str(len(messages))), name=name, arguments=text)
            )
    elif scripted_text is None and tools and tool_choice is not None:
        fn = choose_tool(tools, tool_choice, messages)
        if fn is not None:
            calls.append(make_tool_call(fn, messages, _budget(spec, max_tokens)))
    if calls:
        prompt_tokens = prompt_token_count(messages, tools)
        written = sum(count_tokens(c.name) + count_tokens(c.arguments) for c in calls)
        if max_tokens is not None and max_tokens >= 0 and written > max_tokens:
            # cut before the call was complete: no call can be parsed, the text is what was written
            raw = "".join(dumps_call(c) for c in calls)
            cut, cut_tokens, finish, stop_reason, _ = _apply_limits(raw, max_tokens, ())
            return Generation(cut, cut_tokens, finish, prompt_tokens, [], think, think_tokens, stop_reason)
        return Generation("", [], "tool_calls", prompt_tokens, calls, think, think_tokens, "toolCalls")
    counted: dict[str, int] = {}  # texts already tokenized for the reply: not tokenized twice
    tokens: list[str] | None = None
    if scripted_text is not None:
        text = scripted_text
    elif json_schema is not None:
        value = SchemaInstance(json_schema, last_user_text(messages), _budget(spec, max_tokens)).build()
        text = json.dumps(value, ensure_ascii=False)
    else:
        text, tokens, echoed = _default_reply(spec.key, messages)
        if echoed is not None:
            counted[echoed[0]] = echoed[1]
    stop_sequence = None
    if tokens is None or stop or max_tokens is not None:
        text, tokens, finish, stop_reason, stop_sequence = _apply_limits(text, max_tokens, stop, tokens)
    else:
        finish, stop_reason = "stop", "eosFound"
    prompt_tokens = prompt_token_count(messages, tools, counted)
    return Generation(
        text, tokens, finish, prompt_tokens, [], think, think_tokens, stop_reason, stop_sequence
    )


def generate_completion(
    spec: ModelSpec,
    prompt: str,
    *,
    max_tokens: int | None = None,
    stop: Sequence[str] = (),
    scripted_text: str | None = None,
) -> Generation:
    """Continue a raw prompt (no chat template)."""
    prompt_tokens = count_tokens(prompt)
    if scripted_text is not None:
        text = scripted_text
    else:
        words = _WORD_RE.findall(prompt)
        tail = " ".join(words[-6:]) if words else "the beginning"
        text = f" and so the story continues after “{tail}”, as the fake LM Studio model {spec.key} writes."
    text, tokens, finish, stop_reason, stop_sequence = _apply_limits(text, max_tokens, stop)
    return Generation(
        text, tokens, finish, prompt_tokens, stop_reason=stop_reason, stop_sequence=stop_sequence
    )


# --------------------------------------------------------------------------------------------
# embeddings


# A vector costs ~0.5 ms to draw, so words seen again are kept: as packed doubles (6 KB for 768
# dimensions; a tuple of floats took ~25 KB), and at most 2,048 words (~12 MB). The tuples and
# 8,192 words before made a long run's RSS climb by ~200 MB (benchmarks/bench_gc.py).
@lru_cache(maxsize=2048)
def _word_vector(word: str, dims: int) -> array[float]:
    seed = int.from_bytes(hashlib.blake2b(f"{dims}:{word}".encode(), digest_size=8).digest(), "big")
    rng = random.Random(seed)
    return array("d", [rng.gauss(0.0, 1.0) for _ in range(dims)])


def embed(text: str, dims: int) -> list[float]:
    """A unit-length vector: the sum of per-word random vectors, so texts that share words are
    closer (higher cosine similarity) and the same text always gives the same vector."""
    words = [w.lower() for w in _WORD_RE.findall(text)] or [f"<{text!r}>"]
    acc = [0.0] * dims
    for word in words:
        for i, v in enumerate(_word_vector(word, dims)):
            acc[i] += v
    norm = math.sqrt(sum(v * v for v in acc)) or 1.0
    return [v / norm for v in acc]


@dataclass(frozen=True)
class DraftCounts:
    """Speculative decoding's token counts for a prediction of ``predicted`` tokens: the draft
    model proposed ``total``; the main model ``accepted`` some, ``rejected`` some, and some were
    ``ignored`` (drafted past the end). Deterministic, plausible, and summing up:
    ``accepted + rejected + ignored == total`` and ``accepted <= predicted``."""

    total: int
    accepted: int
    rejected: int
    ignored: int


def draft_counts(predicted: int) -> DraftCounts:
    accepted = predicted * 3 // 5  # a typical acceptance rate for a same-family draft model
    rejected = predicted - accepted  # each rejection costs one token of the main model's own
    ignored = 1 if predicted else 0
    return DraftCounts(accepted + rejected + ignored, accepted, rejected, ignored)
