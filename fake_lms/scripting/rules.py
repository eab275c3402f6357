"""Scripted replies and injected faults: the rules a test registers, and how requests pick them.

``Script`` is what ``Context.scripts`` holds. It speaks in operations and intents, never in URL
paths or HTTP bodies, so a rule written once applies to every dialect. It is asked two things:

* ``before(record)`` — by a dialect after authentication and before routing; returns an intent
  (``fake_lms.scripting.intents``: fail with a status, drop the connection, "No models loaded",
  context length exceeded) that the dialect renders, or ``None``. ``expire`` faults act here too.
* ``match(operation=..., record=..., model=..., tools_allowed=...)`` — by the core's exchange
  once the model is resolved; returns ``None`` (nothing scripted) or a :class:`ScriptResult`
  whose ``text`` / ``tool_calls`` replace the engine's content and whose ``shape_stream`` adds
  pauses, cuts, garbage and errors (as intents) to the dialect's stream.

Rule selection
--------------
Rules are kept in registration order. A request uses the first rule that matches it and still
has uses left (``times=N``; ``times=None`` never runs out). Replies queue: a reply registered
with ``times=None`` yields, once it has been used, to a *later* reply registered with the same
``match`` — so ``reply("A"); reply("B")`` answers A, then B, B, B... Faults (default ``times=1``)
do not queue: the first matching fault with uses left acts; stream faults of different kinds
combine (``slow`` + ``stream_cut``).

Matching (``match=``)
---------------------
``None`` any request; a string: the request names that model *or* its last user message contains
the string; a compiled regex: searched in the last user message; a callable: ``f(record) -> bool``
(a :class:`~fake_lms.scripting.records.RequestRecord`); a dict (also the control API's JSON form), all
keys must hold: ``model`` (name or list), ``contains``, ``regex``, ``path`` (path or list),
``api`` (``openai``, ``anthropic``, ``native_v0``, ``native_v1``, ``sdk``, or a list),
``operation`` (``chat``, ``complete``, ``embed``, ``load``, ``list``, ..., or a list),
``headers`` ({name: value}), ``stream`` (bool). Unless ``path`` or ``operation`` is given,
rules only apply to model requests (operations chat, complete and embed, on every dialect) —
never to listings, loads, probes or the control API.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from fake_lms.scripting import faults as F
from fake_lms.scripting import mcp as M
from fake_lms.scripting.intents import (
    BeforeIntent,
    ContextOverflow,
    DownloadStop,
    DropConnection,
    Fail,
    NoModels,
    ScriptBroke,
    StreamIntent,
)
from fake_lms.scripting.records import RequestRecord

if TYPE_CHECKING:
    from fake_lms.model.home import Home

T = TypeVar("T")

MODEL_OPERATIONS = frozenset({"chat", "complete", "embed"})
MATCH_KEYS = ("model", "contains", "regex", "path", "api", "operation", "headers", "stream")

MatchSpec = Any  # None | str | re.Pattern | Callable[[RequestRecord], bool] | Mapping[str, Any]


class ScriptError(ValueError):
    """A reply or fault description is invalid."""


# --------------------------------------------------------------------------------------------
# matching


def _str_list(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ScriptError(f"match {name!r} must be a string or a list of strings, not {value!r}")


class Matcher:
    """Which requests a rule applies to (see the module docstring)."""

    def __init__(self, spec: MatchSpec = None) -> None:
        self.spec = spec
        self.either: str | None = None  # bare string: model name or substring
        self.models: tuple[str, ...] = ()
        self.contains: str | None = None
        self.regex: re.Pattern[str] | None = None
        self.paths: tuple[str, ...] = ()
        self.apis: tuple[str, ...] = ()
        self.operations: tuple[str, ...] = ()
        self.headers: dict[str, str] = {}
        self.stream: bool | None = None
        self.predicate: Callable[[RequestRecord], Any] | None = None
        if spec is None:
            pass
        elif isinstance(spec, str):
            self.either = spec
        elif isinstance(spec, re.Pattern):
            self.regex = spec
        elif isinstance(spec, Mapping):
            unknown = set(spec) - set(MATCH_KEYS)
            if unknown:
                raise ScriptError(
                    f"unknown match key(s) {', '.join(sorted(map(str, unknown)))}; "
                    f"known: {', '.join(MATCH_KEYS)}"
                )
            if "model" in spec:
                self.models = _str_list("model", spec["model"])
            if "contains" in spec:
                if not isinstance(spec["contains"], str):
                    raise ScriptError("match 'contains' must be a string")
                self.contains = spec["contains"]
            if "regex" in spec:
                pattern = spec["regex"]
                if isinstance(pattern, str):
                    try:
                        pattern = re.compile(pattern)
                    except re.error as exc:
                        raise ScriptError(
                            f"match 'regex' {spec['regex']!r} is not a valid regex: {exc}"
                        ) from None
                if not isinstance(pattern, re.Pattern):
                    raise ScriptError("match 'regex' must be a string or a compiled regex")
                self.regex = pattern
            if "path" in spec:
                self.paths = _str_list("path", spec["path"])
            if "api" in spec:
                self.apis = _str_list("api", spec["api"])
            if "operation" in spec:
                self.operations = _str_list("operation", spec["operation"])
            if "headers" in spec:
                if not isinstance(spec["headers"], Mapping):
                    raise ScriptError("match 'headers' must be a mapping of header name to value")
                self.headers = {str(k): str(v) for k, v in spec["headers"].items()}
            if "stream" in spec:
                if not isinstance(spec["stream"], bool):
                    raise ScriptError("match 'stream' must be true or false")
                self.stream = spec["stream"]
        elif callable(spec):
            self.predicate = spec
        else:
            raise ScriptError(
                "match must be None, a model name or substring, a compiled regex, a callable "
                f"taking a request record, or a dict; not {spec!r}"
            )

    def key(self) -> Any:
        """Identity for reply queues: rules registered with equal ``match`` form one queue."""
        spec = self.spec
        if spec is None or isinstance(spec, str):
            return ("v", spec)
        if isinstance(spec, re.Pattern):
            return ("re", spec.pattern, spec.flags)
        if isinstance(spec, Mapping):
            try:
                return ("d", json.dumps(to_json(spec), sort_keys=True, default=str))
            except ScriptError:  # e.g. a compiled regex with flags
                pass
        return ("id", id(spec))

    def matches(self, record: RequestRecord, model_names: Sequence[str]) -> bool:
        if self.paths and record.path not in self.paths:
            return False
        if self.operations:
            if record.operation not in self.operations:
                return False
        elif not self.paths and record.operation not in MODEL_OPERATIONS:
            return False
        if self.apis and record.api not in self.apis:
            return False
        if self.stream is not None and record.stream != self.stream:
            return False
        if self.models and not any(m in model_names for m in self.models):
            return False
        text = None
        if self.contains is not None or self.regex is not None or self.either is not None:
            text = record.last_user_message or ""
        if self.contains is not None and self.contains not in (text or ""):
            return False
        if self.regex is not None and self.regex.search(text or "") is None:
            return False
        if self.either is not None and self.either not in model_names and self.either not in (text or ""):
            return False
        for name, value in self.headers.items():
            if record.headers.get(name) != value:
                return False
        return not (self.predicate is not None and not self.predicate(record))

    def describe(self) -> str:
        spec = self.spec
        if spec is None:
            return "any request"
        if isinstance(spec, re.Pattern):
            return f"re.compile({spec.pattern!r})"
        if callable(spec) and not isinstance(spec, Mapping):
            return getattr(spec, "__qualname__", repr(spec))
        return repr(spec)


def to_json(spec: MatchSpec) -> Any:
    """A ``match`` value in the control API's JSON form (callables cannot cross processes)."""
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, re.Pattern):
        if spec.flags & ~re.UNICODE:
            raise ScriptError(
                "a regex with flags cannot be sent to a fake process; use an inline flag like (?i)"
            )
        return {"regex": spec.pattern}
    if isinstance(spec, Mapping):
        out = {}
        for key, value in spec.items():
            out[key] = to_json(value)["regex"] if isinstance(value, re.Pattern) else value
        return out
    if callable(spec):
        raise ScriptError(
            "a callable match cannot be sent to a fake process; use a model name, a substring, a "
            "regex or a dict with model/contains/regex/path/api/operation/headers/stream"
        )
    raise ScriptError(f"invalid match {spec!r}")


