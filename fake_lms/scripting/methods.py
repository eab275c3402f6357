"""The scripting API of the fake: scripted replies, injected faults, recorded requests.

:class:`ScriptingMethods` is the API itself, written once for both targets:

* :class:`ScriptingMixin` — ``FakeLMStudio`` in this process (``fake.reply("Hi")``), where a
  ``match`` may also be a Python callable;
* :class:`fake_lms.server.control.ControlClient` — a fake LM Studio *process* (the session-wide fake of
  ``--lmstudio-mode=fake``), scripted over its loopback-only control endpoint ``/__fake__/``.

See docs/scripting.md for the guide and fake_lms/scripting/rules.py for the matching rules.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from werkzeug.wrappers import Request, Response

from fake_lms.scripting.records import (
    RequestLog,
    RequestRecord,
    assert_called,
    assert_called_with,
    assert_not_called,
)
from fake_lms.scripting.rules import MatchSpec, Rule, Script, expire
from fake_lms.server import http

CONTROL_PREFIX = "/__fake__/"


class ScriptingMethods:
    """Replies, faults and request assertions; subclasses provide ``_add`` and ``requests``."""

    # -- primitives (provided by the target) ---------------------------------------------------
    def _add(self, entry: dict[str, Any]) -> Any:
        raise NotImplementedError

    @property
    def requests(self) -> list[RequestRecord]:
        """The requests received, parsed, oldest first."""
        raise NotImplementedError

    # -- replies -------------------------------------------------------------------------------
    def reply(self, text: str, *, match: MatchSpec = None, times: int | None = None) -> Any:
        """Answer matching chat / completion / responses requests (streamed or not) with ``text``.

        ``times=None`` (default) keeps answering until a later reply with the same ``match`` is
        registered and reached: ``reply("A"); reply("B")`` answers A, then B from then on."""
        return self._add({"reply": {"text": text, "match": match, "times": times}})

    def reply_tool_call(
        self,
        name: str,
        arguments: Mapping[str, Any] | str | None = None,
        *,
        match: MatchSpec = None,
        times: int | None = None,
    ) -> Any:
        """Answer with one tool call (``finish_reason: "tool_calls"``); ``arguments`` is a dict or
        JSON text."""
        call = {"name": name, "arguments": {} if arguments is None else arguments}
        return self._add({"reply": {"tool_calls": [call], "match": match, "times": times}})

    def reply_tool_calls(
        self,
        calls: Sequence[tuple[str, Mapping[str, Any] | str] | Mapping[str, Any]],
        *,
        match: MatchSpec = None,
        times: int | None = None,
    ) -> Any:
        """Answer with several tool calls: ``[("get_weather", {"city": "Paris"}), ...]``."""
        items = [dict(c) if isinstance(c, Mapping) else {"name": c[0], "arguments": c[1]} for c in calls]
        return self._add({"reply": {"tool_calls": items, "match": match, "times": times}})

    def reply_json(self, obj: Any, *, match: MatchSpec = None, times: int | None = None) -> Any:
        """Answer with ``obj`` as JSON text (structured output: ``response_format`` / ``text.format``)."""
        return self._add({"reply": {"json": obj, "match": match, "times": times}})

    # -- faults --------------------------------------------------------------------------------
    def fault(self, kind: str, *, times: int | None = 1, match: MatchSpec = None, **params: Any) -> Any:
        """Inject a fault (``times=None``: on every matching request). Kinds and parameters:
        ``status`` (status, message, retry_after, body, headers), ``connection_reset``,
        ``no_models_loaded``, ``context_length_exceeded`` (message), ``expire`` (model),
        ``slow`` (ttft, tokens_per_second), ``stall`` (after, seconds), ``stream_cut`` (after),
        ``malformed_chunk`` (after, data), ``stream_error`` (after, message)."""
        return self._add({"fault": {"kind": kind, "match": match, "times": times, **params}})

    def fail(
        self,
        status: int,
        *,
        times: int | None = 1,
        retry_after: float | None = None,
        message: str | None = None,
        match: MatchSpec = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Answer with an HTTP error and LM Studio's body for it (``Retry-After`` if given)."""
        spec: dict[str, Any] = {"status": status, "match": match, "times": times}
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
    ) -> Any:
        """Delay the first token by ``ttft`` seconds and pace tokens at ``tokens_per_second``."""
        params = {
            k: v for k, v in (("ttft", ttft), ("tokens_per_second", tokens_per_second)) if v is not None
        }
        return self.fault("slow", times=times, match=match, **params)

    def stall(
        self, after: int = 1, seconds: float = 1.0, *, times: int | None = 1, match: MatchSpec = None
    ) -> Any:
        """Pause a stream for ``seconds`` after ``after`` chunks."""
        return self.fault("stall", times=times, match=match, after=after, seconds=seconds)

    def stream_cut(self, after: int = 1, *, times: int | None = 1, match: MatchSpec = None) -> Any:
        """Close the connection after ``after`` chunks, without ``[DONE]``."""
        return self.fault("stream_cut", times=times, match=match, after=after)

    def malformed_chunk(
        self,
        after: int = 1,
        *,
        data: str | bytes | None = None,
        times: int | None = 1,
        match: MatchSpec = None,
    ) -> Any:
        """Send ``data: {not json`` (or ``data``) after ``after`` chunks."""
        params: dict[str, Any] = {"after": after}
        if data is not None:
            params["data"] = data.decode() if isinstance(data, bytes) else data
        return self.fault("malformed_chunk", times=times, match=match, **params)

    def stream_error(
        self,
        after: int = 1,
        *,
        message: str | None = None,
        times: int | None = 1,
        match: MatchSpec = None,
    ) -> Any:
        """Send ``data: {"error": {...}}`` after ``after`` chunks and end the stream."""
        params: dict[str, Any] = {"after": after}
        if message is not None:
            params["message"] = message
        return self.fault("stream_error", times=times, match=match, **params)

    def connection_reset(self, *, times: int | None = 1, match: MatchSpec = None) -> Any:
        """Close the connection before sending any byte."""
        return self.fault("connection_reset", times=times, match=match)

    def no_models_loaded(self, *, times: int | None = 1, match: MatchSpec = None) -> Any:
        """Answer LM Studio's exact 400 "No models loaded. ..."."""
        return self.fault("no_models_loaded", times=times, match=match)

    def context_length_exceeded(
        self, *, message: str | None = None, times: int | None = 1, match: MatchSpec = None
    ) -> Any:
        """Answer 400 with code ``context_length_exceeded``."""
        params = {"message": message} if message is not None else {}
        return self.fault("context_length_exceeded", times=times, match=match, **params)

    def slow_load(self, seconds: float) -> Any:
        """Every JIT or explicit load takes ``seconds`` (the ``load_seconds`` setting)."""
        return self.configure(load_seconds=seconds)

    def configure(self, **settings: Any) -> Any:
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


