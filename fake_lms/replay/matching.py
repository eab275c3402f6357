"""Which recorded interaction answers a request, and, when none does, which one came closest.

A request matches an interaction when the method and path are equal and the bodies are equal *as
JSON data* (key order and spacing never matter), after removing the ignored fields (top-level names
like ``temperature``, or dotted paths like ``stream_options.include_usage``) and masking secret
fields the way the cassette's writer masked them. The query string must be equal too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fake_lms.replay.cassette import Interaction, body_value
from fake_lms.replay.redact import Redactor

DEFAULT_IGNORED = ("temperature", "seed", "user")


@dataclass(frozen=True)
class Request:
    """A request as matching sees it: the body is data (JSON value, else text, else ``None``)."""

    method: str
    path: str
    body: Any = None
    query: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, interaction: Interaction) -> Request:
        query = interaction.request.get("query") or {}
        return cls(
            interaction.method, interaction.path, interaction.body, {str(k): str(v) for k, v in query.items()}
        )

    @classmethod
    def from_body_data(
        cls, method: str, path: str, body: Mapping[str, Any], query: Mapping[str, str] | None = None
    ) -> Request:
        return cls(method.upper(), path, body_value(body), dict(query or {}))


def _drop(value: Any, path: Sequence[str]) -> Any:
    if not isinstance(value, dict) or not path:
        return value
    head, rest = path[0], path[1:]
    if head not in value:
        return value
    out = dict(value)
    if rest:
        out[head] = _drop(out[head], rest)
    else:
        del out[head]
    return out


class Matcher:
    def __init__(self, ignore: Iterable[str] = DEFAULT_IGNORED, redactor: Redactor | None = None) -> None:
        self.ignore = tuple(f.strip() for f in ignore if f.strip())
        self.redactor = redactor or Redactor()

    def normalize(self, body: Any) -> Any:
        """The body as compared: ignored fields removed, secret fields masked."""
        for name in self.ignore:
            body = _drop(body, name.split("."))
        return self.redactor.body(body)

    def key(self, req: Request) -> tuple[str, str, str, str]:
        body = json.dumps(self.normalize(req.body), sort_keys=True, ensure_ascii=False)
        query = json.dumps(sorted(req.query.items()))
        return (req.method.upper(), req.path, query, body)

    def matches(self, interaction: Interaction, req: Request) -> bool:
        return self.key(Request.of(interaction)) == self.key(req)

    def closest(self, interactions: Sequence[Interaction], req: Request) -> tuple[int, list[str]] | None:
        """The index of the recorded request most like ``req`` and a short diff (recorded ``-``,
        asked ``+``); ``None`` when nothing was recorded."""
        best: tuple[int, int, list[str]] | None = None
        wanted = self.normalize(req.body)
        for index, interaction in enumerate(interactions):
            other = Request.of(interaction)
            score = 0 if other.method == req.method.upper() else 1000
            score += 0 if other.path == req.path else 500
            changes = diff(self.normalize(other.body), wanted)
            score += len(changes)
            if other.query != req.query:
                score += 1
                changes.append(("?query", dict(other.query), dict(req.query)))
            if best is None or score < best[0]:
                lines = []
                if other.method != req.method.upper() or other.path != req.path:
                    lines += [f"- {other.method} {other.path}", f"+ {req.method.upper()} {req.path}"]
                for where, old, new in changes[:4]:
                    lines += [f"- {where}: {short(old)}", f"+ {where}: {short(new)}"]
                if len(changes) > 4:
                    lines.append(f"  ... and {len(changes) - 4} more difference(s)")
                best = (score, index, lines)
        return None if best is None else (best[1], best[2])


_MISSING: Any = object()


def diff(old: Any, new: Any, where: str = "") -> list[tuple[str, Any, Any]]:
    """The leaves that differ between two JSON values: ``(path, old, new)``; a missing side is
    shown as ``(absent)``."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[tuple[str, Any, Any]] = []
        for key in list(old) + [k for k in new if k not in old]:
            sub = f"{where}.{key}" if where else str(key)
            out += diff(old.get(key, _MISSING), new.get(key, _MISSING), sub)
        return out
    if isinstance(old, list) and isinstance(new, list) and old != new:
        out = []
        for i in range(max(len(old), len(new))):
            a = old[i] if i < len(old) else _MISSING
            b = new[i] if i < len(new) else _MISSING
            out += diff(a, b, f"{where}[{i}]")
        return out
    if old is _MISSING and new is _MISSING:
        return []
    if old == new and type(old) is type(new):
        return []
    return [(where or "body", "(absent)" if old is _MISSING else old, "(absent)" if new is _MISSING else new)]


def short(value: Any, limit: int = 70) -> str:
    text = value if isinstance(value, str) and value == "(absent)" else json.dumps(value, ensure_ascii=False)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: {"type": "text", "text": ...}
        parts = [str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p]
        return " ".join(parts) if parts else json.dumps(content, ensure_ascii=False)
    return "" if content is None else json.dumps(content, ensure_ascii=False)


def last_message(body: Any) -> str | None:
    """The last thing the request says, in whichever dialect: the last chat message (with its
    role), the prompt, or the input."""
    if not isinstance(body, dict):
        return None if body is None else str(body)
    messages = body.get("messages")
    if isinstance(messages, list) and messages:
        last = messages[-1]
        if isinstance(last, dict):
            return f"({last.get('role', '?')}) {_text_of(last.get('content'))}"
    for name in ("input", "prompt"):
        value = body.get(name)
        if isinstance(value, list) and value:
            last = value[-1]
            if isinstance(last, dict):
                return f"({last.get('role', last.get('type', '?'))}) {_text_of(last.get('content'))}"
            return _text_of(last)
        if value is not None:
            return _text_of(value)
    return None


def one_line(req: Request) -> str:
    """``POST /v1/chat/completions model=qwen/qwen3-4b last message: (user) "Say hi"``."""
    parts = [req.method.upper(), req.path]
    body = req.body
    if isinstance(body, dict):
        if body.get("model") is not None:
            parts.append(f"model={body['model']}")
        if body.get("stream"):
            parts.append("stream")
        if body.get("tools"):
            parts.append(f"tools={len(body['tools'])}")
    said = last_message(body)
    if said is not None:
        said = said.replace("\n", " ")
        parts.append(f'last message: "{said if len(said) <= 80 else said[:79] + "…"}"')
    return " ".join(parts)
