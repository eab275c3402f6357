"""The scripting API of the fake: scripted replies, injected faults, recorded requests.

:class:`ScriptingMethods` is the API itself, written once for both targets:

* ``fake_lms.server.fake.FakeLMStudio`` — the fake in this process (``fake.reply("Hi")``), where a
  ``match`` may also be a Python callable;
* :class:`fake_lms.scripting.remote.ControlClient` — a fake LM Studio *process* (the session-wide
  fake of ``--lmstudio-mode=fake``), scripted over its loopback-only control API ``/__fake__/``.

See docs/scripting.md for the guide and fake_lms/scripting/rules.py for the matching rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fake_lms.scripting.records import (
    RequestRecord,
    assert_called,
    assert_called_with,
    assert_not_called,
)
from fake_lms.scripting.rules import MatchSpec


def _with_reasoning(entry: dict[str, Any], reasoning: str | None) -> dict[str, Any]:
    """A reply entry with its scripted reasoning, if any (the control API's JSON form)."""
    return entry if reasoning is None else {**entry, "reasoning": reasoning}


class ScriptingMethods:
    """Replies, faults and request assertions; subclasses provide ``_add`` and ``requests``.

    A rule that never acts fails the test at teardown under the ``lmstudio_fake`` fixture (a reply
    your code never asked for is a test that checks nothing); ``optional=True`` on the call, or
    the ini setting ``lmstudio_unused_scripts = ignore`` for a suite, allows it."""

    # -- primitives (provided by the target) ---------------------------------------------------
    def _add(self, entry: dict[str, Any]) -> Any:
        raise NotImplementedError

    @property
    def requests(self) -> list[RequestRecord]:
        """The requests received, parsed, oldest first."""
        raise NotImplementedError

    # -- replies -------------------------------------------------------------------------------
    def reply(
        self,
        text: str,
        *,
        match: MatchSpec = None,
        times: int | None = None,
        optional: bool = False,
        reasoning: str | None = None,
    ) -> Any:
        """Answer matching chat / completion / responses requests (streamed or not) with ``text``.

        ``times=None`` (default) keeps answering until a later reply with the same ``match`` is
        registered and reached: ``reply("A"); reply("B")`` answers A, then B from then on.
        ``text`` is the content; a model that reasons for the request still reasons first, and
        ``reasoning`` replaces what it thinks (``""``: it thinks nothing)."""
        entry = {"text": text, "match": match, "times": times, "optional": optional}
        return self._add({"reply": _with_reasoning(entry, reasoning)})

    def reply_tool_call(
        self,
        name: str,
        arguments: Mapping[str, Any] | str | None = None,
        *,
        match: MatchSpec = None,
        times: int | None = None,
        optional: bool = False,
        reasoning: str | None = None,
    ) -> Any:
        """Answer with one tool call (``finish_reason: "tool_calls"``); ``arguments`` is a dict or
        JSON text."""
        call = {"name": name, "arguments": {} if arguments is None else arguments}
        entry = {"tool_calls": [call], "match": match, "times": times, "optional": optional}
        return self._add({"reply": _with_reasoning(entry, reasoning)})

    def reply_tool_calls(
        self,
        calls: Sequence[tuple[str, Mapping[str, Any] | str] | Mapping[str, Any]],
        *,
        match: MatchSpec = None,
        times: int | None = None,
        optional: bool = False,
        reasoning: str | None = None,
    ) -> Any:
        """Answer with several tool calls: ``[("get_weather", {"city": "Paris"}), ...]``."""
        items = [dict(c) if isinstance(c, Mapping) else {"name": c[0], "arguments": c[1]} for c in calls]
        entry = {"tool_calls": items, "match": match, "times": times, "optional": optional}
        return self._add({"reply": _with_reasoning(entry, reasoning)})

    def reply_json(
        self,
        obj: Any,
        *,
        match: MatchSpec = None,
        times: int | None = None,
        optional: bool = False,
        check_schema: bool = True,
        reasoning: str | None = None,
    ) -> Any:
        """Answer with ``obj`` as JSON text (structured output: ``response_format`` / ``text.format``).
        When the request carries a JSON schema, ``obj`` must follow it, or the test fails at this
        script naming the mismatch (``check_schema=False``: answer invalid output on purpose)."""
        entry = {
            "json": obj,
            "match": match,
            "times": times,
            "optional": optional,
            "check_schema": check_schema,
        }
        return self._add({"reply": _with_reasoning(entry, reasoning)})

    # -- MCP -----------------------------------------------------------------------------------
    def mcp_tool(
        self,
        server: str,
        tool: str,
        arguments: Mapping[str, Any] | str | None = None,
        *,
        output: str | None = None,
        fail: str | None = None,
        reason: str | None = None,
        match: MatchSpec = None,
        times: int | None = None,
        optional: bool = False,
    ) -> Any:
        """Declare an MCP server's tool and make the model call it, on ``/api/v1/chat``
        (``integrations``) and ``/v1/responses`` (``{"type": "mcp"}`` tools) alike: a request that
        enables ``server`` gets the call (``arguments``, a JSON object) and its ``output`` (raw
        text) before the model's message. ``server`` is what requests name: an ephemeral server's
        ``server_label`` (``"huggingface"``) or an ``mcp.json`` server's plugin id
        (``"mcp/playwright"``; ``/v1/responses`` names it by its label alone, without
        ``server_url``). ``fail="invalid_name"`` or ``"invalid_arguments"`` makes the call an
        invalid one (``reason``: LM Studio's words by default). Requests naming an undeclared
        server get LM Studio's connection error; the server settings ``allow_per_request_mcps``
        and ``allow_mcp_json`` (off, as in LM Studio) must allow the server first.

        Several tools called by one request are called in registration order; ``times=None``
        (default) calls the tool on every request that enables the server."""
        spec: dict[str, Any] = {"server": server, "tool": tool, "match": match, "times": times}
        spec["optional"] = optional
        spec["arguments"] = {} if arguments is None else arguments
        for name, value in (("output", output), ("fail", fail), ("reason", reason)):
            if value is not None:
                spec[name] = value
        return self._add({"mcp": spec})

    # -- faults --------------------------------------------------------------------------------
    def fault(
        self,
        kind: str,
        *,
        times: int | None = 1,
        match: MatchSpec = None,
        optional: bool = False,
        **params: Any,
    ) -> Any:
        """Inject a fault (``times=None``: on every matching request). Kinds and parameters:
        ``status`` (status, message, retry_after, body, headers), ``connection_reset``,
        ``no_models_loaded``, ``context_length_exceeded`` (message), ``expire`` (model),
        ``slow`` (ttft, tokens_per_second), ``stall`` (after, seconds), ``stream_cut`` (after),
        ``malformed_chunk`` (after, data), ``stream_error`` (after, message), ``download_failed``
        (model, after, message) and ``download_paused`` (model, after): the next download job (of
        ``model``, if given) stops ``after`` seconds in, ``failed`` or ``paused``, and never
        completes."""
        return self._add(
            {"fault": {"kind": kind, "match": match, "times": times, "optional": optional, **params}}
        )

    def fail(
        self,
        status: int,
        *,
        times: int | None = 1,
        retry_after: float | None = None,
        message: str | None = None,
        match: MatchSpec = None,
        optional: bool = False,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Answer with an HTTP error and LM Studio's body for it (``Retry-After`` if given)."""
        spec: dict[str, Any] = {"status": status, "match": match, "times": times, "optional": optional}
        for name, value in (
            ("retry_after", retry_after),
            ("message", message),
            ("body", body),
            ("headers", headers),
        ):
            if value is not None:
                spec[name] = value
        return self._add({"fail": spec})

    def slow(
        self,
        ttft: float | None = None,
        tokens_per_second: float | None = None,
        *,
        times: int | None = 1,
        match: MatchSpec = None,
        optional: bool = False,
    ) -> Any:
        """Delay the first token by ``ttft`` seconds and pace tokens at ``tokens_per_second``."""
        params = {
            k: v for k, v in (("ttft", ttft), ("tokens_per_second", tokens_per_second)) if v is not None
        }
        return self.fault("slow", times=times, match=match, optional=optional, **params)

    def stall(
        self,
        after: int = 1,
        seconds: float = 1.0,
        *,
        times: int | None = 1,
        match: MatchSpec = None,
        optional: bool = False,
    ) -> Any:
        """Pause a stream for ``seconds`` after ``after`` chunks."""
        return self.fault("stall", times=times, match=match, optional=optional, after=after, seconds=seconds)

    def stream_cut(
        self, after: int = 1, *, times: int | None = 1, match: MatchSpec = None, optional: bool = False
    ) -> Any:
        """Close the connection after ``after`` chunks, without ``[DONE]``."""
        return self.fault("stream_cut", times=times, match=match, optional=optional, after=after)

    def malformed_chunk(
        self,
        after: int = 1,
        *,
        data: str | bytes | None = None,
        times: int | None = 1,
        match: MatchSpec = None,
        optional: bool = False,
    ) -> Any:
        """Send ``data: {not json`` (or ``data``) after ``after`` chunks."""
        params: dict[str, Any] = {"after": after}
        if data is not None:
            params["data"] = data.decode() if isinstance(data, bytes) else data
        return self.fault("malformed_chunk", times=times, match=match, optional=optional, **params)

    def stream_error(
        self,
        after: int = 1,
        *,
        message: str | None = None,
        times: int | None = 1,
        match: MatchSpec = None,
        optional: bool = False,
    ) -> Any:
        """Send ``data: {"error": {...}}`` after ``after`` chunks and end the stream."""
        params: dict[str, Any] = {"after": after}
        if message is not None:
            params["message"] = message
        return self.fault("stream_error", times=times, match=match, optional=optional, **params)

    def connection_reset(
        self, *, times: int | None = 1, match: MatchSpec = None, optional: bool = False
    ) -> Any:
        """Close the connection before sending any byte."""
        return self.fault("connection_reset", times=times, match=match, optional=optional)

    def no_models_loaded(
        self, *, times: int | None = 1, match: MatchSpec = None, optional: bool = False
    ) -> Any:
        """Answer LM Studio's exact 400 "No models loaded. ..."."""
        return self.fault("no_models_loaded", times=times, match=match, optional=optional)

    def context_length_exceeded(
        self,
        *,
        message: str | None = None,
        times: int | None = 1,
        match: MatchSpec = None,
        optional: bool = False,
    ) -> Any:
        """Answer 400 with code ``context_length_exceeded``."""
        params = {"message": message} if message is not None else {}
        return self.fault("context_length_exceeded", times=times, match=match, optional=optional, **params)

    def slow_load(self, seconds: float) -> Any:
        """Every JIT or explicit load takes ``seconds`` (the ``load_seconds`` setting)."""
        return self.configure(load_seconds=seconds)

    def configure(self, **settings: Any) -> Any:
        raise NotImplementedError

    # -- models --------------------------------------------------------------------------------
    def add_model(self, key: str, *, downloaded: bool = True, **fields: Any) -> dict[str, Any]:
        """Put a model in the fake's catalog (downloaded, by default), so that requests naming
        it are served and ``lms ls`` lists it. Unspecified fields are guessed from the name
        (``ModelSpec.plausible``: embedding models, vision, reasoning, size); ``fields`` are
        catalog fields (``type="embedding"``, ``vision=True``, ``max_context_length=8192``...).
        Returns the model's catalog entry."""
        if not isinstance(key, str) or not key.strip():
            raise ValueError(f"add_model needs a model key, not {key!r}")
        return self._add_model({"key": key, "downloaded": downloaded, "fields": fields})

    def _add_model(self, request: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    # -- request assertions --------------------------------------------------------------------
    def assert_called_with(self, **fields: Any) -> RequestRecord:
        """Some request matched every field (``model=``, ``tools=``, ``path=``, ``stream=``,
        ``messages=``, ``headers={...}``, ``temperature=``, any JSON body field...); returns it."""
        return assert_called_with(self.requests, **fields)

    def assert_called(self, times: int | None = None, **fields: Any) -> list[RequestRecord]:
        """At least one (``times=None``) or exactly ``times`` requests matched the fields."""
        return assert_called(self.requests, times, **fields)

    def assert_not_called(self, **fields: Any) -> None:
        """No request matched the fields (no fields: no request at all)."""
        assert_not_called(self.requests, **fields)
