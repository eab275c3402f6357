"""``FakeLMStudio``: a fake LM Studio server on loopback, built on pytest-httpserver.

LM Studio's routes are the permanent fallback: every pytest-httpserver feature (``expect_request``,
ordered and oneshot handlers, ``log``, ``check_assertions``) works on top of it, and whatever no
expectation matches is answered the way LM Studio would answer it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from pytest_httpserver import HTTPServer, HTTPServerError
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from fake_lms.api import errors
from fake_lms.api.app import LMStudioApp
from fake_lms.core.context import Context
from fake_lms.core.stores import BoundedList
from fake_lms.model.catalog import Catalog, ModelSpec
from fake_lms.model.home import Home, Settings
from fake_lms.scripting.methods import ScriptingMethods
from fake_lms.scripting.records import RequestLog, RequestRecord
from fake_lms.scripting.remote import CONTROL_PREFIX
from fake_lms.scripting.rules import Rule, Script
from fake_lms.sdk.session import Session
from fake_lms.sdk.state_backend import StateBackend
from fake_lms.server import http, websocket

if TYPE_CHECKING:
    from fake_lms.server.recording import RecordReplay

DEFAULT_PORT = 1234
DEFAULT_LOG_LIMIT = 1000  # requests kept for assertions (and in pytest-httpserver's log); None: all
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024  # request bodies past this get a 413 (docs/fidelity.md)


class Refusal:
    """Returned by ``refuse_connections``: a context manager; ``end()`` serves again."""

    def __init__(self, fake: FakeLMStudio) -> None:
        self._fake = fake

    def end(self) -> None:
        self._fake.accept_connections()

    def __enter__(self) -> Refusal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.end()


class PortInUse(OSError):
    """The fake cannot bind its port."""


class FakeLMStudio(ScriptingMethods, HTTPServer):
    """A fake LM Studio: ``with FakeLMStudio() as fake: openai.OpenAI(base_url=fake.base_url)``.

    ``home`` is the fake LM Studio home (a new temporary directory by default; never a real
    LM Studio home). ``catalog`` replaces the home's catalog. Keyword settings (``jit``,
    ``auto_evict``, ``require_auth``, ``load_seconds``, ``lmstudio_version``, ...) are written to
    the home's settings; ``version`` is the older spelling of ``lmstudio_version``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        home: str | os.PathLike[str] | Home | None = None,
        catalog: Catalog | str | os.PathLike[str] | list[ModelSpec | dict[str, Any]] | None = None,
        api_tokens: list[str] | tuple[str, ...] = (),
        version: str | None = None,
        log_limit: int | None = DEFAULT_LOG_LIMIT,
        log_requests: bool = True,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        **settings: Any,
    ) -> None:
        super().__init__(host, port, threaded=True)
        unknown = set(settings) - Settings.field_names()
        if unknown:
            raise TypeError(
                f"FakeLMStudio() got unknown setting(s): {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(Settings.field_names()))}"
            )
        cat = Catalog.coerce(catalog) if catalog is not None else None
        if isinstance(home, Home):
            self.home = home
        elif home is not None:
            self.home = Home(home, catalog=cat)
        else:
            self.home = Home.temporary(catalog=cat)
        if version is not None:  # the older spelling of lmstudio_version=
            settings.setdefault("lmstudio_version", version)
        if settings:
            self.home.update_settings(**settings)
        for token in api_tokens:
            self.home.add_token(token)
        self.ctx = Context(self.home)
        self.app = LMStudioApp(self.ctx, log_requests=log_requests)
        if log_limit is not None:
            self.log = BoundedList(log_limit)  # pytest-httpserver's (request, response) log
        self._log_limit = log_limit
        if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int) or max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be a positive number of bytes, not {max_body_bytes!r}")
        self.max_body_bytes = max_body_bytes
        # scripting: replies and faults, the requests received, the home to go back to on reset
        self.script = Script(self.home, handler_errors=self.app.handler_errors)
        self.ctx.scripts = self.script
        self._recorded = RequestLog(limit=log_limit)
        self._inflight: list[None] = []  # one item per request being dispatched (append/pop: atomic)
        self._refusal_lock = threading.RLock()
        self._refusing = False
        self._refusal_timer: threading.Timer | None = None
        self._baseline = self.home.capture_baseline()
        # record / replay (fake_lms.server.recording): cassettes answer generations when set
        self.cassettes: RecordReplay | None = None
        # the SDK websocket (same port): one backend for every connection; Session options
        # (fail_fast, auth_error_shape) can be changed in sdk_options
        self.sdk_backend = StateBackend(self.ctx, on_record=lambda record: self._recorded.append(record))
        self.sdk_options: dict[str, Any] = {}

    # -- URLs ----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The server root, e.g. ``http://127.0.0.1:1234`` (native API and probes live here)."""
        return f"http://{self.format_host(self.host)}:{self.port}"

    @property
    def api_host(self) -> str:
        """``host:port`` as the ``lmstudio`` Python SDK takes it (``lmstudio.Client(fake.api_host)``)."""
        return f"{self.format_host(self.host)}:{self.port}"

    def _sdk_session(self, namespace: str) -> Session:
        return Session(namespace, self.sdk_backend, errors=self.app.handler_errors, **self.sdk_options)

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (root + ``/v1``)."""
        return self.url + "/v1"

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        if self.is_running():
            raise HTTPServerError("Server is already running")
        # one byte more than the limit, so that a body over it shows (http.BodyTooLarge)
        limited: type[Request] = type("Request", (Request,), {"max_content_length": self.max_body_bytes + 1})
        app = limited.application(self.application)
        # bind ourselves: werkzeug prints and calls sys.exit(1) when the port is taken
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(128)
        except OSError as exc:
            sock.close()
            raise PortInUse(
                f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc} "
                "(stop what is using it, or pass another port; 0 picks a free one)"
            ) from None
        try:
            self.server = make_server(
                self.host,
                self.port,
                app,
                threaded=True,
                request_handler=http.QuietNoDelayHandler,
                fd=sock.fileno(),
            )
        finally:
            sock.close()  # werkzeug works on its own duplicate of the descriptor
        self.server.fake_connections = set()  # type: ignore[attr-defined]
        self.server.fake_websocket = websocket.WebSocketUpgrade(  # type: ignore[attr-defined]
            self._sdk_session, max_incoming=self.max_body_bytes
        )
        self.port = self.server.port
        self.server_thread = threading.Thread(
            target=self.thread_target, daemon=True, name=f"fake-lmstudio:{self.port}"
        )
        self.server_thread.start()
        self.home.write_server_config(self.port, self.host, cors=self.home.settings.cors)

    def thread_target(self) -> None:
        assert self.server is not None
        self.server.serve_forever(poll_interval=0.05)  # stop() returns within ~50 ms

    def clear_log(self) -> None:
        if self._log_limit is not None:
            self.log = BoundedList(self._log_limit)
        else:
            super().clear_log()

    # -- the request path: control API, or parse, record and dispatch ---------------------------
    def application(self, request: Request) -> Response:
        """werkzeug's entry point: every request but the control API's is parsed once, recorded,
        and dispatched to the test's pytest-httpserver expectations, if any, or to LM Studio."""
        if request.path.startswith(CONTROL_PREFIX):
            from fake_lms.server import control

            return control.respond(self, request)
        try:
            api_request = http.to_api_request(request)
        except (http.BodyTooLarge, http.BadBody) as exc:
            return self._unreadable(request, exc)
        record = self.app.record(api_request)
        self._recorded.append(record)
        if self.cassettes is not None:
            answer = self.cassettes.respond(request, api_request)
            if answer is not None:
                self.log.append((request, answer))
                record.status = answer.status_code
                return answer
        inflight = self._inflight
        inflight.append(None)
        try:
            if self._has_expectations():
                response = self.dispatch(request)  # pytest-httpserver: expectations first
            else:
                response = http.to_response(self.app.handle(api_request), request)
        finally:
            inflight.pop()
        self.log.append((request, response))
        record.status = response.status_code
        return response

    def _unreadable(self, request: Request, exc: Exception) -> Response:
        """A body that is too large or malformed: a 4xx in LM Studio's JSON shape, and the
        connection closed (what is left of the body must not be read as the next request)."""
        if isinstance(exc, http.BodyTooLarge):
            reply = errors.oai(
                413,
                f"Request body too large: the limit is {exc.limit} bytes.",
                code="request_too_large",
            )
        else:
            reply = errors.oai(400, f"The request body could not be read: {exc}", code="invalid_body")
        reply.headers["Connection"] = "close"
        response = http.to_response(reply, request)
        self.log.append((request, response))
        return response

    def _has_expectations(self) -> bool:
        return bool(
            self.handlers
            or self.oneshot_handlers
            or self.ordered_handlers
            or self.permanently_failed
            or self._readiness_check_pending
        )

    def respond_nohandler(self, request: Request, extra_message: str = "") -> Response:
        """No expectation matched: answer as LM Studio (unless an ordered expectation failed)."""
        if self.permanently_failed:
            return super().respond_nohandler(request, extra_message)
        return http.to_response(self.app.handle(http.to_api_request(request)), request)

    def check_handler_errors(self) -> None:
        """Also re-raise errors raised inside the fake's own LM Studio handlers."""
        if self.app.handler_errors:
            raise self.app.handler_errors.pop(0)
        super().check_handler_errors()

    # -- conveniences --------------------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        return self.home.settings

    def configure(self, **settings: Any) -> Settings:
        """Change settings at run time (``fake.configure(jit=False)``)."""
        return self.home.update_settings(**settings)

    def request_log(self) -> list[dict[str, Any]]:
        """The request log kept in the home (one dict per request, oldest first)."""
        return self.home.request_log()

    # -- scripting (the methods themselves: fake_lms.scripting.methods) -------------------------
    def _add_model(self, request: dict[str, Any]) -> dict[str, Any]:
        fields = request.get("fields") or {}
        if not isinstance(fields, dict):
            raise ValueError("add_model fields must be an object of catalog fields")
        try:
            spec = ModelSpec.plausible(request["key"], **fields)
        except TypeError as exc:  # an unknown catalog field
            raise ValueError(f"add_model: {exc}") from None
        self.home.add_model(spec, downloaded=bool(request.get("downloaded", True)))
        return spec.to_dict()

    def _add(self, entry: dict[str, Any]) -> Rule:
        return self.script.add(entry)

    @property
    def requests(self) -> list[RequestRecord]:
        """The requests received (LM Studio routes and pytest-httpserver expectations alike;
        never the control API), parsed, oldest first."""
        return self._recorded.snapshot()

    @property
    def dropped_requests(self) -> int:
        """How many of the oldest requests ``requests`` no longer holds (``log_limit``)."""
        return self._recorded.dropped

    @property
    def rules(self) -> list[Rule]:
        """The registered replies and faults, in registration order."""
        return self.script.rules

    def unused_rules(self) -> list[Rule]:
        """Rules that never acted on a request and were not registered ``optional=True``."""
        return [rule for rule in self.script.rules if rule.unused]

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is being dispatched (streamed bodies may still be sending)."""
        deadline = time.monotonic() + timeout
        while self._inflight:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.002)
        return True

    def reset(self, *, state: bool = True) -> None:
        """Forget scripted replies, faults and recorded requests; clear pytest-httpserver's
        handlers, log, assertions and handler errors; serve again if refusing connections; and
        (``state=True``) restore the settings, downloads, loaded models, tokens, catalog,
        conversations, counters and logs the server started with."""
        self.script.clear()
        self._recorded.clear()
        self.clear()  # pytest-httpserver
        del self.app.handler_errors[:]
        self.accept_connections()
        if state:
            self.wait_idle()
            self.home.restore_baseline(self._baseline)
            self.ctx.reset_stores()
        self.sdk_options.clear()
        self.sdk_backend.reset()

    def expire(self, model: str | None = None) -> list[Any]:
        """Unload ``model`` (identifier or model key; ``None``: every instance) as an idle TTL
        does; the next request for it JIT-loads it again. Returns the unloaded instances."""
        return self.home.expire(model)

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
            if self.is_running():
                self._refusing = True  # set first: stop() below must not cancel the refusal
                self.stop()
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
                if not self.is_running():
                    self.start()

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
        """Stop serving and close every open connection (as a real server going away does). A
        stop by the user also ends a pending ``refuse_connections``."""
        with self._refusal_lock:
            if self._refusing and not self.is_running():
                self._cancel_refusal()  # already not listening: stay stopped
                self.app.close()
                return
            if not self._refusing:  # a stop by the user, not by refuse_connections
                self._cancel_refusal()
        server = self.server
        connections = set(getattr(server, "fake_connections", ()))
        super().stop()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if server is not None:
            server.server_close()
        self.app.close()
        self.sdk_backend.close()

    def __exit__(self, *exc: Any) -> None:
        self._cancel_refusal()  # a stopped, refusing server must not come back by itself
        super().__exit__(*exc)

    def __repr__(self) -> str:
        return f"<FakeLMStudio {self.url if self.is_running() else '(stopped)'} home={str(self.home.path)!r}>"