# --------------------------------------------------------------------------------------------
# rules


@dataclass(eq=False)
class Rule:
    """One registered reply or fault. ``used`` counts the requests it acted on."""

    id: int
    op: str  # "reply", "fault" or "mcp"
    kind: str  # reply: "text" | "tool_calls"; fault: a fault kind; mcp: "call" or a fail kind
    matcher: Matcher
    times: int | None
    params: dict[str, Any] = field(default_factory=dict)
    used: int = 0
    cancelled: bool = False
    optional: bool = False  # may go unused without failing the test

    @property
    def unused(self) -> bool:
        """Registered, never acted on, and not marked optional."""
        return self.used == 0 and not self.cancelled and not self.optional

    @property
    def remaining(self) -> int | None:
        return None if self.times is None else max(0, self.times - self.used)

    @property
    def active(self) -> bool:
        return not self.cancelled and (self.times is None or self.used < self.times)

    def cancel(self) -> None:
        """Stop this rule from acting on further requests."""
        self.cancelled = True

    def to_dict(self) -> dict[str, Any]:
        params = dict(self.params)
        if self.kind == "tool_calls":
            params["tool_calls"] = [{"name": n, "arguments": a} for n, a in params["tool_calls"]]
        try:
            match = to_json(self.matcher.spec)
        except ScriptError:
            match = self.matcher.describe()
        return {
            "id": self.id,
            "op": self.op,
            "kind": self.kind,
            "match": match,
            "times": self.times,
            "used": self.used,
            "active": self.active,
            "optional": self.optional,
            **{k: v for k, v in params.items() if k != "body" or v is not None},
        }

    def __repr__(self) -> str:
        times = "forever" if self.times is None else f"{self.used}/{self.times} used"
        what = f"{self.op} {self.kind}"
        if self.op == "mcp":  # which server's tool: the rule's identity for the reader
            what += f" {self.params['server']}:{self.params['tool']}"
        return f"<Rule #{self.id} {what} match={self.matcher.describe()} {times}>"


