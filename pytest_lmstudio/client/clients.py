"""LMStudioClient and AsyncLMStudioClient: LM Studio's OpenAI-compatible and native REST APIs on httpx.

Both clients have the same methods (the async ones are coroutines, ``stream`` an async iterator).
The protocol logic lives in :mod:`pytest_lmstudio.client.flows` and :mod:`pytest_lmstudio.client.sse`;
this module only sends requests and maps transport failures to :mod:`pytest_lmstudio.errors`. The
timeout is a deadline for each whole request, streamed answers included
(:mod:`pytest_lmstudio.client.deadline`): the answer is read chunk by chunk and the deadline checked
as each chunk arrives, so a server trickling bytes cannot stretch a request past it.

Settings come from arguments first, then the environment (see
:class:`~pytest_lmstudio.client.config.ClientConfig`)::

    with LMStudioClient() as lms:            # LMSTUDIO_URL ... or http://127.0.0.1:1234
        lms.ensure_ready("qwen/qwen3-4b")
        print(lms.chat("Say hi", model="qwen/qwen3-4b").text)
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import httpx

from pytest_lmstudio.client import flows
from pytest_lmstudio.client.config import JSON_TYPE, ClientConfig
from pytest_lmstudio.client.deadline import Deadline
from pytest_lmstudio.client.flows import Call, Context, Flow, Notify, Op, Sleep, interpret_response
from pytest_lmstudio.client.results import (
    ChatResult,
    CompletionResult,
    DownloadStatus,
    LoadedInstance,
    LoadResult,
    ModelInfo,
    ReadyReport,
    ResponseResult,
    ServerVersion,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
)
from pytest_lmstudio.client.sse import ChatStreamAccumulator, LineSplitter, SSEDecoder
from pytest_lmstudio.client.urls import ServerURLs
from pytest_lmstudio.errors import (
    LMStudioError,
    LMStudioTimeout,
    ServerError,
    ServerNotRunning,
    StreamError,
)

__all__ = ["AsyncLMStudioClient", "LMStudioClient"]

T = TypeVar("T")
Messages = str | Sequence[Mapping[str, Any]]
USER_AGENT = "pytest-lmstudio"


class _ClientBase:
    """Settings, headers, URLs and error wording shared by both clients."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        default_model: str | None = None,
        default_embedding_model: str | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
        config: ClientConfig | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if config is None:
            config = ClientConfig.from_env(
                base_url=base_url,
                api_key=api_key,
                default_model=default_model,
                timeout=timeout,
                connect_timeout=connect_timeout,
            )
        else:
            explicit = {
                "base_url": base_url,
                "api_key": api_key,
                "default_model": default_model,
                "timeout": timeout,
                "connect_timeout": connect_timeout,
            }
            changes: dict[str, Any] = {k: v for k, v in explicit.items() if v is not None}
            if "base_url" in changes:
                changes["base_url_source"] = "argument"
            if "api_key" in changes:
                changes["api_key_source"] = "argument"
            config = dataclasses.replace(config, **changes) if changes else config
        self.config = config
        self.urls: ServerURLs = config.urls
        self.default_model = config.default_model
        self.default_embedding_model = default_embedding_model
        self._api_key = config.api_key
        self._ctx = Context(base_url=self.urls.root, api_key=self._api_key)
        self._timeout = httpx.Timeout(config.timeout, connect=config.connect_timeout)
        self._headers = {"Accept": JSON_TYPE, "User-Agent": USER_AGENT, **(headers or {})}
        if self._api_key:
            self._headers["Authorization"] = f"Bearer {self._api_key}"

    # -- public properties ------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The server root, e.g. ``http://127.0.0.1:1234`` (no ``/v1``)."""
        return self.urls.root

    @property
    def openai_base_url(self) -> str:
        """``<root>/v1``: what to give the ``openai`` SDK and other OpenAI-compatible clients."""
        return self.urls.openai

    @property
    def has_api_key(self) -> bool:
        return bool(self._api_key)

    def __repr__(self) -> str:
        key = "'***'" if self._api_key else "None"
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, api_key={key},"
            f" default_model={self.default_model!r})"
        )

    # -- helpers ------------------------------------------------------------------------------------
    def _model(self, model: str | None) -> str | None:
        return model if model is not None else self.default_model

    def _embedding_model(self, model: str | None) -> str | None:
        return model if model is not None else self.default_embedding_model

    def _request_timeout(self, call: Call) -> httpx.Timeout:
        if call.timeout is None:
            return self._timeout
        return httpx.Timeout(call.timeout, connect=min(call.timeout, self.config.connect_timeout))

    def _seconds(self, call: Call) -> float:
        return call.timeout if call.timeout is not None else self.config.timeout

    def _transport_error(
        self, exc: httpx.TransportError, call: Call, *, chunks: int | None = None
    ) -> LMStudioError:
        """Map an httpx transport failure. ``chunks`` is set while reading a stream."""
        url = self.urls.join(call.path)
        where = f"LM Studio at {self.base_url}"
        origin = self.config.base_url_source
        from_env = f" (base URL from {origin})" if origin not in ("argument", "default") else ""
        request = f"{call.method} {call.path}"
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            return ServerNotRunning(
                f"LM Studio server not running at {self.base_url}{from_env} ({exc or type(exc).__name__}):"
                f" start it with `lms server start` or the LM Studio app (Developer tab), and check the"
                f" port with `lms server status`.",
                method=call.method,
                url=url,
                model=call.model,
            )
        if isinstance(exc, httpx.TimeoutException):  # one wait as long as the whole deadline
            return self._deadline_error(call, chunks)
        if chunks is not None:
            return StreamError(
                f"The stream of {request} from {where} broke after {chunks} chunk(s)"
                f" ({exc or type(exc).__name__}): the server closed the connection mid-answer (model"
                f" crashed, unloaded or server stopped?)."
                f" Check `lms ps` and `lms log stream`.",
                method=call.method,
                url=url,
                model=call.model,
            )
        return ServerError(
            f"The connection to {where} broke during {request} ({exc or type(exc).__name__}). Check that"
            f" LM Studio is still running (`lms server status`) and look at `lms log stream`.",
            method=call.method,
            url=url,
            model=call.model,
        )

    def _deadline_error(self, call: Call, chunks: int | None = None) -> LMStudioTimeout:
        """The request's deadline passed: say so, how long it was, and where it is set."""
        where = f"LM Studio at {self.base_url}"
        during = f", after {chunks} streamed chunk(s)" if chunks else ""
        source = (
            "this call's own deadline"
            if call.timeout is not None
            else "set with timeout=..., or --lmstudio-timeout in a pytest run"
        )
        return LMStudioTimeout(
            f"{where} did not finish {call.method} {call.path} within {self._seconds(call):g} s{during}:"
            f" the deadline for the whole request, streamed answers included ({source}), was hit. A"
            f" model may still be loading or generating, or the server is trickling its answer. Raise"
            f" the timeout, or check `lms ps` and `lms log stream`.",
            method=call.method,
            url=self.urls.join(call.path),
            model=call.model,
        )

    def _stream_call(
        self,
        messages: Messages,
        model: str | None,
        tools: Sequence[Mapping[str, Any]] | None,
        tool_choice: Any,
        response_format: Any,
        sampling: Mapping[str, Any],
    ) -> tuple[Call, ChatStreamAccumulator]:
        body = flows.chat_body(
            messages,
            model=self._model(model),
            tools=tools,
            tool_choice=tool_choice,
            response_format=response_format,
            stream=True,
            sampling=sampling,
        )
        call = Call("POST", "/v1/chat/completions", body, model=body.get("model"))
        acc = ChatStreamAccumulator(
            description=f"The stream of POST /v1/chat/completions from LM Studio at {self.base_url}",
            response_format=response_format,
        )
        return call, acc

    def _chat_body(
        self,
        messages: Messages,
        model: str | None,
        tools: Sequence[Mapping[str, Any]] | None,
        tool_choice: Any,
        response_format: Any,
        sampling: Mapping[str, Any],
    ) -> dict[str, Any]:
        return flows.chat_body(
            messages,
            model=self._model(model),
            tools=tools,
            tool_choice=tool_choice,
            response_format=response_format,
            stream=False,
            sampling=sampling,
        )

    def _complete_body(self, prompt: str, model: str | None, sampling: Mapping[str, Any]) -> dict[str, Any]:
        if "stream" in sampling:
            raise TypeError("complete() does not stream; drop stream=...")
        body: dict[str, Any] = {}
        resolved = self._model(model)
        if resolved is not None:
            body["model"] = resolved
        body["prompt"] = prompt
        body.update({k: v for k, v in sampling.items() if v is not None})
        return body

    def _respond_body(
        self,
        input: Any,
        model: str | None,
        previous_response_id: str | None,
        instructions: str | None,
        kw: Mapping[str, Any],
    ) -> dict[str, Any]:
        if kw.get("stream"):
            raise TypeError("respond() does not stream; drop stream=True")
        body: dict[str, Any] = {}
        resolved = self._model(model)
        if resolved is not None:
            body["model"] = resolved
        body["input"] = input
        if previous_response_id is not None:
            body["previous_response_id"] = previous_response_id
        if instructions is not None:
            body["instructions"] = instructions
        body.update({k: v for k, v in kw.items() if v is not None})
        return body


