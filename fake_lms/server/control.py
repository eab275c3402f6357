"""The control API of a fake LM Studio process, and a small client for it.

A suite run with ``--lmstudio-mode=fake`` talks to one shared fake *process*; tests script it over
HTTP, on the fake's own port, under ``/__fake__/``:

==========================  =====================================================================
``POST /__fake__/script``   one entry or a list: ``{"reply": {...}}``, ``{"fail": {...}}``,
                            ``{"fault": {...}}`` (format: ``fake_lms.scripting.rules.Script.add``);
                            answers ``{"rules": [...]}``
``GET  /__fake__/script``   the registered rules
``GET  /__fake__/requests`` ``{"requests": [...]}``, oldest first (``RequestRecord.to_dict``)
``POST /__fake__/reset``    ``{"state": false}`` (default): forget rules and recorded requests;
                            ``{"state": true}``: also restore settings and loaded models
``POST /__fake__/expire``   ``{"model": "..."}``: unload as an idle TTL would
``POST /__fake__/refuse``   ``{"seconds": 1.0}``: refuse connections for that long (after answering)
``POST /__fake__/configure`` settings, e.g. ``{"load_seconds": 2}``
==========================  =====================================================================

Safety: the fake binds 127.0.0.1 by default, and the control API answers **only** clients on a
loopback address (403 otherwise, even when the fake was told to bind 0.0.0.0). It is exempt from
LM Studio's authentication (it is the test harness, not LM Studio), and POSTs must be
``Content-Type: application/json`` so that a web page cannot script the fake with a "simple"
cross-origin request. Control requests are not recorded, logged, faulted or counted.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from fake_lms.scripting.methods import CONTROL_PREFIX, ScriptingMethods
from fake_lms.scripting.records import RequestRecord
from fake_lms.scripting.rules import ScriptError, to_json

if TYPE_CHECKING:
    from fake_lms.scripting.methods import ScriptingMixin

JSON_TYPE = "application/json; charset=utf-8"


class ControlError(RuntimeError):
    """The control API refused a request; ``str()`` is the fake's explanation."""


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, content_type=JSON_TYPE)


def is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def _body(request: Request) -> Any:
    data = request.get_data(cache=True)
    if not data.strip():
        return {}
    try:
        return json.loads(data)
    except ValueError as exc:
        raise ScriptError(f"the body is not JSON: {exc}") from None


def _script(fake: ScriptingMixin, request: Request) -> Response:
    if request.method == "GET":
        return _json(200, {"rules": [r.to_dict() for r in fake.script.rules]})
    body = _body(request)
    entries = body if isinstance(body, list) else [body]
    added = []
    try:
        for entry in entries:
            added.append(fake.script.add(entry))
    except Exception:
        for rule in added:  # all or nothing
            rule.cancel()
        raise
    return _json(200, {"rules": [r.to_dict() for r in added]})


def _requests(fake: ScriptingMixin, request: Request) -> Response:
    return _json(200, {"requests": [r.to_dict() for r in fake.requests]})


def _reset(fake: ScriptingMixin, request: Request) -> Response:
    body = _body(request)
    state = body.get("state", False) if isinstance(body, Mapping) else False
    if not isinstance(state, bool):
        raise ScriptError("'state' must be true or false")
    fake.reset(state=state)
    return _json(200, {"ok": True, "state": state})


def _expire(fake: ScriptingMixin, request: Request) -> Response:
    body = _body(request)
    model = body.get("model") if isinstance(body, Mapping) else None
    if model is not None and not isinstance(model, str):
        raise ScriptError("'model' must be a string")
    gone = fake.expire(model)
    return _json(200, {"expired": [inst.identifier for inst in gone]})


def _refuse(fake: ScriptingMixin, request: Request) -> Response:
    body = _body(request)
    seconds = body.get("seconds") if isinstance(body, Mapping) else None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= 600:
        raise ScriptError("'seconds' must be a number of seconds between 0 and 600")
    response = _json(200, {"ok": True, "seconds": seconds})

    def go_offline() -> None:  # once this answer has been sent
        import threading

        threading.Thread(target=fake.refuse_connections, args=(seconds,), daemon=True).start()

    response.call_on_close(go_offline)
    return response


def _configure(fake: ScriptingMixin, request: Request) -> Response:
    body = _body(request)
    if not isinstance(body, Mapping):
        raise ScriptError("configure needs an object of settings")
    try:
        settings = fake.configure(**body)
    except (TypeError, ValueError) as exc:
        raise ScriptError(str(exc)) from None
    import dataclasses

    return _json(200, {"settings": dataclasses.asdict(settings)})