def _times(value: Any, default: int | None) -> int | None:
    if value is _DEFAULT:
        return default
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ScriptError(f"times must be a positive integer or None (forever), not {value!r}")
    return value


_DEFAULT: Any = object()


def _tool_calls(value: Any) -> list[tuple[str, Any]]:
    calls: list[tuple[str, Any]] = []
    if not isinstance(value, (list, tuple)) or not value:
        raise ScriptError("tool_calls must be a non-empty list of {'name': ..., 'arguments': {...}}")
    for item in value:
        if isinstance(item, Mapping):
            name, arguments = item.get("name"), item.get("arguments", {})
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            name, arguments = item
        else:
            raise ScriptError(
                f"a tool call must be {{'name': ..., 'arguments': ...}} or (name, arguments), not {item!r}"
            )
        if not isinstance(name, str) or not name:
            raise ScriptError(f"a tool call needs a function name, got {name!r}")
        if arguments is None:
            arguments = {}
        if isinstance(arguments, str):
            try:
                json.loads(arguments)
            except ValueError:
                raise ScriptError(
                    f"tool call {name!r}: arguments string is not JSON: {arguments!r}"
                ) from None
        else:
            try:
                arguments = json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))
            except (TypeError, ValueError) as exc:
                raise ScriptError(f"tool call {name!r}: arguments are not JSON-serialisable: {exc}") from None
        calls.append((name, arguments))
    return calls


def request_schema(record: RequestRecord) -> Any:
    """The JSON schema a request asks the answer to follow (``response_format.json_schema.schema``
    on chat, ``text.format.schema`` on /v1/responses), ``None`` if it asks for none."""
    fmt = record.response_format
    if not isinstance(fmt, Mapping) or fmt.get("type") != "json_schema":
        return None
    nested = fmt.get("json_schema")
    schema = nested.get("schema") if isinstance(nested, Mapping) else fmt.get("schema")
    return schema if isinstance(schema, Mapping) else None


def check_against_schema(rule: Rule, record: RequestRecord) -> None:
    """A ``reply_json`` value that breaks the schema of the request it answers is the test's
    mistake, reported at the script (``ScriptError``, re-raised in the test) rather than later as
    a parsing failure inside the application. Needs ``jsonschema`` (else nothing is checked)."""
    schema = request_schema(record)
    if schema is None:
        return
    try:
        import jsonschema
    except ImportError:  # an optional check
        return
    try:
        errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(rule.params["json"]), key=str)
    except jsonschema.SchemaError:
        return  # the request's schema is invalid: LM Studio's business, not the script's
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(the value)"
        raise ScriptError(
            f"{rule!r}: reply_json's value does not match the JSON schema of {record.summary()}: at "
            f"{where}: {first.message}. Fix the scripted value, or pass check_schema=False to answer "
            "with invalid output on purpose."
        )


# --------------------------------------------------------------------------------------------
# what a matched request gets


