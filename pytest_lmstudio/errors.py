"""Exceptions raised by pytest-lmstudio: one hierarchy, every message says what is wrong and what to run.

All classes derive from :class:`LMStudioError`. Errors built from an HTTP answer keep the server's
own words in ``server_message`` and its status, ``code`` and ``body``. No message, attribute or repr
ever contains an API key: known keys and anything shaped like an LM Studio token are redacted.

:func:`error_from_response` turns one HTTP answer (status + body) into the right exception; the
client calls it for every non-2xx answer and for LM Studio's "HTTP 200 Unexpected endpoint" body.

The hierarchy (a built-in base in brackets: catch it by that too)::

    LMStudioError
    ├── InvalidBaseURL      [ValueError]         the configured URL cannot be LM Studio's
    ├── ServerNotRunning    [ConnectionError]    nothing answers at the base URL
    ├── LMStudioTimeout     [TimeoutError]       no answer in time (HTTP, a download, or ``lms``)
    ├── WrongEndpoint                            HTTP 200 "Unexpected endpoint or method"
    ├── Unauthorized                             HTTP 401 / 403
    ├── ModelNotFound                            ``model_not_found``: not downloaded, unknown key
    ├── ModelNotLoaded                           "No models loaded", unknown instance
    ├── BadRequest                               any other 4xx
    ├── ServerError                              5xx, or the connection broke before an answer
    ├── BadResponse                              a 2xx answer that is not LM Studio's JSON
    ├── StreamError                              an error or garbage frame, or a stream cut short
    ├── DownloadFailed                           a download job (or ``lms get``) failed
    ├── LoadFailed                               a load (or ``lms load``) failed
    ├── LmsNotFound         [FileNotFoundError]  the ``lms`` command is nowhere to be found
    └── LmsCommandFailed                         ``lms`` exited non-zero
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar
from urllib.parse import urlsplit

__all__ = [
    "BadRequest",
    "BadResponse",
    "DownloadFailed",
    "InvalidBaseURL",
    "LMStudioError",
    "LMStudioTimeout",
    "LmsCommandFailed",
    "LmsNotFound",
    "LoadFailed",
    "ModelNotFound",
    "ModelNotLoaded",
    "ServerError",
    "ServerNotRunning",
    "StreamError",
    "Unauthorized",
    "WrongEndpoint",
    "error_from_response",
    "is_unexpected_endpoint",
    "parse_error_body",
    "redact",
    "sentence",
]

UNEXPECTED_ENDPOINT = "Unexpected endpoint or method"
NO_MODELS_LOADED = "No models loaded"
_MAX_BODY = 2000  # characters of a body kept on the exception
_MAX_SNIPPET = 300  # characters of a non-JSON body quoted in a message


_E = TypeVar("_E", bound="LMStudioError")


class LMStudioError(Exception):
    """Base class. ``str(err)`` is a complete sentence: what went wrong and what to do about it.

    Attributes (``None`` when they do not apply): ``status_code``, ``server_message`` (LM Studio's own
    text), ``code`` (``error.code``, or ``error.type`` for the native v1 shape), ``body`` (the raw
    body, redacted, truncated), ``method``, ``url``, ``model``.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        server_message: str | None = None,
        code: str | None = None,
        body: str | None = None,
        method: str | None = None,
        url: str | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.server_message = server_message
        self.code = code
        self.body = body
        self.method = method
        self.url = url
        self.model = model

    def __str__(self) -> str:
        return self.message

    @classmethod
    def from_error(cls: type[_E], error: LMStudioError, message: str, *, model: str | None = None) -> _E:
        """This kind of error, with a new message, keeping ``error``'s HTTP context."""
        return cls(
            message,
            status_code=error.status_code,
            server_message=error.server_message,
            code=error.code,
            body=error.body,
            method=error.method,
            url=error.url,
            model=model if model is not None else error.model,
        )

    def __reduce__(self) -> Any:  # keep attributes across pickling (pytest-xdist)
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


def _rebuild(cls: type[LMStudioError], message: str, state: dict[str, Any]) -> LMStudioError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class InvalidBaseURL(LMStudioError, ValueError):
    """The configured base URL cannot be an LM Studio server URL (bad scheme, empty, query string...)."""


class ServerNotRunning(LMStudioError, ConnectionError):
    """Nothing answers at the base URL (connection refused, host unreachable, connect timeout)."""


class LMStudioTimeout(LMStudioError, TimeoutError):
    """LM Studio (or ``lms``) did not answer in time."""


class WrongEndpoint(LMStudioError):
    """LM Studio answered HTTP 200 ``{"error":"Unexpected endpoint or method. (GET /x)"}``: wrong URL."""


class Unauthorized(LMStudioError):
    """HTTP 401/403: authentication is on and the token is missing or not accepted."""


class ModelNotFound(LMStudioError):
    """The model key is not downloaded / not known to LM Studio (``model_not_found``)."""


class ModelNotLoaded(LMStudioError):
    """No model (or not the named instance) is loaded, and LM Studio will not load it on demand."""


class BadRequest(LMStudioError):
    """Any other 4xx answer: LM Studio rejected the request."""


