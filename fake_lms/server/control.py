"""The control API of a fake LM Studio process (its client: ``fake_lms.scripting.remote``).

A suite run with ``--lmstudio-mode=fake`` talks to one shared fake *process*; tests script it over
HTTP, on the fake's own port, under ``/__fake__/``:

==========================  =====================================================================
``POST /__fake__/script``   one entry or a list: ``{"reply": {...}}``, ``{"fail": {...}}``,
                            ``{"fault": {...}}``, ``{"mcp": {...}}`` (format:
                            ``fake_lms.scripting.rules.Script.add``);
                            answers ``{"rules": [...]}``
``GET  /__fake__/script``   the registered rules
``POST /__fake__/script/cancel`` ``{"ids": [...]}``: those rules act no more (others untouched)
``GET  /__fake__/requests`` ``{"requests": [...]}``, oldest first (``RequestRecord.to_dict``);
                            ``?since=<epoch seconds>``: only those received since then
``POST /__fake__/reset``    ``{"state": false}`` (default): forget rules and recorded requests;
                            ``{"state": true}``: also restore settings and loaded models
``POST /__fake__/expire``   ``{"model": "..."}``: unload as an idle TTL would
``POST /__fake__/refuse``   ``{"seconds": 1.0}``: refuse connections for that long (after answering)
``POST /__fake__/configure`` settings, e.g. ``{"load_seconds": 2}``
``POST /__fake__/models``   ``{"key": "...", "downloaded": true, "fields": {...}}``: add a model
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

from fake_lms.model.catalog import CatalogError
from fake_lms.scripting.remote import CONTROL_PREFIX
from fake_lms.scripting.rules import ScriptError
from fake_lms.server.http import JSON_TYPE

if TYPE_CHECKING:
    from fake_lms.server.fake import FakeLMStudio


def _json(status: int, body: Any) -> Response:
    # ASCII escapes: a recorded body may hold a lone surrogate, which UTF-8 cannot carry
    return Response(json.dumps(body), status=status, content_type=JSON_TYPE)


def is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def is_loopback_host(host: str | None) -> bool:
    """Whether a ``Host`` header names this machine: ``localhost`` (or a name under it), or a
    loopback address, with any port. A web page on another name that resolves to 127.0.0.1 (DNS
    rebinding) sends its own name, and is refused."""
    if not host:
        return False
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    return is_loopback(name)


def _body(request: Request) -> Any:
    data = request.get_data(cache=True)
    if not data.strip():
        return {}
    try:
        return json.loads(data)
    except ValueError as exc:
        raise ScriptError(f"the body is not JSON: {exc}") from None


def _script(fake: FakeLMStudio, request: Request) -> Response:
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


def _cancel(fake: FakeLMStudio, request: Request) -> Response:
    body = _body(request)
    ids = body.get("ids") if isinstance(body, Mapping) else None
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise ScriptError('cancel rules with {"ids": [rule ids]}')
    wanted = set(ids)
    cancelled = [rule for rule in fake.script.rules if rule.id in wanted]
    for rule in cancelled:
        rule.cancel()
    return _json(200, {"cancelled": [rule.to_dict() for rule in cancelled]})


def _requests(fake: FakeLMStudio, request: Request) -> Response:
    since = request.args.get("since")
    records = fake.requests
    if since is not None:
        try:
            start = float(since)
        except ValueError:
            raise ScriptError(f"since must be a time in seconds since the epoch, not {since!r}") from None
        records = [r for r in records if r.time >= start]
    return _json(200, {"requests": [r.to_dict() for r in records]})


def _reset(fake: FakeLMStudio, request: Request) -> Response:
    body = _body(request)
    state = body.get("state", False) if isinstance(body, Mapping) else False
    if not isinstance(state, bool):
        raise ScriptError("'state' must be true or false")
    fake.reset(state=state)
    return _json(200, {"ok": True, "state": state})


def _expire(fake: FakeLMStudio, request: Request) -> Response:
    body = _body(request)
    model = body.get("model") if isinstance(body, Mapping) else None
    if model is not None and not isinstance(model, str):
        raise ScriptError("'model' must be a string")
    gone = fake.expire(model)
    return _json(200, {"expired": [inst.identifier for inst in gone]})


def _refuse(fake: FakeLMStudio, request: Request) -> Response:
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


def _models(fake: FakeLMStudio, request: Request) -> Response:
    body = _body(request)
    if not isinstance(body, Mapping) or not isinstance(body.get("key"), str):
        raise ScriptError('add a model with {"key": "...", "downloaded": true, "fields": {...}}')
    try:
        return _json(200, {"model": fake._add_model(dict(body))})
    except CatalogError as exc:
        raise ScriptError(str(exc)) from None


def _configure(fake: FakeLMStudio, request: Request) -> Response:
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
    ("POST", "script/cancel"): _cancel,
    ("POST", "reset"): _reset,
    ("POST", "expire"): _expire,
    ("POST", "refuse"): _refuse,
    ("POST", "configure"): _configure,
    ("POST", "models"): _models,
}


def respond(fake: FakeLMStudio, request: Request) -> Response:
    """Answer a request under ``/__fake__/`` (called by the server before anything else)."""
    if not is_loopback(request.remote_addr):
        return _json(403, {"error": "the fake LM Studio control API only answers clients on loopback"})
    if not is_loopback_host(request.host):
        refusal = "the fake LM Studio control API only answers a loopback Host (localhost, 127.0.0.1, ::1)"
        return _json(403, {"error": refusal})
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
