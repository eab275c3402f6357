"""The fake LM Studio as a function: ``LMStudioApp.handle(ApiRequest) -> Reply``.

Cross-cutting rules live here, in the order LM Studio applies them: CORS preflight, authentication
(every route except the discovery probes), routing (unknown routes answer HTTP 200 "Unexpected
endpoint or method"), error shaping (no handler exception ever leaks a traceback), and the request
log in the home.
"""

from __future__ import annotations

import sys
import time
import traceback
from typing import Any

from fake_lms.api import errors, intents, routes
from fake_lms.api.errors import ApiError
from fake_lms.api.types import ApiRequest, Reply
from fake_lms.core import auth
from fake_lms.core.context import Context
from fake_lms.core.errors import ContextOverflow, CoreError
from fake_lms.core.requestlog import LineAppender, LogEntry, log_line
from fake_lms.core.stores import KeptErrors
from fake_lms.scripting.records import RequestRecord

# what a CORS-on LM Studio sends (cheshire-cat-ai/core#1014); Allow-Methods only on a preflight
CORS_HEADERS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "*"}
PREFLIGHT_HEADERS = {**CORS_HEADERS, "Access-Control-Allow-Methods": "GET,HEAD,PUT,PATCH,POST,DELETE"}


LIFECYCLE_PATHS = frozenset({"/api/v1/models/load", "/api/v1/models/unload", "/api/v1/models/download"})


class LMStudioApp:
    """Routes parsed requests to protocol handlers and applies LM Studio's global rules."""

    def __init__(self, ctx: Context, *, log_requests: bool = True) -> None:
        self.ctx = ctx
        self.log_requests = log_requests
        self.handler_errors = KeptErrors()  # bounded: each error holds its request
        self._log = LineAppender(ctx.home.request_log_file)

    def check_auth(self, req: ApiRequest) -> Reply | None:
        token = auth.bearer_token(req.header("authorization"))
        if token is None and req.path == "/v1/messages":  # Anthropic clients send x-api-key
            token = (req.header("x-api-key") or "").strip() or None
        refusal = auth.check_token(token, self.ctx.home.token_known)
        if refusal == "missing":
            return errors.missing_token()
        if refusal == "malformed":
            return errors.malformed_token()
        if refusal == "unknown":
            return errors.unknown_token()
        return None

    @staticmethod
    def record(req: ApiRequest) -> RequestRecord:
        """What the fake records of a request (for ``fake.requests`` and the test's script)."""
        api, operation = routes.classify(req.path)
        req.record = record = RequestRecord.from_api_request(req, api=api, operation=operation)
        return record

    def handle(self, req: ApiRequest) -> Reply:
        started = time.perf_counter()
        if req.record is None:  # handled without a server that recorded it
            self.record(req)
        settings = self.ctx.home.settings
        self.ctx.stats.requests += 1
        reply: Reply | None = None
        if req.method == "OPTIONS" and settings.cors:
            reply = Reply(204, raw=b"")
        elif settings.require_auth and req.path not in routes.AUTH_EXEMPT:
            reply = self.check_auth(req)
        if reply is None and self.ctx.scripts is not None:  # injected faults, as intents
            intent = self.ctx.scripts.before(req.record)
            if intent is not None:
                reply = intents.before_reply(intent, routes.renderer(req.path))
        if reply is None:
            found = routes.find(req.method, req.path)
            if found is None:
                reply = errors.unexpected_endpoint(req.method, req.path)
            else:
                try:
                    reply = found.handler(self.ctx, req, **found.params)
                except ApiError as exc:
                    reply = exc.reply
                except CoreError as exc:  # a domain error, in the shape of the route's dialect
                    reply = self.render_error(exc, req, found, settings.overflow_stream)
                except Exception as exc:  # a bug in the fake: answer like LM Studio, keep the error
                    self.handler_errors.append(exc)
                    print(
                        f"fake LM Studio: error handling {req.method} {req.path}:\n{traceback.format_exc()}",
                        file=sys.stderr,
                    )
                    reply = errors.internal_error(f"{type(exc).__name__}: {exc}")
        if reply.stream is not None:  # the script's stream intents, as the transport sends them
            reply.stream = intents.render_stream(reply.stream)
        if settings.cors:
            reply.headers.update(PREFLIGHT_HEADERS if req.method == "OPTIONS" else CORS_HEADERS)
        notes = reply.notes
        if self.log_requests:
            self.log(req, reply, time.perf_counter() - started, notes)
        return reply

    @staticmethod
    def render_error(exc: CoreError, req: ApiRequest, route: routes.Route, overflow_stream: str) -> Reply:
        """A domain error in the route's dialect. A streamed request whose prompt overflows the
        context gets what LM Studio 0.4.21 sends (HTTP 200 carrying the error), or, by the
        ``overflow_stream`` setting, the older 400 or an empty stream (docs/fidelity.md)."""
        if isinstance(exc, ContextOverflow) and req.record is not None and req.record.stream:
            if overflow_stream == "error":
                return route.render_stream(exc)
            if overflow_stream == "empty":
                return Reply(200, stream=[])
        return route.render(exc)

    def log(self, req: ApiRequest, reply: Reply, seconds: float, notes: dict[str, Any] | None = None) -> None:
        """Write the request-log line of one request. Never the body, headers or token; ``notes``
        are what the handler recorded (``action``: load / jit_load / unload / download,
        ``model_key``, ``instance_id``, ``evicted``, ``job_id``)."""
        model = reply.model
        if model is None and req.path in LIFECYCLE_PATHS:
            try:
                body = req.json()
                model = body.get("model") or body.get("instance_id")
            except (ValueError, AttributeError):
                pass
        entry = LogEntry(
            time.time(),
            req.method,
            req.path,
            reply.status,
            model,
            seconds,
            reply.stream is not None,
            reply.usage,
            notes,
        )
        try:
            self._log.append(log_line(entry))
        except OSError as exc:
            if isinstance(exc, FileNotFoundError) and not self.ctx.home.path.exists():
                return  # the home was removed (a request answered while the server stopped): no log
            self.handler_errors.append(exc)  # re-raised by check_assertions, like a handler's error
            print(f"fake LM Studio: cannot write the request log: {exc}", file=sys.stderr)

    def close(self) -> None:
        self._log.close()