@dataclasses.dataclass(frozen=True)
class _Baseline:
    settings: Any
    downloaded: dict[str, float]
    instances: list[Any]
    token_hashes: list[str]
    catalog: bytes | None


class Refusal:
    """Returned by ``refuse_connections``: a context manager; ``end()`` serves again."""

    def __init__(self, fake: ScriptingMixin) -> None:
        self._fake = fake

    def end(self) -> None:
        self._fake.accept_connections()

    def __enter__(self) -> Refusal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.end()


API_REQUEST_KEY = "fake_lms.api_request"


class ScriptingMixin(ScriptingMethods):
    """Scripting for ``FakeLMStudio`` (in process). Needs ``home``, ``ctx``, ``app`` and the
    pytest-httpserver base; ``_init_scripting()`` is called at the end of ``__init__``."""

    # attributes provided by FakeLMStudio / pytest-httpserver
    home: Any
    ctx: Any
    app: Any
    _log_limit: int | None

    def _init_scripting(self) -> None:
        self.script = Script(self.ctx, handler_errors=self.app.handler_errors)
        self.ctx.scripts = self.script
        self._recorded = RequestLog(limit=self._log_limit)
        self._inflight: list[None] = []  # one item per request being dispatched (append/pop: atomic)
        self._refusal_lock = threading.RLock()
        self._refusing = False
        self._refusal_timer: threading.Timer | None = None
        self._baseline = self._capture_baseline()

    # -- primitives ----------------------------------------------------------------------------
    def _add(self, entry: dict[str, Any]) -> Rule:
        return self.script.add(entry)

    @property
    def requests(self) -> list[RequestRecord]:
        """The requests received (LM Studio routes and pytest-httpserver expectations alike;
        never the control API), parsed, oldest first."""
        return self._recorded.snapshot()

    @property
    def rules(self) -> list[Rule]:
        """The registered replies and faults, in registration order."""
        return self.script.rules

    def configure(self, **settings: Any) -> Any:
        return self.home.update_settings(**settings)

    # -- the HTTP entry point: control API, recording --------------------------------------------
    def application(self, request: Request) -> Response:
        if request.path.startswith(CONTROL_PREFIX):
            from fake_lms.server import control

            return control.respond(self, request)
        api_request = http.to_api_request(request)
        request.environ[API_REQUEST_KEY] = api_request  # parsed once, reused by lmstudio_response
        api_request.record = record = RequestRecord.from_api_request(api_request)
        self._recorded.append(record)
        inflight = self._inflight
        inflight.append(None)
        try:
            response = super().application(request)  # type: ignore[misc]
        finally:
            inflight.pop()
            # pytest-httpserver's log keeps the request (and its environ) for a while: without this,
            # environ -> ApiRequest -> record -> headers -> environ is a cycle that only the cyclic
            # garbage collector can free, and full collections grow with every such request
            request.environ.pop(API_REQUEST_KEY, None)
        record.status = response.status_code
        return response

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is being dispatched (streamed bodies may still be sending)."""
        deadline = time.monotonic() + timeout
        while self._inflight:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.002)
        return True

    # -- state ---------------------------------------------------------------------------------
    def _capture_baseline(self) -> _Baseline:
        state = self.home.snapshot()
        try:
            catalog: bytes | None = self.home.catalog_file.read_bytes()
        except OSError:
            catalog = None
        return _Baseline(
            settings=state.settings,
            downloaded=dict(state.downloaded),
            instances=list(state.instances),
            token_hashes=list(state.token_hashes),
            catalog=catalog,
        )

    def _restore_baseline(self) -> None:
        base = self._baseline
        home = self.home
        if base.catalog is not None:
            with contextlib.suppress(OSError):
                if home.catalog_file.read_bytes() != base.catalog:
                    home.write_catalog_bytes(base.catalog)
        for key in set(home.snapshot().downloaded) - set(base.downloaded):
            with contextlib.suppress(Exception):
                home.remove_download(key)  # also deletes its placeholder weights file
        missing = []
        for key in base.downloaded:
            spec = home.catalog.get(key)
            if spec is not None and not (home.models_dir / spec.relative_dir / spec.file_name).exists():
                missing.append(key)
        now = time.time()
        with home.transaction() as state:
            state.settings = base.settings
            state.downloaded = {k: v for k, v in base.downloaded.items() if k not in missing}
            state.instances = [dataclasses.replace(i, loaded_at=now, last_used=now) for i in base.instances]
            state.token_hashes = list(base.token_hashes)
            state.evicted = []
        for key in missing:
            home.mark_downloaded(key)
        # in-memory stores of the protocol layer
        from fake_lms.core.context import ConversationStore, Stats

        jobs = self.ctx.extras.get("download_jobs")
        pending = getattr(jobs, "jobs", None)
        if isinstance(pending, dict):  # pending downloads must not complete into the next test
            lock = getattr(jobs, "_lock", None) or contextlib.nullcontext()
            with lock:
                pending.clear()
        self.ctx.extras.clear()
        self.ctx.conversations = ConversationStore()
        self.ctx.stats = Stats()
        for path in (home.request_log_file, home.lms_log_file):
            with contextlib.suppress(OSError):
                if path.exists():
                    path.write_text("", encoding="utf-8")

    def reset(self, *, state: bool = True) -> None:
        """Forget scripted replies, faults and recorded requests; clear pytest-httpserver's
        handlers, log, assertions and handler errors; serve again if refusing connections; and
        (``state=True``) restore the settings, downloads, loaded models, tokens, catalog,
        conversations, counters and logs the server started with."""
        self.script.clear()
        self._recorded.clear()
        self.clear()  # type: ignore[attr-defined]  # pytest-httpserver
        del self.app.handler_errors[:]
        self.accept_connections()
        if state:
            self.wait_idle()
            self._restore_baseline()

    def expire(self, model: str | None = None) -> list[Any]:
        """Unload ``model`` (identifier or model key; ``None``: every instance) as an idle TTL
        does; the next request for it JIT-loads it again. Returns the unloaded instances."""
        return expire(self.home, model)

    # -- connection refused --------------------------------------------------------------------
    def refuse_connections(self, seconds: float | None = None) -> Refusal:
        """Stop listening, so connections are refused, for ``seconds`` (``None``: until
        ``accept_connections()`` or the end of the ``with`` block). Open connections are closed.
        The port stays the same when serving resumes."""
        if seconds is not None and (
            isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0
        ):
            raise ValueError(f"seconds must be a non-negative number or None, not {seconds!r}")
        with self._refusal_lock:
            if self._refusal_timer is not None:
                self._refusal_timer.cancel()
                self._refusal_timer = None
            if self.is_running():  # type: ignore[attr-defined]
                self._refusing = True  # set first: stop() below must not cancel the refusal
                self.stop()  # type: ignore[attr-defined]
            if seconds is not None and self._refusing:
                timer = threading.Timer(seconds, self.accept_connections)
                timer.daemon = True
                self._refusal_timer = timer
                timer.start()
        return Refusal(self)

    def accept_connections(self) -> None:
        """Serve again after ``refuse_connections`` (no-op otherwise)."""
        with self._refusal_lock:
            if self._refusal_timer is not None:
                self._refusal_timer.cancel()
                self._refusal_timer = None
            if self._refusing:
                self._refusing = False
                if not self.is_running():  # type: ignore[attr-defined]
                    self.start()  # type: ignore[attr-defined]

    @property
    def refusing_connections(self) -> bool:
        return self._refusing

    def _cancel_refusal(self) -> None:
        with self._refusal_lock:
            if self._refusal_timer is not None:
                self._refusal_timer.cancel()
                self._refusal_timer = None
            self._refusing = False

    def stop(self) -> None:
        """(pytest-httpserver) stopping the server also ends a pending ``refuse_connections``."""
        with self._refusal_lock:
            if self._refusing and not self.is_running():  # type: ignore[attr-defined]
                self._cancel_refusal()  # already not listening: stay stopped
                return
            if not self._refusing:  # a stop by the user, not by refuse_connections
                self._cancel_refusal()
        super().stop()  # type: ignore[misc]

    def __exit__(self, *exc: Any) -> None:
        self._cancel_refusal()  # a stopped, refusing server must not come back by itself
        super().__exit__(*exc)  # type: ignore[misc]
