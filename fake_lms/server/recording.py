"""Record and replay on the fake's request path: :class:`RecordReplay`, set as ``fake.cassettes``.

For each request, the current cassette (``current``, set by the pytest plugin at each test's setup;
or one chosen per request with the ``X-LMStudio-Cassette`` header by ``python -m fake_lms serve``)
decides:

* a **generation** (chat, completions, responses, messages, embeddings, in every dialect) is
  answered from the cassette byte for byte when it matches a recorded one; otherwise it is sent to
  the upstream LM Studio and recorded, when the record mode allows; otherwise it is a *miss*: the
  client gets the dialect's error (HTTP 400, code ``cassette_miss``) naming the request, the
  closest recorded one and how to record it.
* anything else (models, load, unload, downloads, probes) goes to the upstream while recording,
  and is served from the fake's own state when only replaying: the model lifecycle keeps working.

Streams replay instantly, or with the recorded pacing (``pacing=True``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from werkzeug.wrappers import Request, Response

from fake_lms.api import routes
from fake_lms.api.types import ApiRequest
from fake_lms.core.errors import CoreError
from fake_lms.replay.cassette import Interaction, request_body_to_data
from fake_lms.replay.matching import Request as MatchRequest
from fake_lms.replay.session import CassetteSession, Miss
from fake_lms.server import http
from fake_lms.server.proxy import (
    CASSETTE_HEADER,
    Upstream,
    is_stream,
    recorded_response,
    relay_stream,
    response_headers,
)

GENERATION_PATHS = frozenset(
    {
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/responses",
        "/v1/messages",
        "/api/v0/chat/completions",
        "/api/v0/completions",
        "/api/v0/embeddings",
        "/api/v1/chat",
    }
)
REPLAY_SKIP_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive", "date"})


class CassetteMiss(CoreError):
    """No recorded exchange answers the request (rendered in the dialect's error shape)."""

    status = 400
    code = "cassette_miss"


class RecordReplay:
    """The fake's record/replay switch. ``sessions`` (optional) picks a cassette per request from
    the ``X-LMStudio-Cassette`` header value (``None`` when absent); otherwise ``current`` is used."""

    def __init__(
        self,
        upstream: Upstream | None = None,
        *,
        pacing: bool = False,
        sessions: Callable[[str | None], CassetteSession | None] | None = None,
    ) -> None:
        self.upstream = upstream
        self.pacing = pacing
        self.sessions = sessions
        self.current: CassetteSession | None = None
        self._busy = 0
        self._cond = threading.Condition()
        self.errors: list[BaseException] = []

    # -- requests in flight (a test's teardown waits for its streams to be recorded) ---------------
    def _begin(self) -> None:
        with self._cond:
            self._busy += 1

    def _end(self) -> None:
        with self._cond:
            self._busy -= 1
            self._cond.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._busy == 0, timeout)

    # -- the request path ------------------------------------------------------------------------
    def session_for(self, request: Request) -> CassetteSession | None:
        if self.sessions is not None:
            return self.sessions(request.headers.get(CASSETTE_HEADER))
        return self.current

    def respond(self, request: Request, api_request: ApiRequest) -> Response | None:
        """The response to ``request``, or ``None`` for the fake to answer it from its own state."""
        session = self.session_for(request)
        if session is None:
            return None
        if api_request.method == "POST" and api_request.path in GENERATION_PATHS:
            body = request_body_to_data(api_request.body)
            match = MatchRequest.from_body_data(api_request.method, api_request.path, body, api_request.query)
            found = session.find(match)
            if found is not None:
                return self.replay(found)
            if session.records and self.upstream is not None:
                return self.forward(request, api_request, session, record=True)
            return self.refuse(api_request, session.miss(match), session)
        if session.records and self.upstream is not None:
            return self.forward(request, api_request, session, record=False)
        return None

    # -- replay ----------------------------------------------------------------------------------
    def replay(self, interaction: Interaction) -> Response:
        headers = [(k, v) for k, v in interaction.response_headers().items() if k not in REPLAY_SKIP_HEADERS]
        if not interaction.is_stream:
            body = interaction.response_body()
            headers.append(("Content-Length", str(len(body))))
            return http.BodyResponse(body, interaction.status, headers)
        return Response(
            self._paced(interaction) if self.pacing else (data for _, data in interaction.iter_stream()),
            status=interaction.status,
            headers=headers,
            direct_passthrough=True,
        )

    @staticmethod
    def _paced(interaction: Interaction) -> Iterator[bytes]:
        started = time.monotonic()
        for t, data in interaction.iter_stream():
            wait = t - (time.monotonic() - started)
            if wait > 0:
                time.sleep(wait)
            yield data

    def refuse(self, api_request: ApiRequest, miss: Miss, session: CassetteSession) -> Response:
        name = session.path.name if session.path is not None else "the cassette"
        message = (
            f"pytest-lmstudio cassette miss: {name} has no recorded response for this request "
            f"(record mode {session.mode}). {miss.describe(session.record_hint)}"
        )
        render = routes.renderer(api_request.path)
        return http.to_response(render(CassetteMiss(message)))

    # -- record ----------------------------------------------------------------------------------
    def forward(
        self, request: Request, api_request: ApiRequest, session: CassetteSession, *, record: bool
    ) -> Response:
        assert self.upstream is not None
        redactor = session.redactor
        recorded_request: dict[str, Any] = {"method": api_request.method, "path": api_request.path}
        if api_request.query:
            recorded_request["query"] = dict(api_request.query)
        recorded_request["headers"] = redactor.headers(dict(api_request.headers.items()))
        body = request_body_to_data(api_request.body)
        if "json" in body:
            redacted = redactor.body(body["json"])
            if redacted != body["json"]:
                body = {"json": redacted}
        if body:
            recorded_request["body"] = body
        started = time.monotonic()
        self._begin()
        try:
            upstream = self.upstream.send(
                api_request.method,
                api_request.path,
                request.query_string.decode("latin-1"),
                dict(api_request.headers.items()),
                api_request.body,
            )
        except httpx.HTTPError as exc:
            self._end()
            where = self.upstream.url
            message = f"pytest-lmstudio recording proxy: the upstream LM Studio at {where} failed: {exc}"
            return http.to_response(routes.renderer(api_request.path)(CoreError(message)))
        headers = response_headers(upstream)
        if is_stream(upstream):

            def complete(events: list[dict[str, object]]) -> None:
                if record:
                    data = recorded_response(upstream, redactor, None, events)
                    session.add(Interaction(recorded_request, data))

            return Response(
                relay_stream(upstream, started, complete, self._end),
                status=upstream.status_code,
                headers=headers,
                direct_passthrough=True,
            )
        try:
            content = upstream.read()
        finally:
            upstream.close()
            self._end()
        if record:
            session.add(Interaction(recorded_request, recorded_response(upstream, redactor, content, None)))
        headers.append(("Content-Length", str(len(content))))
        return http.BodyResponse(content, upstream.status_code, headers)
