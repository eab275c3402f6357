"""One exchange with the fake LM Studio: the step every generation and embedding takes, whichever
dialect carried the request (OpenAI chat, completions and responses, Anthropic messages, native
v0 and v1, the SDK's websocket).

    resolve the model (JIT-loading it if allowed) → let the test's script answer or shape it →
    otherwise generate → mark the instance used (its idle TTL restarts) → count the tokens

A dialect parses its wire format into an :class:`Ask`, calls :func:`generate` (or
:func:`embed`), and renders the :class:`Exchange` it gets back; it never resolves, scripts or
counts on its own. Errors are :mod:`fake_lms.core.errors`, which each dialect renders.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from fake_lms.core.context import Context, PendingLoad, Resolved
from fake_lms.core.errors import ContextOverflow
from fake_lms.core.slots import Claim
from fake_lms.model import engine, reasoning
from fake_lms.model.catalog import ModelSpec
from fake_lms.model.info import instance_parallel
from fake_lms.scripting.intents import StreamIntent
from fake_lms.scripting.records import RequestRecord
from fake_lms.scripting.rules import ScriptResult

Operation = Literal["chat", "complete"]
T = TypeVar("T")


@dataclass
class Ask:
    """A generation request in no wire format.

    ``messages`` are chat messages (for ``complete``, ``prompt`` is the raw text); ``reasoning``
    says whether the model reasons, given its spec (a dialect's own rule: ``reasoning_effort``,
    ``thinking``, ``reasoning: "off"``...), as a bool or as a :class:`reasoning.Choice` whose
    warning goes to the server log; ``tools_allowed`` whether the dialect can carry tool
    calls (a scripted tool call applies only there); ``wanted`` names the use in a wrong-model-type
    error ("chat completions", "responses", ...); ``record`` is what the server recorded of the
    request, for the test's script to match."""

    operation: Operation
    model: Any
    record: RequestRecord | None = None
    messages: Sequence[Mapping[str, Any]] = ()
    prompt: str | None = None
    tools: Sequence[Any] | None = None
    tool_choice: Any = "auto"
    json_schema: Mapping[str, Any] | None = None
    max_tokens: int | None = None
    stop: Sequence[str] = ()
    reasoning: Callable[[ModelSpec], bool | reasoning.Choice] | bool = False
    tools_allowed: bool = True
    ttl: Any = None
    context_length: int | None = None
    wanted: str = "chat completions"


@dataclass
class Exchange:
    """What came of an :class:`Ask`: the instance that answered, its generation, and the test's
    stream faults (applied by :meth:`shape` to the dialect's events)."""

    resolved: Resolved
    generation: engine.Generation
    script: ScriptResult | None = field(default=None, repr=False)
    claim: Claim | None = field(default=None, repr=False)  # the slot its answer runs in
    warnings: tuple[str, ...] = ()  # what LM Studio's server log warns of (a reasoning fallback)

    @property
    def identifier(self) -> str:
        return self.resolved.identifier

    @property
    def usage(self) -> tuple[int, int]:
        """(prompt tokens, completion tokens), for the request log."""
        return self.generation.prompt_tokens, self.generation.completion_tokens

    @property
    def notes(self) -> dict[str, Any] | None:
        """What the request log says of the JIT load this exchange did and of the warnings it
        gave, if any (``lms log stream`` shows the warnings as server-log lines)."""
        notes = self.resolved.notes()
        if self.warnings:
            notes = {**(notes or {}), "warnings": list(self.warnings)}
        return notes

    @property
    def delay(self) -> float:
        """Seconds a non-streamed answer waits before it is sent (the transport waits)."""
        return self.script.delay if self.script is not None else 0.0

    def shape(self, events: Iterator[T]) -> Iterator[T | StreamIntent]:
        """The dialect's stream events with the test's stream faults applied (pacing, stalls,
        cuts, garbage, errors), as intents the dialect then renders."""
        return self.script.shape_stream(events) if self.script is not None else events


@dataclass
class Embedding:
    resolved: Resolved
    vectors: list[list[float]]
    tokens: int
    delay: float = 0.0  # seconds the answer waits before it is sent (a scripted ``slow``)
    claim: Claim | None = field(default=None, repr=False)  # the slot its answer runs in

    @property
    def identifier(self) -> str:
        return self.resolved.identifier

    @property
    def notes(self) -> dict[str, Any] | None:
        return self.resolved.notes()