def _result_as_events(result: ChatResult) -> Iterator[StreamEvent]:
    """A non-streamed answer replayed as events (when a server ignores ``stream: true``)."""
    if result.text:
        yield TextDelta(result.text)
    for index, call in enumerate(result.tool_calls):
        yield ToolCallDelta(index=index, id=call.id, name=call.name, arguments=call.arguments_json)
    yield result


def _is_event_stream(response: httpx.Response) -> bool:
    return "text/event-stream" in response.headers.get("content-type", "")


def _feed(lines: list[str], decoder: SSEDecoder, acc: ChatStreamAccumulator) -> Iterator[StreamEvent]:
    """The events the stream's next lines complete; nothing after its ``[DONE]``."""
    for line in lines:
        for message in decoder.feed_line(line):
            yield from acc.feed(message)
        if acc.done:
            return


async def _next_chunk(chunks: AsyncIterator[bytes]) -> bytes | None:
    """The stream's next chunk, or ``None`` at its end (a coroutine, for ``asyncio.wait_for``)."""
    try:
        return await chunks.__anext__()
    except StopAsyncIteration:
        return None


class LMStudioClient(_ClientBase):
    """Blocking client. Use as a context manager (or call :meth:`close`); one pooled connection set.

    ``base_url`` may be the server root or end in ``/v1``; ``api_key`` is sent as
    ``Authorization: Bearer``; ``default_model`` is used when a call gives no ``model`` (when neither
    is set, no ``model`` field is sent and LM Studio picks its loaded model); ``timeout`` is the
    deadline in seconds for each whole request, a streamed answer included (default 120; checked
    as each chunk arrives, and no wait for a byte lasts longer), ``connect_timeout`` the connect
    timeout (default 5).
    ``http_client`` lets you pass your own ``httpx.Client`` (it is not closed by :meth:`close`).
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        default_model: str | None = None,
        default_embedding_model: str | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
        config: ClientConfig | None = None,
        headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            base_url,
            api_key=api_key,
            default_model=default_model,
            default_embedding_model=default_embedding_model,
            timeout=timeout,
            connect_timeout=connect_timeout,
            config=config,
            headers=headers,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=self._timeout, trust_env=False)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> LMStudioClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- driver ---------------------------------------------------------------------------------
    def _perform(self, op: Op) -> Any:
        if isinstance(op, Sleep):
            time.sleep(op.seconds)
            return None
        if isinstance(op, Notify):
            return op.callback(op.value)
        url = self.urls.join(op.path)
        deadline = Deadline.start(self._seconds(op))
        try:
            with self._http.stream(
                op.method, url, json=op.body, headers=self._headers, timeout=self._request_timeout(op)
            ) as response:
                content = self._read(response, deadline, op)
        except httpx.TransportError as exc:
            raise self._transport_error(exc, op) from exc
        return interpret_response(response.status_code, content, call=op, url=url, ctx=self._ctx)

    def _read(self, response: httpx.Response, deadline: Deadline, call: Call) -> bytes:
        """The whole body, checking the deadline as each chunk arrives."""
        body = bytearray()
        for chunk in response.iter_bytes():
            if deadline.passed():
                raise self._deadline_error(call)
            body += chunk
        if deadline.passed():
            raise self._deadline_error(call)
        return bytes(body)

    def _run(self, flow: Flow[T]) -> T:
        try:
            op = next(flow)
            while True:
                try:
                    result = self._perform(op)
                except LMStudioError as exc:
                    op = flow.throw(exc)
                else:
                    op = flow.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    # -- probes ---------------------------------------------------------------------------------
    def greeting(self) -> dict[str, Any]:
        """``GET /lmstudio-greeting`` → ``{"lmstudio": true}`` on a running LM Studio."""
        return self._run(flows.greeting_flow())

    def is_running(self) -> bool:
        """True when LM Studio answers at the base URL (never raises)."""
        return self._run(flows.is_running_flow())

    def version(self) -> ServerVersion | None:
        """``GET /lms-status`` (``{"package","version"}``), or ``None`` when the server lacks it."""
        return self._run(flows.version_flow())

    # -- models ---------------------------------------------------------------------------------
    def models(self) -> list[ModelInfo]:
        """``GET /api/v0/models`` as :class:`ModelInfo` (falls back to ``/v1/models`` ids)."""
        return self._run(flows.models_flow())

    def loaded(self) -> list[LoadedInstance]:
        """Loaded instances (``GET /api/v1/models`` ``loaded_instances``, else v0 ``state``)."""
        return self._run(flows.loaded_flow())

    def load(
        self,
        key: str,
        *,
        identifier: str | None = None,
        ttl: int | None = None,
        context_length: int | None = None,
        timeout: float | None = None,
        **config: Any,
    ) -> LoadResult:
        """``POST /api/v1/models/load``; extra keyword arguments (``flash_attention``...) go in the body."""
        return self._run(
            flows.load_flow(
                key,
                identifier=identifier,
                ttl=ttl,
                context_length=context_length,
                config=config,
                timeout=timeout,
            )
        )

    def unload(self, instance_id: str) -> str:
        """``POST /api/v1/models/unload``; returns the unloaded instance id."""
        return self._run(flows.unload_flow(instance_id))

    def download(
        self,
        key: str,
        *,
        on_progress: Callable[[DownloadStatus], Any] | None = None,
        poll_interval: float = 0.2,
        timeout: float = flows.DOWNLOAD_TIMEOUT,
    ) -> DownloadStatus:
        """Start ``POST /api/v1/models/download`` and poll until completed (``on_progress`` per poll)."""
        return self._run(
            flows.download_flow(key, on_progress=on_progress, poll_interval=poll_interval, timeout=timeout)
        )

    def ensure_ready(
        self,
        model: str | None = None,
        *,
        allow_download: bool = False,
        ttl: int | None = None,
        context_length: int | None = None,
        on_progress: Callable[[DownloadStatus], Any] | None = None,
        download_timeout: float = flows.DOWNLOAD_TIMEOUT,
        identifier: str | None = None,
    ) -> ReadyReport:
        """Server reachable, model downloaded (downloading only if ``allow_download``) and loaded
        (under ``identifier`` when given and LM Studio accepts it)."""
        resolved = self._model(model)
        if resolved is None:
            raise TypeError("ensure_ready() needs a model key (or a client default_model)")
        return self._run(
            flows.ensure_ready_flow(
                resolved,
                allow_download=allow_download,
                ttl=ttl,
                context_length=context_length,
                on_progress=on_progress,
                download_timeout=download_timeout,
                base_url=self.base_url,
                identifier=identifier,
            )
        )

    # -- inference ------------------------------------------------------------------------------
    def chat(
        self,
        messages: Messages,
        *,
        model: str | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Any = None,
        response_format: Any = None,
        **sampling: Any,
    ) -> ChatResult:
        """``POST /v1/chat/completions``. ``messages`` may be a plain string (one user message)."""
        body = self._chat_body(messages, model, tools, tool_choice, response_format, sampling)
        return self._run(flows.chat_flow(body, response_format))

    def stream(
        self,
        messages: Messages,
        *,
        model: str | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Any = None,
        response_format: Any = None,
        **sampling: Any,
    ) -> Iterator[StreamEvent]:
        """Streamed chat: yields :class:`TextDelta` / :class:`ReasoningDelta` / :class:`ToolCallDelta`,
        then the full :class:`ChatResult` last. The request is sent on the first ``next()``."""
        call, acc = self._stream_call(messages, model, tools, tool_choice, response_format, sampling)
        return self._stream(call, acc)

    def _stream(self, call: Call, acc: ChatStreamAccumulator) -> Iterator[StreamEvent]:
        url = self.urls.join(call.path)
        decoder = SSEDecoder()
        lines = LineSplitter()
        deadline = Deadline.start(self._seconds(call))  # for the whole stream, not each read
        started = False
        try:
            with self._http.stream(
                call.method, url, json=call.body, headers=self._headers, timeout=self._request_timeout(call)
            ) as response:
                started = True
                if response.status_code != 200 or not _is_event_stream(response):
                    content = self._read(response, deadline, call)
                    status = response.status_code
                    data = interpret_response(status, content, call=call, url=url, ctx=self._ctx)
                    yield from _result_as_events(
                        ChatResult.from_api(data, response_format=acc.response_format)
                    )
                    return
                for chunk in response.iter_bytes():
                    if deadline.passed():
                        raise self._deadline_error(call, acc.chunks)
                    yield from _feed(lines.feed(chunk), decoder, acc)
                    if acc.done:
                        break
                else:
                    yield from _feed(lines.flush(), decoder, acc)
                    if not acc.done:
                        for message in decoder.flush():
                            yield from acc.feed(message)
        except httpx.TransportError as exc:
            raise self._transport_error(exc, call, chunks=acc.chunks if started else None) from exc
        yield acc.finish()

    def complete(self, prompt: str, *, model: str | None = None, **sampling: Any) -> CompletionResult:
        """``POST /v1/completions`` (no chat template)."""
        return self._run(flows.complete_flow(self._complete_body(prompt, model, sampling)))

    def embed(self, texts: str | Sequence[str], *, model: str | None = None) -> list[list[float]]:
        """``POST /v1/embeddings``: one vector per input (a single string gives a one-item list)."""
        return self._run(flows.embed_flow(texts, self._embedding_model(model)))

    def respond(
        self,
        input: Any,
        *,
        model: str | None = None,
        previous_response_id: str | None = None,
        instructions: str | None = None,
        **kw: Any,
    ) -> ResponseResult:
        """``POST /v1/responses`` (stateful: pass ``previous_response_id`` to continue)."""
        body = self._respond_body(input, model, previous_response_id, instructions, kw)
        return self._run(flows.respond_flow(body))


class AsyncLMStudioClient(_ClientBase):
    """The asyncio twin of :class:`LMStudioClient`: same arguments, same methods, awaited.

    ``stream()`` returns an async iterator; close it early with ``contextlib.aclosing`` if you stop
    before the end.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        default_model: str | None = None,
        default_embedding_model: str | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
        config: ClientConfig | None = None,
        headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            base_url,
            api_key=api_key,
            default_model=default_model,
            default_embedding_model=default_embedding_model,
            timeout=timeout,
            connect_timeout=connect_timeout,
            config=config,
            headers=headers,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=self._timeout, trust_env=False)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncLMStudioClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- driver ---------------------------------------------------------------------------------
    async def _perform(self, op: Op) -> Any:
        if isinstance(op, Sleep):
            await asyncio.sleep(op.seconds)
            return None
        if isinstance(op, Notify):
            result = op.callback(op.value)
            if inspect.isawaitable(result):
                result = await result
            return result
        url = self.urls.join(op.path)
        deadline = Deadline.start(self._seconds(op))
        request = self._http.build_request(
            op.method, url, json=op.body, headers=self._headers, timeout=self._request_timeout(op)
        )
        try:
            response = await self._within(self._http.send(request, stream=True), deadline, op)
            try:
                content = await self._read(response, deadline, op)
            finally:
                await response.aclose()
        except httpx.TransportError as exc:
            raise self._transport_error(exc, op) from exc
        return interpret_response(response.status_code, content, call=op, url=url, ctx=self._ctx)

    async def _within(
        self, step: Awaitable[T], deadline: Deadline, call: Call, chunks: int | None = None
    ) -> T:
        """``step``, cancelled when the request's deadline passes while it waits."""
        try:
            return await asyncio.wait_for(step, deadline.left())
        except asyncio.TimeoutError:
            raise self._deadline_error(call, chunks) from None

    async def _read(self, response: httpx.Response, deadline: Deadline, call: Call) -> bytes:
        """The whole body, within the deadline."""
        body = bytearray()
        chunks = response.aiter_bytes()
        while (chunk := await self._within(_next_chunk(chunks), deadline, call)) is not None:
            body += chunk
        return bytes(body)

    async def _run(self, flow: Flow[T]) -> T:
        try:
            op = next(flow)
            while True:
                try:
                    result = await self._perform(op)
                except LMStudioError as exc:
                    op = flow.throw(exc)
                else:
                    op = flow.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    # -- probes ---------------------------------------------------------------------------------
    async def greeting(self) -> dict[str, Any]:
        return await self._run(flows.greeting_flow())

    async def is_running(self) -> bool:
        return await self._run(flows.is_running_flow())

    async def version(self) -> ServerVersion | None:
        return await self._run(flows.version_flow())

    # -- models ---------------------------------------------------------------------------------
    async def models(self) -> list[ModelInfo]:
        return await self._run(flows.models_flow())

    async def loaded(self) -> list[LoadedInstance]:
        return await self._run(flows.loaded_flow())

    async def load(
        self,
        key: str,
        *,
        identifier: str | None = None,
        ttl: int | None = None,
        context_length: int | None = None,
        timeout: float | None = None,
        **config: Any,
    ) -> LoadResult:
        return await self._run(
            flows.load_flow(
                key,
                identifier=identifier,
                ttl=ttl,
                context_length=context_length,
                config=config,
                timeout=timeout,
            )
        )

    async def unload(self, instance_id: str) -> str:
        return await self._run(flows.unload_flow(instance_id))

    async def download(
        self,
        key: str,
        *,
        on_progress: Callable[[DownloadStatus], Any] | None = None,
        poll_interval: float = 0.2,
        timeout: float = flows.DOWNLOAD_TIMEOUT,
    ) -> DownloadStatus:
        return await self._run(
            flows.download_flow(key, on_progress=on_progress, poll_interval=poll_interval, timeout=timeout)
        )

    async def ensure_ready(
        self,
        model: str | None = None,
        *,
        allow_download: bool = False,
        ttl: int | None = None,
        context_length: int | None = None,
        on_progress: Callable[[DownloadStatus], Any] | None = None,
        download_timeout: float = flows.DOWNLOAD_TIMEOUT,
        identifier: str | None = None,
    ) -> ReadyReport:
        resolved = self._model(model)
        if resolved is None:
            raise TypeError("ensure_ready() needs a model key (or a client default_model)")
        return await self._run(
            flows.ensure_ready_flow(
                resolved,
                allow_download=allow_download,
                ttl=ttl,
                context_length=context_length,
                on_progress=on_progress,
                download_timeout=download_timeout,
                base_url=self.base_url,
                identifier=identifier,
            )
        )

    # -- inference ------------------------------------------------------------------------------
    async def chat(
        self,
        messages: Messages,
        *,
        model: str | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Any = None,
        response_format: Any = None,
        **sampling: Any,
    ) -> ChatResult:
        body = self._chat_body(messages, model, tools, tool_choice, response_format, sampling)
        return await self._run(flows.chat_flow(body, response_format))

    def stream(
        self,
        messages: Messages,
        *,
        model: str | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Any = None,
        response_format: Any = None,
        **sampling: Any,
    ) -> AsyncIterator[StreamEvent]:
        """Async iterator of deltas, then the :class:`ChatResult` (``async for x in client.stream(...)``)."""
        call, acc = self._stream_call(messages, model, tools, tool_choice, response_format, sampling)
        return self._stream(call, acc)

    async def _stream(self, call: Call, acc: ChatStreamAccumulator) -> AsyncIterator[StreamEvent]:
        url = self.urls.join(call.path)
        decoder = SSEDecoder()
        lines = LineSplitter()
        deadline = Deadline.start(self._seconds(call))  # for the whole stream, not each read
        request = self._http.build_request(
            call.method, url, json=call.body, headers=self._headers, timeout=self._request_timeout(call)
        )
        started = False
        try:
            response = await self._within(self._http.send(request, stream=True), deadline, call)
            started = True
            try:
                if response.status_code != 200 or not _is_event_stream(response):
                    data = interpret_response(
                        response.status_code,
                        await self._read(response, deadline, call),
                        call=call,
                        url=url,
                        ctx=self._ctx,
                    )
                    for event in _result_as_events(
                        ChatResult.from_api(data, response_format=acc.response_format)
                    ):
                        yield event
                    return
                chunks = response.aiter_bytes()
                while True:
                    chunk = await self._within(_next_chunk(chunks), deadline, call, acc.chunks)
                    if chunk is None:
                        for event in _feed(lines.flush(), decoder, acc):
                            yield event
                        if not acc.done:
                            for message in decoder.flush():
                                for event in acc.feed(message):
                                    yield event
                        break
                    for event in _feed(lines.feed(chunk), decoder, acc):
                        yield event
                    if acc.done:
                        break
            finally:
                await response.aclose()
        except httpx.TransportError as exc:
            raise self._transport_error(exc, call, chunks=acc.chunks if started else None) from exc
        yield acc.finish()

    async def complete(self, prompt: str, *, model: str | None = None, **sampling: Any) -> CompletionResult:
        return await self._run(flows.complete_flow(self._complete_body(prompt, model, sampling)))

    async def embed(self, texts: str | Sequence[str], *, model: str | None = None) -> list[list[float]]:
        return await self._run(flows.embed_flow(texts, self._embedding_model(model)))

    async def respond(
        self,
        input: Any,
        *,
        model: str | None = None,
        previous_response_id: str | None = None,
        instructions: str | None = None,
        **kw: Any,
    ) -> ResponseResult:
        body = self._respond_body(input, model, previous_response_id, instructions, kw)
        return await self._run(flows.respond_flow(body))
