"""What each client method sends and how it reads the answer, written once for sync and async.

Every operation is a generator ("flow") that yields :class:`Call`, :class:`Sleep` or :class:`Notify`
and receives the decoded JSON of each call back (or has the mapped exception thrown into it). The
sync client drives flows with blocking httpx calls, the async client with ``await``; neither repeats
any protocol logic. :func:`interpret_response` turns one raw HTTP answer into JSON or an exception.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from pytest_lmstudio.client.results import (
    OPENAI_FORMAT_TYPES,
    ChatResult,
    CompletionResult,
    DownloadStatus,
    LoadedInstance,
    LoadResult,
    ModelInfo,
    ReadyReport,
    ResponseResult,
    ServerVersion,
)
from pytest_lmstudio.errors import (
    BadRequest,
    BadResponse,
    DownloadFailed,
    LMStudioError,
    LMStudioTimeout,
    LoadFailed,
    ModelNotFound,
    ModelNotLoaded,
    ServerError,
    Unauthorized,
    WrongEndpoint,
    error_from_response,
    is_unexpected_endpoint,
    sentence,
)

T = TypeVar("T")

PROBE_TIMEOUT = 3.0  # seconds for /lmstudio-greeting and /lms-status
LOAD_TIMEOUT = 600.0  # seconds a model load may take
DOWNLOAD_TIMEOUT = 3600.0  # seconds a download may take


@dataclass(frozen=True)
class Call:
    """One HTTP request: ``path`` is an absolute route such as ``/v1/models``."""

    method: str
    path: str
    body: Any = None
    timeout: float | None = None
    model: str | None = None  # the model the request names, for error messages


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Notify:
    """Call ``callback(value)``; the async driver awaits the result if it is awaitable."""

    callback: Callable[[Any], Any]
    value: Any


Op = Call | Sleep | Notify
Flow = Generator[Op, Any, T]


@dataclass
class Context:
    """What :func:`interpret_response` needs to word errors: the server root and the key sent."""

    base_url: str
    api_key: str | None = field(default=None, repr=False)


# -- answers ---------------------------------------------------------------------------------------


def interpret_response(status_code: int, content: bytes, *, call: Call, url: str, ctx: Context) -> Any:
    """The JSON of a successful answer, or raise the mapped :class:`LMStudioError`.

    A 2xx answer must be JSON; LM Studio's HTTP-200 ``{"error":"Unexpected endpoint or method..."}``
    raises :class:`WrongEndpoint`, any other 200 body that is only ``{"error": ...}`` raises too.
    """

    def error(body: bytes | str) -> LMStudioError:
        return error_from_response(
            status_code,
            body,
            method=call.method,
            url=url,
            base_url=ctx.base_url,
            path=urlsplit(url).path or call.path,
            model=call.model,
            api_key=ctx.api_key,
        )

    if not 200 <= status_code < 300:
        raise error(content)
    text = content.decode("utf-8", errors="replace").strip()
    if not text:
        raise BadResponse(
            f"LM Studio at {ctx.base_url} answered {call.method} {call.path} with HTTP {status_code} and an"
            f" empty body; expected JSON. Is this URL an LM Studio server? (`lms server status`)",
            status_code=status_code,
            method=call.method,
            url=url,
        )
    try:
        data = json.loads(text)
    except ValueError:
        raise BadResponse(
            f"LM Studio at {ctx.base_url} answered {call.method} {call.path} with HTTP {status_code} and a"
            f" body that is not JSON: {text[:200]!r}. Is this URL an LM Studio server? (`lms server status`)",
            status_code=status_code,
            body=text[:2000],
            method=call.method,
            url=url,
        ) from None
    if isinstance(data, dict) and "error" in data and (is_unexpected_endpoint(data) or len(data) == 1):
        raise error(text)
    return data


def route_missing(exc: BaseException) -> bool:
    """The server does not have this route: the 200 "Unexpected endpoint" body, or a plain 404."""
    if isinstance(exc, WrongEndpoint):
        return True
    return isinstance(exc, BadRequest) and exc.status_code in (404, 405)


def _data_list(data: Any, where: str) -> list[Mapping[str, Any]]:
    items = data.get("data") if isinstance(data, Mapping) else None
    if not isinstance(items, list):
        raise BadResponse(f"{where} answered without a 'data' array: {json.dumps(data)[:300]}")
    return [item for item in items if isinstance(item, Mapping)]


def _models_list(data: Any, where: str) -> list[Mapping[str, Any]]:
    items = data.get("models") if isinstance(data, Mapping) else None
    if not isinstance(items, list):
        raise BadResponse(f"{where} answered without a 'models' array: {json.dumps(data)[:300]}")
    return [item for item in items if isinstance(item, Mapping)]


# -- request bodies --------------------------------------------------------------------------------


def as_messages(messages: str | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A plain string becomes one user message; a sequence of message dicts is copied."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    out = []
    for message in messages:
        if not isinstance(message, Mapping):
            raise TypeError(
                f"each message must be a dict like {{'role': 'user', 'content': '...'}}, not {message!r}"
            )
        out.append(dict(message))
    return out


def as_response_format(response_format: Any) -> Any:
    """Pass OpenAI format dicts (``type`` json_schema/json_object/text) through; wrap a bare JSON
    schema dict or a pydantic model class as
    ``{"type":"json_schema","json_schema":{"name","strict":true,"schema"}}``."""
    if response_format is None:
        return None
    if isinstance(response_format, type) and hasattr(response_format, "model_json_schema"):
        return {
            "type": "json_schema",
            "json_schema": {
                "name": response_format.__name__,
                "strict": True,
                "schema": response_format.model_json_schema(),
            },
        }
    if isinstance(response_format, Mapping):
        if response_format.get("type") in OPENAI_FORMAT_TYPES:
            return dict(response_format)
        # a bare JSON schema
        return {
            "type": "json_schema",
            "json_schema": {"name": "response", "strict": True, "schema": dict(response_format)},
        }
    raise TypeError(
        "response_format must be an OpenAI response_format dict, a JSON schema dict or a pydantic model class"
    )


def chat_body(
    messages: str | Sequence[Mapping[str, Any]],
    *,
    model: str | None,
    tools: Sequence[Mapping[str, Any]] | None,
    tool_choice: Any,
    response_format: Any,
    stream: bool,
    sampling: Mapping[str, Any],
) -> dict[str, Any]:
    if "stream" in sampling:
        raise TypeError("chat() does not take stream=...; use stream() for a streamed answer")
    body: dict[str, Any] = {}
    if model is not None:
        body["model"] = model
    body["messages"] = as_messages(messages)
    if tools is not None:
        body["tools"] = [dict(t) for t in tools]
    if tool_choice is not None:
        body["tool_choice"] = tool_choice
    wire_format = as_response_format(response_format)
    if wire_format is not None:
        body["response_format"] = wire_format
    body.update({k: v for k, v in sampling.items() if v is not None})
    if stream:
        body["stream"] = True
        body.setdefault("stream_options", {"include_usage": True})
    return body


# -- flows -----------------------------------------------------------------------------------------


def greeting_flow() -> Flow[dict[str, Any]]:
    data = yield Call("GET", "/lmstudio-greeting", timeout=PROBE_TIMEOUT)
    if not isinstance(data, dict):
        raise BadResponse(
            f"/lmstudio-greeting answered {json.dumps(data)[:200]}, expected {{'lmstudio': true}}"
        )
    return data


def is_running_flow() -> Flow[bool]:
    try:
        data = yield from greeting_flow()
        return data.get("lmstudio") is True
    except WrongEndpoint:
        pass  # an LM Studio-like server without the probe route: ask the model list instead
    except Unauthorized:
        return True  # running, but requires a token
    except LMStudioError:
        return False
    try:
        yield Call("GET", "/v1/models", timeout=PROBE_TIMEOUT)
    except Unauthorized:
        return True  # running, but requires a token
    except LMStudioError:
        return False
    return True


def version_flow() -> Flow[ServerVersion | None]:
    try:
        data = yield Call("GET", "/lms-status", timeout=PROBE_TIMEOUT)
    except LMStudioError as exc:
        if route_missing(exc):
            return None
        raise
    if not isinstance(data, Mapping) or not isinstance(data.get("version"), str):
        return None
    package = data.get("package")
    return ServerVersion(
        version=data["version"], package=package if isinstance(package, str) else None, raw=dict(data)
    )


def models_flow() -> Flow[list[ModelInfo]]:
    try:
        data = yield Call("GET", "/api/v0/models")
    except LMStudioError as exc:
        if not route_missing(exc):
            raise
        data = yield Call("GET", "/v1/models")
        return [
            ModelInfo(id=str(item.get("id", "")), source="/v1/models", raw=dict(item))
            for item in _data_list(data, "GET /v1/models")
        ]
    return [ModelInfo.from_api(item) for item in _data_list(data, "GET /api/v0/models")]


def native_models_flow() -> Flow[list[Mapping[str, Any]] | None]:
    """The raw ``GET /api/v1/models`` list, or ``None`` when the server has no native v1 API."""
    try:
        data = yield Call("GET", "/api/v1/models")
    except LMStudioError as exc:
        if route_missing(exc):
            return None
        raise
    return _models_list(data, "GET /api/v1/models")


def _instances_from_native(models: list[Mapping[str, Any]]) -> list[LoadedInstance]:
    out = []
    for model in models:
        for inst in model.get("loaded_instances") or []:
            if not isinstance(inst, Mapping) or not isinstance(inst.get("id"), str):
                continue
            raw_config = inst.get("config")
            config: Mapping[str, Any] = raw_config if isinstance(raw_config, Mapping) else {}
            ctx_len = config.get("context_length")
            out.append(
                LoadedInstance(
                    id=inst["id"],
                    key=str(model.get("key", inst["id"])),
                    type=model.get("type") if isinstance(model.get("type"), str) else None,
                    context_length=ctx_len if isinstance(ctx_len, int) else None,
                    display_name=model.get("display_name")
                    if isinstance(model.get("display_name"), str)
                    else None,
                    publisher=model.get("publisher") if isinstance(model.get("publisher"), str) else None,
                    config=dict(config),
                    source="/api/v1/models",
                )
            )
    return out


def loaded_flow() -> Flow[list[LoadedInstance]]:
    native = yield from native_models_flow()
    if native is not None:
        return _instances_from_native(native)
    models = yield from models_flow()
    return [
        LoadedInstance(
            id=m.id,
            key=m.id,
            type=m.type,
            context_length=m.loaded_context_length,
            publisher=m.publisher,
            source=m.source,
        )
        for m in models
        if m.is_loaded
    ]


def chat_flow(body: dict[str, Any], response_format: Any) -> Flow[ChatResult]:
    data = yield Call("POST", "/v1/chat/completions", body, model=body.get("model"))
    return ChatResult.from_api(data, response_format=response_format)


def complete_flow(body: dict[str, Any]) -> Flow[CompletionResult]:
    data = yield Call("POST", "/v1/completions", body, model=body.get("model"))
    return CompletionResult.from_api(data)


def embed_flow(texts: str | Sequence[str], model: str | None) -> Flow[list[list[float]]]:
    if isinstance(texts, str):
        texts_list: list[str] | str = texts
    else:
        texts_list = list(texts)
        if not all(isinstance(t, str) for t in texts_list):
            raise TypeError("embed() takes a string or a list of strings")
    body: dict[str, Any] = {}
    if model is not None:
        body["model"] = model
    body["input"] = texts_list
    data = yield Call("POST", "/v1/embeddings", body, model=model)
    items = _data_list(data, "POST /v1/embeddings")
    items = sorted(items, key=lambda item: item.get("index", 0) if isinstance(item.get("index"), int) else 0)
    vectors = []
    for item in items:
        vector = item.get("embedding")
        if not isinstance(vector, list):
            raise BadResponse(
                f"POST /v1/embeddings answered an item without an 'embedding' list: {dict(item)}"
            )
        vectors.append([float(x) for x in vector])
    expected = 1 if isinstance(texts_list, str) else len(texts_list)
    if len(vectors) != expected:
        raise BadResponse(f"POST /v1/embeddings returned {len(vectors)} vectors for {expected} input(s)")
    return vectors


def respond_flow(body: dict[str, Any]) -> Flow[ResponseResult]:
    data = yield Call("POST", "/v1/responses", body, model=body.get("model"))
    return ResponseResult.from_api(data)


def load_flow(
    key: str,
    *,
    identifier: str | None = None,
    ttl: int | None = None,
    context_length: int | None = None,
    config: Mapping[str, Any] | None = None,
    timeout: float | None = None,
) -> Flow[LoadResult]:
    body: dict[str, Any] = {"model": key}
    if context_length is not None:
        body["context_length"] = context_length
    body.update({k: v for k, v in (config or {}).items() if v is not None})
    body["echo_load_config"] = True
    extensions = {k: v for k, v in (("ttl", ttl), ("identifier", identifier)) if v is not None}
    try:
        try:
            data = yield Call(
                "POST",
                "/api/v1/models/load",
                {**body, **extensions},
                timeout=timeout or LOAD_TIMEOUT,
                model=key,
            )
        except BadRequest as exc:
            # `ttl` and `identifier` are not documented for /api/v1/models/load; LM Studio validates
            # v1 bodies strictly ("Unrecognized key(s) in object: 'ttl'"), so load without them.
            if not extensions or "unrecognized key" not in (exc.server_message or str(exc)).lower():
                raise
            data = yield Call("POST", "/api/v1/models/load", body, timeout=timeout or LOAD_TIMEOUT, model=key)
    except WrongEndpoint:
        raise
    except (BadRequest, ServerError, BadResponse) as exc:
        raise LoadFailed.from_error(
            exc,
            f'LM Studio could not load "{key}": {sentence(exc.server_message or str(exc))}'
            f" Try `lms load {key}` to see the full error; free memory with `lms unload --all`"
            f" or load with a smaller context length.",
            model=key,
        ) from exc
    result = LoadResult.from_api(data)
    if result.status not in (None, "loaded"):
        raise LoadFailed(
            f'LM Studio answered the load of "{key}" with status {result.status!r}, not "loaded".'
            f" Check `lms ps`; retry with `lms load {key}`.",
            model=key,
            body=json.dumps(data)[:2000],
        )
    return result


def unload_flow(instance_id: str) -> Flow[str]:
    try:
        data = yield Call("POST", "/api/v1/models/unload", {"instance_id": instance_id})
    except ModelNotFound as exc:
        raise ModelNotLoaded.from_error(
            exc,
            f'No loaded instance "{instance_id}" to unload ({exc.server_message or "model_not_found"}).'
            f" See what is loaded with `lms ps`.",
            model=instance_id,
        ) from exc
    echoed = data.get("instance_id") if isinstance(data, Mapping) else None
    return echoed if isinstance(echoed, str) else instance_id


def download_flow(
    key: str,
    *,
    on_progress: Callable[[DownloadStatus], Any] | None = None,
    poll_interval: float = 0.2,
    timeout: float = DOWNLOAD_TIMEOUT,
) -> Flow[DownloadStatus]:
    started = time.monotonic()
    try:
        data = yield Call("POST", "/api/v1/models/download", {"model": key}, model=key)
    except (BadRequest, ServerError, BadResponse) as exc:
        raise DownloadFailed.from_error(
            exc,
            f'LM Studio refused to download "{key}": {sentence(exc.server_message or str(exc))}'
            f" Check the key (e.g. `lms get {key}` shows what matches).",
            model=key,
        ) from exc
    status = DownloadStatus.from_api(data)
    while True:
        if on_progress is not None:
            yield Notify(on_progress, status)
        if status.done:
            return status
        if status.status == "failed":
            raise DownloadFailed(
                f'Download of "{key}" failed (job {status.job_id}, {status.downloaded_bytes or 0} of'
                f" {status.total_size_bytes or '?'} bytes). Retry with `lms get {key}`; check disk space.",
                model=key,
                body=json.dumps(dict(status.raw))[:2000],
            )
        if status.job_id is None:
            raise BadResponse(f'LM Studio\'s download answer for "{key}" has no job_id: {dict(status.raw)}')
        elapsed = time.monotonic() - started
        if elapsed > timeout:
            raise LMStudioTimeout(
                f'Download of "{key}" (job {status.job_id}) not finished after {elapsed:.1f} s'
                f" ({status.downloaded_bytes or 0} of {status.total_size_bytes or '?'} bytes, status"
                f" {status.status}). It continues in LM Studio; raise timeout= or pre-download with"
                f" `lms get {key}`.",
                model=key,
            )
        yield Sleep(poll_interval)
        data = yield Call("GET", f"/api/v1/models/download/status/{quote(status.job_id, safe='')}", model=key)
        status = DownloadStatus.from_api(data)


def ensure_ready_flow(
    model: str,
    *,
    allow_download: bool = False,
    ttl: int | None = None,
    context_length: int | None = None,
    on_progress: Callable[[DownloadStatus], Any] | None = None,
    download_timeout: float = DOWNLOAD_TIMEOUT,
    base_url: str = "",
    identifier: str | None = None,
) -> Flow[ReadyReport]:
    """Server reachable, ``model`` downloaded (only if ``allow_download``), and loaded (as
    ``identifier`` when given: a name chosen beforehand lets a caller find its load again)."""
    try:
        yield Call("GET", "/lmstudio-greeting", timeout=PROBE_TIMEOUT)
    except WrongEndpoint:
        pass  # older LM Studio without the probe route; the model list below still needs the server
    downloaded = False
    instance: str | None = None
    key = model
    native = yield from native_models_flow()
    if native is not None:
        for entry in native:
            instances = [
                i["id"] for i in entry.get("loaded_instances") or [] if isinstance(i, Mapping) and "id" in i
            ]
            raw_variants = entry.get("variants")
            variants: list[Any] = raw_variants if isinstance(raw_variants, list) else []
            if model in instances:
                downloaded, instance, key = True, model, str(entry.get("key", model))
                break
            if entry.get("key") == model or model in variants:
                downloaded = True
                if instances and entry.get("key") == model:
                    instance = instances[0]
                break
    else:
        for info in (yield from models_flow()):
            if info.id == model:
                downloaded = True
                if info.is_loaded:
                    instance = info.id
                break
    if instance is not None:
        return ReadyReport(model=model, instance_id=instance, actions=())
    actions: list[str] = []
    if not downloaded:
        if not allow_download:
            raise ModelNotFound(
                f'Model "{model}" is not downloaded in LM Studio at {base_url}: run `lms get {model}`'
                f" (or allow downloads). `lms ls` lists what is downloaded.",
                model=model,
            )
        yield from download_flow(model, on_progress=on_progress, timeout=download_timeout)
        actions.append("downloaded")
    result = yield from load_flow(key, identifier=identifier, ttl=ttl, context_length=context_length)
    actions.append("loaded")
    return ReadyReport(model=model, instance_id=result.instance_id, actions=tuple(actions))