def plan(ctx: Context, ask: Ask, kind: Literal["llm", "embedding"] = "llm") -> Resolved | PendingLoad:
    """Resolve the model without loading it yet: a dialect that checks the model before a JIT
    load (vision, context length) or announces the load (``/api/v1/chat``) plans first."""
    return ctx.plan(ask.model, kind, ttl=ask.ttl, wanted=ask.wanted, context_length=ask.context_length)


def generate(ctx: Context, ask: Ask, found: Resolved | PendingLoad | None = None) -> Exchange:
    """The one generation step (see the module docstring). ``found``: what :func:`plan` gave."""
    if found is None:
        found = plan(ctx, ask)
    res = ctx.load_pending(found) if isinstance(found, PendingLoad) else found
    check_context(ask, res)
    script = None
    if ctx.scripts is not None:
        script = ctx.scripts.match(
            operation=ask.operation,
            record=ask.record,
            model=res.identifier,
            tools_allowed=ask.tools_allowed,
        )
    scripted_text = script.text if script is not None else None
    warnings: tuple[str, ...] = ()
    if ask.operation == "complete":
        gen = engine.generate_completion(
            res.spec, ask.prompt or "", max_tokens=ask.max_tokens, stop=ask.stop, scripted_text=scripted_text
        )
    else:
        decided = ask.reasoning(res.spec) if callable(ask.reasoning) else ask.reasoning
        if isinstance(decided, reasoning.Choice):
            warnings = (decided.warning,) if decided.warning else ()
            decided = decided.on
        gen = engine.generate_chat(
            res.spec,
            ask.messages,
            tools=ask.tools,
            tool_choice=ask.tool_choice,
            json_schema=ask.json_schema,
            max_tokens=ask.max_tokens,
            stop=ask.stop,
            reasoning=decided,
            scripted_text=scripted_text,
            scripted_tool_calls=script.tool_calls if script is not None else None,
            scripted_reasoning=script.reasoning if script is not None else None,
        )
    ctx.touch(res)
    ctx.stats.add_tokens(gen.prompt_tokens, gen.completion_tokens)
    claim = Claim(ctx.slots, res.identifier, instance_parallel(res.spec, res.instance))
    return Exchange(res, gen, script, claim, warnings)


def check_context(ask: Ask, res: Resolved) -> None:
    """Raise :class:`ContextOverflow` when the prompt's tokens reach the instance's context length.
    Most prompts are far shorter: a bound from their length (a token is at least one character)
    skips the count."""
    n_ctx = res.instance.context_length
    if ask.operation == "complete":
        text = ask.prompt or ""
        if len(text) < n_ctx:
            return
        n_keep = engine.count_tokens(text)
    else:
        size = sum(
            len(engine.content_text(m.get("content")))
            + 64
            + (len(str(m["tool_calls"])) if m.get("tool_calls") else 0)
            for m in ask.messages
        )
        if ask.tools:
            size += len(json.dumps(ask.tools))
        if size + engine.REPLY_PRIMING_TOKENS < n_ctx:
            return
        n_keep = engine.prompt_token_count(ask.messages, ask.tools)
    if n_keep >= n_ctx:
        raise ContextOverflow(n_keep, n_ctx)


def embed(
    ctx: Context,
    texts: Sequence[str],
    *,
    model: Any,
    record: RequestRecord | None = None,
    ttl: Any = None,
    wanted: str = "embeddings",
) -> Embedding:
    """Embed ``texts`` with the model named ``model`` (resolved, JIT-loaded, touched, counted)."""
    res = ctx.resolve(model, "embedding", ttl=ttl, wanted=wanted)
    script = None
    if ctx.scripts is not None:  # faults that act on any model request (a non-streamed ``slow``)
        script = ctx.scripts.match(
            operation="embed", record=record, model=res.identifier, tools_allowed=False
        )
    dims = res.spec.embedding_dimensions
    vectors = [engine.embed(t, dims) for t in texts]
    tokens = sum(engine.count_tokens(t) for t in texts)
    ctx.touch(res)
    ctx.stats.add_tokens(tokens, 0)
    claim = Claim(ctx.slots, res.identifier, None, embedding=True)
    return Embedding(res, vectors, tokens, script.delay if script is not None else 0.0, claim)