@dataclass
class ScriptResult:
    """Returned by :meth:`Script.match`: the scripted content (``text`` or ``tool_calls``) that
    replaces the engine's, and the stream faults :meth:`shape_stream` applies."""

    text: str | None = None
    tool_calls: list[tuple[str, Any]] | None = None
    reasoning: str | None = None  # replaces the engine's reasoning where the model reasons
    stream_faults: list[F.StreamFault] = field(default_factory=list)
    errors: list[BaseException] | None = None
    delay: float = 0.0  # a non-streamed reply waits this long (a ``slow`` fault's first-token delay)

    def shape_stream(self, events: Iterator[T]) -> Iterator[T | StreamIntent]:
        if not self.stream_faults:
            return events
        return self._shaped(events)

    def _shaped(self, events: Iterator[T]) -> Iterator[T | StreamIntent]:
        try:
            yield from F.shape_stream(events, self.stream_faults)
        except GeneratorExit:
            raise
        except Exception as exc:  # a bug in fault shaping: keep it for check_handler_errors
            if self.errors is not None:
                self.errors.append(exc)
            raise


class Script:
    """The rules of one fake server (``ctx.scripts``). Thread-safe."""

    def __init__(self, home: Home, *, handler_errors: list[BaseException] | None = None) -> None:
        self.home = home
        self.handler_errors = handler_errors if handler_errors is not None else []
        self._rules: list[Rule] = []
        self._lock = threading.RLock()
        self._ids = itertools.count(1)

    # -- registration --------------------------------------------------------------------------
    def add(self, entry: Mapping[str, Any]) -> Rule:
        """Register one rule from its description (the control API's JSON form), one of:

        {"reply": {"text": "...", "match": ..., "times": N}}
        {"reply": {"tool_calls": [{"name": ..., "arguments": {...}}], ...}}
        {"reply": {"json": {...}}}
        (a reply may add "reasoning": "..." — what a model that reasons for the request thinks)
        {"fail": {"status": 503, "retry_after": 1, "message": ..., "times": 1, "match": ...}}
        {"fault": {"kind": "stream_cut", "after": 3, "times": 1, "match": ...}}
        {"mcp": {"server": "huggingface", "tool": "model_search", "arguments": {...}, "output": ...}}
        """
        if not isinstance(entry, Mapping) or len(entry) != 1:
            raise ScriptError(
                'a script entry is one of {"reply": {...}}, {"fail": {...}}, {"fault": {...}}, '
                '{"mcp": {...}}; got ' + repr(entry)
            )
        ((op, spec),) = entry.items()
        if not isinstance(spec, Mapping):
            raise ScriptError(f"{op!r} needs an object, got {spec!r}")
        spec = dict(spec)
        matcher = Matcher(spec.pop("match", None))
        times_value = spec.pop("times", _DEFAULT)
        optional = spec.pop("optional", False)
        if not isinstance(optional, bool):
            raise ScriptError(f"optional must be true or false, not {optional!r}")
        if op == "reply":
            given = [k for k in ("text", "tool_calls", "json") if k in spec]
            if len(given) != 1:
                raise ScriptError("a reply needs exactly one of 'text', 'tool_calls' or 'json'")
            check_schema = spec.pop("check_schema", True)
            if not isinstance(check_schema, bool):
                raise ScriptError(f"check_schema must be true or false, not {check_schema!r}")
            reasoning = spec.pop("reasoning", None)
            if reasoning is not None and not isinstance(reasoning, str):
                raise ScriptError(f"reply reasoning must be a string, not {reasoning!r}")
            unknown = set(spec) - {"text", "tool_calls", "json"}
            if unknown:
                raise ScriptError(f"unknown reply field(s): {', '.join(sorted(unknown))}")
            times = _times(times_value, None)
            if "text" in spec:
                if not isinstance(spec["text"], str):
                    raise ScriptError(f"reply text must be a string, not {spec['text']!r}")
                rule = self._new("reply", "text", matcher, times, {"text": spec["text"]})
            elif "json" in spec:
                try:
                    text = json.dumps(spec["json"], ensure_ascii=False)
                except (TypeError, ValueError) as exc:
                    raise ScriptError(f"reply json is not JSON-serialisable: {exc}") from None
                params = {"text": text, "json": spec["json"]} if check_schema else {"text": text}
                rule = self._new("reply", "text", matcher, times, params)
            else:
                rule = self._new(
                    "reply", "tool_calls", matcher, times, {"tool_calls": _tool_calls(spec["tool_calls"])}
                )
            if reasoning is not None:
                rule.params["reasoning"] = reasoning
        elif op in ("fail", "fault"):
            kind = "status" if op == "fail" else spec.pop("kind", None)
            if not isinstance(kind, str):
                raise ScriptError(f"a fault needs a 'kind' (one of {', '.join(sorted(F.FAULT_PARAMS))})")
            try:
                kind, params = F.validate(kind, spec)
            except F.FaultError as exc:
                raise ScriptError(str(exc)) from None
            rule = self._new("fault", kind, matcher, _times(times_value, 1), params)
        elif op == "mcp":
            try:
                params = M.validate(spec)
            except M.McpScriptError as exc:
                raise ScriptError(str(exc)) from None
            kind = params.get("fail", "call")
            rule = self._new("mcp", kind, matcher, _times(times_value, None), params)
        else:
            raise ScriptError(f"unknown script entry {op!r}; use 'reply', 'fail', 'fault' or 'mcp'")
        rule.optional = optional
        with self._lock:
            self._rules.append(rule)
        return rule

    def _new(self, op: str, kind: str, matcher: Matcher, times: int | None, params: dict[str, Any]) -> Rule:
        return Rule(next(self._ids), op, kind, matcher, times, params)

    def clear(self) -> None:
        with self._lock:
            for rule in self._rules:
                rule.cancel()
            self._rules = []

    @property
    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    # -- lookup helpers ------------------------------------------------------------------------
    def _names(self, record: RequestRecord, resolved: str | None = None) -> list[str]:
        names = [n for n in (record.model, resolved) if n]
        catalog = self.home.catalog
        for name in list(names):
            spec = catalog.find(name)
            if spec is not None and spec.key not in names:
                names.append(spec.key)
        if resolved:
            for inst in self.home.instances():
                if inst.identifier == resolved and inst.model_key not in names:
                    names.append(inst.model_key)
        return names

    def _report(self, exc: BaseException, record: RequestRecord) -> ScriptBroke:
        self.handler_errors.append(exc)
        print(
            f"fake LM Studio: error in a scripted rule for {record.method} {record.path}:\n"
            + traceback.format_exc(),
            file=sys.stderr,
        )
        return ScriptBroke(f"{type(exc).__name__}: {exc}")

    # -- hooks called by the core and the dialects ------------------------------------------------
    def before(self, record: RequestRecord) -> BeforeIntent | None:
        """Faults that act before routing. ``None``: route the request normally."""
        if not self._rules:
            return None
        try:
            return self._before(record)
        except Exception as exc:  # e.g. a match callable raised: re-raised by check_handler_errors
            return self._report(exc, record)

    def _before(self, record: RequestRecord) -> BeforeIntent | None:
        names: list[str] | None = None
        chosen: Rule | None = None
        expired: list[Rule] = []
        with self._lock:
            for rule in self._rules:
                if rule.op != "fault" or rule.kind not in F.BEFORE_ROUTING or not rule.active:
                    continue
                if names is None:
                    names = self._names(record)
                if not rule.matcher.matches(record, names):
                    continue
                rule.used += 1
                if rule.kind == "expire":
                    expired.append(rule)
                    continue
                chosen = rule
                break
        for rule in expired:
            self.home.expire(rule.params.get("model") or record.model)
            record.faults.append("expire")
        if chosen is None:
            return None
        params = chosen.params
        record.faults.append(f"status {params['status']}" if chosen.kind == "status" else chosen.kind)
        if chosen.kind == "status":
            return Fail(
                params["status"],
                message=params.get("message"),
                retry_after=params.get("retry_after"),
                body=params.get("body"),
                headers=params.get("headers"),
                model=record.model,
            )
        if chosen.kind == "connection_reset":
            return DropConnection()
        if chosen.kind == "no_models_loaded":
            return NoModels()
        return ContextOverflow(params.get("message"))

    def match(
        self,
        *,
        operation: str,
        record: RequestRecord | None,
        model: str | None = None,
        tools_allowed: bool = True,
    ) -> ScriptResult | None:
        """The scripted reply and stream faults for a model request (``None``: nothing).

        ``operation``: ``chat``, ``complete`` or ``embed`` (replies never answer embeddings);
        ``model``: the instance that serves it; ``tools_allowed``: whether the dialect carries
        tool calls (a scripted tool call answers only there)."""
        if not self._rules:
            return None
        if record is None:
            record = RequestRecord("POST", "", operation=operation)
        stream = record.stream
        names = self._names(record, model)
        reply_rule: Rule | None = None
        stream_faults: list[Rule] = []
        delay = 0.0
        with self._lock:
            replies = [
                r
                for r in self._rules
                if r.op == "reply"
                and r.active
                and operation != "embed"
                and (r.kind != "tool_calls" or (tools_allowed and operation == "chat"))
                and r.matcher.matches(record, names)
            ]
            for i, rule in enumerate(replies):
                if rule.times is None and rule.used > 0:
                    key = rule.matcher.key()
                    if any(later.matcher.key() == key for later in replies[i + 1 :]):
                        continue  # a forever reply yields to the next one in its queue
                reply_rule = rule
                break
            if reply_rule is not None:
                reply_rule.used += 1
            seen: set[str] = set()
            for rule in self._rules:
                if rule.op != "fault" or rule.kind not in F.STREAM_FAULTS or not rule.active:
                    continue
                if rule.kind in seen or not rule.matcher.matches(record, names):
                    continue
                if stream:
                    rule.used += 1
                    seen.add(rule.kind)
                    stream_faults.append(rule)
                elif rule.kind == "slow":  # a non-streamed reply arrives after the first-token delay
                    rule.used += 1
                    seen.add(rule.kind)
                    record.faults.append("slow")
                    delay = max(delay, float(rule.params.get("ttft") or 0.0))
        if reply_rule is None and not stream_faults and delay == 0:
            return None
        result = ScriptResult(errors=self.handler_errors, delay=delay)
        if reply_rule is not None:
            record.scripted = True
            if reply_rule.kind == "text":
                if "json" in reply_rule.params:
                    check_against_schema(reply_rule, record)
                result.text = reply_rule.params["text"]
            else:
                result.tool_calls = list(reply_rule.params["tool_calls"])
            result.reasoning = reply_rule.params.get("reasoning")
        for rule in stream_faults:
            record.faults.append(rule.kind)
            result.stream_faults.append(F.StreamFault(rule.kind, dict(rule.params)))
        return result

    def mcp_servers(self) -> set[str]:
        """The MCP servers the test declared (labels and plugin ids its MCP tools name): the
        reachable ones. A rule that ran out of uses still declares its server."""
        with self._lock:
            return {r.params["server"] for r in self._rules if r.op == "mcp" and not r.cancelled}

    def mcp_calls(
        self, record: RequestRecord | None, enabled: Mapping[str, Sequence[str] | None]
    ) -> list[M.McpCall]:
        """The scripted MCP tool calls the model makes for a request that enables ``enabled``
        (server -> its ``allowed_tools``, ``None``: every tool), in registration order. A call to a
        tool ``allowed_tools`` leaves out is not made (the model is not offered it), unless it is
        scripted as an ``invalid_name`` call."""
        if not self._rules:
            return []
        if record is None:
            record = RequestRecord("POST", "", operation="chat")
        names = self._names(record)
        calls: list[M.McpCall] = []
        with self._lock:
            for rule in self._rules:
                if rule.op != "mcp" or not rule.active:
                    continue
                server = rule.params["server"]
                if server not in enabled:
                    continue
                allowed = enabled[server]
                if allowed is not None and rule.kind != "invalid_name" and rule.params["tool"] not in allowed:
                    continue
                if not rule.matcher.matches(record, names):
                    continue
                rule.used += 1
                calls.append(M.call_of(rule.params))
        if calls:
            record.scripted = True
        return calls

    def download(self, record: RequestRecord | None, model_key: str) -> DownloadStop | None:
        """The scripted stop of a download job that is starting for ``model_key`` (``None``: it
        completes). A rule without ``match`` applies to every download, whatever carried it; its
        ``model`` parameter limits it to names that resolve to ``model_key``."""
        if not self._rules:
            return None
        if record is None:
            record = RequestRecord("POST", "", operation="download")
        chosen: Rule | None = None
        with self._lock:
            for rule in self._rules:
                if rule.op != "fault" or rule.kind not in F.DOWNLOAD_FAULTS or not rule.active:
                    continue
                wanted = rule.params.get("model")
                if wanted is not None:
                    spec = self.home.catalog.find(wanted)
                    if wanted != model_key and (spec is None or spec.key != model_key):
                        continue
                if rule.matcher.spec is not None and not rule.matcher.matches(
                    record, self._names(record, model_key)
                ):
                    continue
                rule.used += 1
                chosen = rule
                break
        if chosen is None:
            return None
        record.faults.append(chosen.kind)
        outcome = "failed" if chosen.kind == "download_failed" else "paused"
        return DownloadStop(outcome, float(chosen.params["after"]), chosen.params.get("message"))