class ServerError(LMStudioError):
    """5xx answer, or the connection broke before an answer arrived."""


class BadResponse(LMStudioError):
    """LM Studio answered, but not with anything this client can read (non-JSON, missing fields)."""


class StreamError(LMStudioError):
    """A streamed answer broke: error frame, garbage frame, or the stream ended early."""


class DownloadFailed(LMStudioError):
    """A model download failed (REST download job or ``lms get``)."""


class LoadFailed(LMStudioError):
    """LM Studio could not load a model (out of memory, bad config, ``lms load`` failed)."""


class LmsNotFound(LMStudioError, FileNotFoundError):
    """The ``lms`` command was found nowhere; ``searched`` lists every place that was looked at."""

    def __init__(self, message: str, *, searched: list[str] | None = None) -> None:
        super().__init__(message)
        self.searched = list(searched or [])


class LmsCommandFailed(LMStudioError):
    """``lms`` exited non-zero; ``returncode``, ``stdout``, ``stderr`` and ``args`` are kept."""

    def __init__(
        self, message: str, *, args: list[str], returncode: int, stdout: str = "", stderr: str = ""
    ) -> None:
        super().__init__(message)
        self.command = list(args)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


# -- secrets ---------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"sk-lm-[A-Za-z0-9]*(?::[A-Za-z0-9]*)?")
_MALFORMED_RE = re.compile(r"(Malformed LM Studio API token provided: )(\S+?)(\.\.\.|\s|$)")
_MIN_SECRET_FRAGMENT = 6


def redact(text: str | None, secret: str | None = None) -> str | None:
    """``text`` with ``secret`` (and any prefix of it of 6+ characters) and LM Studio tokens masked."""
    if text is None:
        return None
    if secret:
        if secret in text:
            text = text.replace(secret, "***")
        # LM Studio echoes the first characters of a malformed token; mask any long-enough prefix
        for n in range(len(secret) - 1, _MIN_SECRET_FRAGMENT - 1, -1):
            fragment = secret[:n]
            if fragment in text:
                text = text.replace(fragment, "***")
                break
    text = _MALFORMED_RE.sub(lambda m: m.group(1) + "***" + m.group(3), text)
    return _TOKEN_RE.sub("sk-lm-***", text)


# -- bodies ----------------------------------------------------------------------------------------


def _as_text(body: bytes | str | None) -> str:
    if body is None:
        return ""
    if isinstance(body, bytes):
        return body.decode("utf-8", errors="replace")
    return body


def sentence(text: str) -> str:
    """``text`` ending with exactly one sentence stop (``.``, ``!`` or ``?``)."""
    text = text.rstrip()
    return text if text.endswith((".", "!", "?")) else text + "."


def parse_error_body(body: bytes | str | None) -> tuple[str | None, str | None, str | None, Any]:
    """``(message, code, param, parsed_json)`` from an LM Studio error body of any shape.

    Handles ``{"error": "text"}``, ``{"error": {"message","type","param","code"}}`` (OpenAI and native
    v1 shapes; the v1 shape puts the kind in ``type``), Anthropic's
    ``{"type":"error","error":{...}}``, a top-level ``message``/``detail``, non-JSON and empty bodies.
    ``code`` is ``error.code``, or ``error.type`` when ``code`` is absent/null and ``type`` is a
    native v1 kind such as ``model_not_found``.
    """
    text = _as_text(body).strip()
    if not text:
        return None, None, None, None
    try:
        data = json.loads(text)
    except ValueError:
        return text[:_MAX_SNIPPET], None, None, None
    message: str | None = None
    code: str | None = None
    param: str | None = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, str):
            message = err
        elif isinstance(err, dict):
            raw_message = err.get("message")
            message = raw_message if isinstance(raw_message, str) else None
            raw_code = err.get("code")
            code = raw_code if isinstance(raw_code, str) else None
            raw_type = err.get("type")
            if code is None and raw_type in ("model_not_found", "job_not_found"):
                code = raw_type
            raw_param = err.get("param")
            param = raw_param if isinstance(raw_param, str) else None
        if message is None:
            for key in ("message", "detail"):
                if isinstance(data.get(key), str):
                    message = data[key]
                    break
    return message, code, param, data


def is_unexpected_endpoint(data: Any) -> bool:
    """True for LM Studio's HTTP-200 answer to an unknown route: ``{"error":"Unexpected endpoint ..."}``."""
    return (
        isinstance(data, dict)
        and isinstance(data.get("error"), str)
        and data["error"].startswith(UNEXPECTED_ENDPOINT)
    )


_MODEL_IN_MESSAGE = re.compile(r'(?:Invalid model identifier|Model) "([^"]+)"')


def _model_from_message(message: str | None) -> str | None:
    if not message:
        return None
    match = _MODEL_IN_MESSAGE.search(message)
    return match.group(1) if match else None


def _endpoint_hint(path: str) -> str:
    for marker, hint in (
        ("/api/v1/", " (native /api/v1 routes need LM Studio 0.4.0 or newer)"),
        ("/v1/responses", " (/v1/responses needs LM Studio 0.3.29 or newer)"),
        ("/v1/messages", " (/v1/messages needs LM Studio 0.4.1 or newer)"),
        ("/api/v0/", " (native /api/v0 routes need LM Studio 0.3.6 or newer)"),
    ):
        if marker in path:
            return hint
    return ""