ENDPOINTS: dict[tuple[str, str], Callable[[Any, Request], Response]] = {
    ("GET", "script"): _script,
    ("POST", "script"): _script,
    ("GET", "requests"): _requests,
    ("POST", "reset"): _reset,
    ("POST", "expire"): _expire,
    ("POST", "refuse"): _refuse,
    ("POST", "configure"): _configure,
}


def respond(fake: ScriptingMixin, request: Request) -> Response:
    """Answer a request under ``/__fake__/`` (called by the server before anything else)."""
    if not is_loopback(request.remote_addr):
        return _json(403, {"error": "the fake LM Studio control API only answers clients on loopback"})
    name = request.path[len(CONTROL_PREFIX) :].strip("/")
    handler = ENDPOINTS.get((request.method, name))
    if handler is None:
        known = ", ".join(f"{m} {CONTROL_PREFIX}{n}" for m, n in ENDPOINTS)
        return _json(
            404, {"error": f"unknown control endpoint {request.method} {request.path}; known: {known}"}
        )
    if request.method == "POST" and request.mimetype != "application/json":
        return _json(415, {"error": "control API POSTs must have Content-Type: application/json"})
    try:
        return handler(fake, request)
    except (ScriptError, TypeError, ValueError) as exc:
        return _json(400, {"error": str(exc)})


# --------------------------------------------------------------------------------------------
# client


class ControlClient(ScriptingMethods):
    """Script a fake LM Studio process: ``ControlClient("http://127.0.0.1:1234")``.

    The same methods as ``FakeLMStudio`` (``reply``, ``reply_tool_call``, ``reply_json``, ``fail``,
    ``fault`` and its conveniences, ``requests``, ``assert_called_with``...), except that ``match``
    cannot be a Python callable, and ``reset()`` by default keeps the server's state (the run's
    loaded models): pass ``state=True`` to restore settings and loaded models too.
    """

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        url = url.rstrip("/")
        if url.endswith("/v1"):
            url = url[: -len("/v1")]
        self.url = url
        self.timeout = timeout

    def _call(self, method: str, name: str, body: Any = None) -> Any:
        import httpx

        try:
            response = httpx.request(  # trust_env=False: loopback requests never go to a proxy
                method,
                f"{self.url}{CONTROL_PREFIX}{name}",
                json=body if method == "POST" else None,
                timeout=self.timeout,
                trust_env=False,
            )
        except httpx.HTTPError as exc:
            raise ControlError(f"cannot reach the fake LM Studio control API at {self.url}: {exc}") from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code != 200:
            message = data.get("error") if isinstance(data, dict) else response.text
            raise ControlError(f"{method} {CONTROL_PREFIX}{name} -> {response.status_code}: {message}")
        return data

    @staticmethod
    def _portable(entry: dict[str, Any]) -> dict[str, Any]:
        ((op, spec),) = entry.items()
        spec = {k: v for k, v in spec.items() if v is not None or k == "times"}
        if "match" in spec:
            spec["match"] = to_json(spec["match"])
        return {op: spec}

    def _add(self, entry: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "script", self._portable(entry))["rules"][0]

    def script(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Register several entries at once (all or nothing)."""
        return self._call("POST", "script", [self._portable(e) for e in entries])["rules"]

    @property
    def rules(self) -> list[dict[str, Any]]:
        return self._call("GET", "script")["rules"]

    @property
    def requests(self) -> list[RequestRecord]:
        """The requests the fake process received, oldest first (one HTTP call per access)."""
        return [RequestRecord.from_dict(d) for d in self._call("GET", "requests")["requests"]]

    def reset(self, *, state: bool = False) -> None:
        self._call("POST", "reset", {"state": state})

    def expire(self, model: str | None = None) -> list[str]:
        return self._call("POST", "expire", {"model": model})["expired"]

    def refuse_connections(self, seconds: float) -> None:
        """The fake refuses connections for ``seconds``; returns once it does (it answers first,
        then stops listening)."""
        import socket
        import time
        from urllib.parse import urlsplit

        self._call("POST", "refuse", {"seconds": seconds})
        parts = urlsplit(self.url)
        address = (parts.hostname or "127.0.0.1", parts.port or 80)
        deadline = time.monotonic() + min(float(seconds), 2.0)
        while time.monotonic() < deadline:
            try:
                socket.create_connection(address, timeout=0.2).close()
            except OSError:
                return
            time.sleep(0.005)

    def configure(self, **settings: Any) -> dict[str, Any]:
        return self._call("POST", "configure", settings)["settings"]

    def __repr__(self) -> str:
        return f"ControlClient({self.url!r})"