def error_from_response(
    status_code: int,
    body: bytes | str | None,
    *,
    method: str,
    url: str,
    base_url: str,
    path: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
) -> LMStudioError:
    """The exception for one HTTP answer that is not a success.

    ``status_code`` 200 is accepted only for bodies that carry an ``error`` (LM Studio's "Unexpected
    endpoint" answer, or any other 200 error object); ``url`` is the full request URL, ``base_url``
    the server root used in messages, ``path`` the request path (default: taken from ``url``),
    ``model`` the model the request named (for ``lms get <key>`` hints), ``api_key`` the key that was
    sent (used to redact, and to say whether a key was sent at all).
    """
    from pytest_lmstudio.client.urls import DEFAULT_BASE_URL  # urls imports this module

    text = redact(_as_text(body), api_key) or ""
    message, code, _param, data = parse_error_body(text)
    message = redact(message, api_key)
    if path is None:
        path = urlsplit(url).path or "/"
    where = f"LM Studio at {base_url}"
    request = f"{method} {path}"
    common: dict[str, Any] = {
        "status_code": status_code,
        "server_message": message,
        "code": code,
        "body": text[:_MAX_BODY] if text else None,
        "method": method,
        "url": url,
    }
    quoted = f": {message}" if message else ""
    # the server's message ends the sentence: add a period unless it already has one
    quoted_stop = sentence(quoted) if message else "."
    code_part = f", {code}" if code else ""

    if status_code == 200 and is_unexpected_endpoint(data):
        auth_hint = (
            " Some LM Studio 0.4.x builds also answer this way when 'Require Authentication' is on and no"
            " token was sent: set LM_API_TOKEN."
            if not api_key
            else ""
        )
        return WrongEndpoint(
            f"{where} does not serve {request}: it answered HTTP 200 {message!r}, LM Studio's reply to an"
            f" unknown route{_endpoint_hint(path)}. Check the base URL: give the server root"
            f" ({DEFAULT_BASE_URL}) or the same with /v1; a wrong path prefix, a doubled /v1/v1 or a"
            f" double slash all cause this.{auth_hint}",
            model=model,
            **common,
        )

    if status_code in (401, 403):
        if api_key:
            what = (
                "the API token that was sent was not accepted. Check LM_API_TOKEN / LMSTUDIO_API_KEY (or"
                " api_key=...) against the tokens in LM Studio's Developer settings"
            )
        else:
            what = (
                "no API token was sent. Set LM_API_TOKEN (or LMSTUDIO_API_KEY, or pass api_key=...) to a"
                " token from LM Studio's Developer settings, or turn 'Require Authentication' off"
            )
        return Unauthorized(
            f"{where} refused {request} (HTTP {status_code}{code_part}){quoted_stop} Authentication is on and"
            f" {what}.",
            model=model,
            **common,
        )

    if message and message.startswith(NO_MODELS_LOADED):
        load_key = model or "<model-key>"
        return ModelNotLoaded(
            f"{where} has no model loaded for {request} (HTTP {status_code}){quoted_stop} Load one with"
            f" `lms load {load_key}` (or turn on just-in-time loading in the server settings).",
            model=model,
            **common,
        )

    if 400 <= status_code < 500 and (
        code == "model_not_found" or (status_code == 404 and _model_from_message(message) is not None)
    ):
        key = _model_from_message(message) or model
        named = f'Model "{key}"' if key else "The requested model"
        fix = f"`lms get {key}`" if key else "`lms get <model-key>`"
        if "/embeddings" in path:
            fix += " (embeddings need an embedding model: `lms ls --embedding` lists them)"
        return ModelNotFound(
            f"{named} not found on {where} ({request}, HTTP {status_code}{code_part}){quoted_stop} See the"
            f" downloaded models with `lms ls`; download it with {fix}.",
            model=key,
            **common,
        )

    if 400 <= status_code < 500:
        return BadRequest(
            f"{where} rejected {request} (HTTP {status_code}{code_part})"
            f"{quoted_stop if message else ' with an empty body.'} Fix the request; the server log"
            f" (`lms log stream`) shows what it received.",
            model=model,
            **common,
        )

    if status_code >= 500:
        return ServerError(
            f"{where} failed on {request} (HTTP {status_code}{code_part})"
            f"{quoted_stop if message else ' with an empty body.'} Look at the server log with"
            f" `lms log stream`; a model that crashed or ran out of memory can be reloaded with"
            f" `lms unload --all` and `lms load`.",
            model=model,
            **common,
        )

    if status_code == 200:
        return BadResponse(
            f"{where} answered {request} with HTTP 200 but an error body{quoted_stop}",
            model=model,
            **common,
        )
    return BadResponse(
        f"{where} answered {request} with unexpected HTTP {status_code}{quoted_stop} Is this URL an LM Studio"
        f" server? `lms server status` shows where LM Studio listens.",
        model=model,
        **common,
    )
