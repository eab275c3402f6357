"""The SDK backend of the fake LM Studio: the shared home (downloads, loaded instances with JIT, TTL
and auto-evict) and the core's one exchange step (``fake_lms.core.exchange``) for generation and
embeddings, with the test's script applied as for every other dialect.

A model loaded over the websocket is an instance in the home like any other, so REST
(``GET /api/v1/models``) and the fake ``lms`` see it, and the other way round.

Every prediction, embedding, load and unload is recorded (``fake.requests``: method ``WS``, path
``/<namespace>/<endpoint>``, ``api="sdk"``, ``operation`` chat, complete, embed, load or unload)
with an OpenAI-style JSON body (``model``, ``messages``, ``tools``, ``max_tokens``,
``stream: true``) for rules to match. The script's intents become the SDK's own failures:
``Fail`` an ``rpcError``/``channelError`` with its message, ``DropConnection`` and ``Cut`` a
dropped connection, ``Garbage`` a frame that is not JSON, ``StreamFailure`` a ``channelError``
mid-stream, ``Pause`` a wait between two messages.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fake_lms.core import exchange
from fake_lms.core.context import Context, Resolved
from fake_lms.core.errors import CONTEXT_LENGTH_MESSAGE, MODEL_CRASHED_MESSAGE, CoreError
from fake_lms.core.requestlog import LineAppender, LogEntry, log_line
from fake_lms.model import engine, info, reasoning
from fake_lms.model.catalog import ModelSpec
from fake_lms.model.home import (
    IdentifierInUse,
    Instance,
    InstanceNotFound,
    ModelNotDownloaded,
    ModelNotInCatalog,
)
from fake_lms.scripting.intents import (
    ContextOverflow,
    Cut,
    DropConnection,
    Fail,
    Garbage,
    NoModels,
    Pause,
    ScriptBroke,
    StreamFailure,
)
from fake_lms.scripting.records import RequestRecord
from fake_lms.sdk import info as records
from fake_lms.sdk.auth import Authenticator
from fake_lms.sdk.backend import (
    Domain,
    DownloadState,
    Fragment,
    LoadRequest,
    PendingLoad,
    Prediction,
    PredictRequest,
    Shaper,
    Specifier,
)
from fake_lms.sdk.protocol import (
    Close,
    Disconnect,
    SdkError,
    SendRaw,
    Wait,
    checked_number,
    identifier_not_found,
    kv,
    no_model_matching_query,
    path_not_found,
)

LOG_LIMIT = 1000
QUEUE_POLL_SECONDS = 0.02  # how often a prediction waiting for its model's slot looks again
_BUILD = 1

Operation = Literal["chat", "complete", "embed", "load", "unload", "download"]
NO_MATCH = "generic.noModelMatchingQuery"


@dataclass
class _Call:
    """One SDK call being handled: its record, and what its request-log line will say."""

    record: RequestRecord
    started: float
    model: Any = None
    stream: bool = False
    usage: tuple[int, int] | None = None
    notes: dict[str, Any] | None = None
    deferred: bool = False  # the line is written later (a load finishes after its progress)


class StateBackend:
    """:class:`~fake_lms.sdk.backend.Backend` on a fake server's :class:`Context`."""

    def __init__(self, ctx: Context, *, on_record: Callable[[RequestRecord], None] | None = None) -> None:
        self.ctx = ctx
        self.home = ctx.home
        self.on_record = on_record
        self.authenticate = Authenticator(
            lambda: self.home.settings.require_auth, lambda token: self.home.token_known(token)
        )
        self._logs: collections.deque[tuple[int, dict[str, Any]]] = collections.deque(maxlen=LOG_LIMIT)
        self._log_seq = 0
        self._log_lock = threading.Lock()
        self._request_log = LineAppender(self.home.request_log_file)

    def close(self) -> None:
        self._request_log.close()

    def reset(self) -> None:
        """Forget client passkeys and log events (between tests)."""
        self.authenticate.forget()
        with self._log_lock:
            self._logs.clear()

    # -- the server ------------------------------------------------------------------------------
    def version(self) -> dict[str, Any]:
        return {"version": self.ctx.version, "build": _BUILD}

    def info(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "isDaemon": False, "version": self.ctx.version}

    def lm_link_status(self) -> dict[str, Any]:
        return {
            "status": "offline",
            "issues": [],
            "peers": [],
            "deviceIdentifier": None,
            "deviceName": "fake",
        }

    # -- models ----------------------------------------------------------------------------------
    def list_downloaded(self) -> list[dict[str, Any]]:
        return [records.model_info(spec) for spec in self.home.downloaded_specs()]

    def list_variants(self, model_key: str) -> list[dict[str, Any]]:
        spec = self.home.catalog.find(model_key)
        if spec is None or not self.home.is_downloaded(spec.key):
            raise path_not_found(model_key, self._downloaded_paths())
        return [records.model_info(spec)]

    def _pairs(self, domain: Domain | None) -> list[tuple[Instance, ModelSpec]]:
        catalog = self.home.catalog
        out = []
        for inst in self.home.instances():
            spec = catalog.get(inst.model_key) or ModelSpec(key=inst.model_key)
            if domain is None or spec.type == domain:
                out.append((inst, spec))
        return out

    def list_loaded(self, domain: Domain) -> list[dict[str, Any]]:
        return [records.instance_info(spec, inst) for inst, spec in self._pairs(domain)]

    def _find(self, domain: Domain, specifier: Specifier) -> tuple[Instance, ModelSpec] | None:
        pairs = self._pairs(domain)
        ref = specifier.instance_reference
        if ref is not None:
            return next(((i, s) for i, s in pairs if records.instance_reference(i) == ref), None)
        query = specifier.query
        if query.get("domain") not in (None, domain):
            return None
        identifier, path = query.get("identifier"), query.get("path")
        if not isinstance(identifier, str) and not isinstance(path, str):
            return pairs[0] if pairs else None
        for name in (identifier, path):
            if not isinstance(name, str):
                continue
            for inst, spec in pairs:  # the identifier itself, then the model it loads
                if inst.identifier == name:
                    return inst, spec
            found = self.home.catalog.find(name)
            for inst, spec in pairs:
                if (found is not None and spec.key == found.key) or name in (spec.path, spec.variant_key):
                    return inst, spec
        return None

    def _required(self, domain: Domain, specifier: Specifier) -> tuple[Instance, ModelSpec]:
        found = self._find(domain, specifier)
        if found is None:
            query = dict(specifier.query)
            if specifier.instance_reference is not None:
                query = {"identifier": specifier.instance_reference}
            raise no_model_matching_query(query, [i.identifier for i, _ in self._pairs(domain)])
        return found

    def find_loaded(self, domain: Domain, specifier: Specifier) -> dict[str, Any] | None:
        found = self._find(domain, specifier)
        return records.instance_info(found[1], found[0]) if found else None

    def _downloaded_paths(self) -> list[str]:
        return [spec.path for spec in self.home.downloaded_specs()]

    def _downloaded_spec(self, domain: Domain, name: str, *, jit: bool) -> ModelSpec:
        spec = self.home.catalog.find(name)
        if spec is None or not self.home.is_downloaded(spec.key):
            if jit:
                raise no_model_matching_query(
                    {"identifier": name}, [i.identifier for i, _ in self._pairs(domain)]
                )
            raise path_not_found(name, self._downloaded_paths())
        if spec.type != domain:
            raise SdkError(
                f'Model "{name}" is {"an embedding model" if spec.is_embedding else "an LLM"}, '
                f"not {'an LLM' if domain == 'llm' else 'an embedding model'}.",
                display_data={
                    "code": "generic.domainMismatch",
                    "path": spec.path,
                    "actualDomain": spec.type,
                    "expectedDomain": domain,
                },
            )
        return spec

    def get_or_load(
        self, domain: Domain, identifier: str, ttl_seconds: float | None, config: Mapping[str, Any]
    ) -> dict[str, Any] | PendingLoad:
        body = {"model": identifier, "ttl": ttl_seconds}
        with self._call(f"/{domain}/getOrLoad", "load", body) as call:
            found = self._find(domain, Specifier(query={"identifier": identifier}))
            if found is not None:
                self._touch(found[0])
                return records.instance_info(found[1], found[0])
            spec = self._downloaded_spec(domain, identifier, jit=True)
            context_length = config.get(f"{domain}.load.contextLength")
            request = LoadRequest(
                domain,
                spec.key,
                None,
                ttl_seconds,
                context_length if isinstance(context_length, int) and context_length > 0 else None,
            )
            call.deferred = True
            delay = self.home.settings.load_delay(spec)
            return PendingLoad(records.model_info(spec), delay, ("jit", request, call))

    def plan_load(self, request: LoadRequest) -> PendingLoad:
        body = {
            "model": request.model_key,
            "identifier": request.identifier,
            "ttl": request.ttl_seconds,
            "context_length": request.context_length,
        }
        with self._call(f"/{request.domain}/loadModel", "load", body) as call:
            spec = self._downloaded_spec(request.domain, request.model_key, jit=False)
            if request.identifier and self.home.find_instance(request.identifier) is not None:
                raise SdkError(f'A model with the identifier "{request.identifier}" is already loaded.')
            if request.context_length is not None and request.context_length > spec.max_context_length:
                raise SdkError(
                    f"Context length {request.context_length} is larger than the model's maximum "
                    f"({spec.max_context_length})."
                )
            call.deferred = True
            delay = self.home.settings.load_delay(spec)
            return PendingLoad(records.model_info(spec), delay, ("load", request, call))

    def finish_load(self, pending: PendingLoad) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        how, request, call = pending.token
        jit = how == "jit"
        try:
            result = self.home.load(
                request.model_key,
                identifier=request.identifier,
                ttl_seconds=request.ttl_seconds,
                context_length=request.context_length,
                jit=jit,
                reuse=jit,
                sleep=False,
            )
        except (IdentifierInUse, ModelNotInCatalog, ModelNotDownloaded) as exc:
            call.record.status = 500
            self._write_log(call, 500)
            if isinstance(exc, IdentifierInUse):
                raise SdkError(str(exc)) from None
            raise path_not_found(request.model_key, self._downloaded_paths()) from None
        if jit and not result.already_loaded:
            self.ctx.stats.jit_loads += 1
        inst = result.instance
        if not result.already_loaded:
            call.notes = {
                "action": "jit_load" if jit else "load",
                "model_key": inst.model_key,
                "instance_id": inst.identifier,
            }
            if result.evicted:
                call.notes["evicted"] = [i.identifier for i in result.evicted]
        call.record.status = 200
        self._write_log(call, 200)
        spec = self.home.catalog.get(inst.model_key) or ModelSpec(key=inst.model_key)
        evicted = []
        for gone_inst in result.evicted:
            gone = self.home.catalog.get(gone_inst.model_key) or ModelSpec(key=gone_inst.model_key)
            evicted.append(records.instance_info(gone, gone_inst))
        return records.instance_info(spec, inst), evicted

    def unload(self, domain: Domain, identifier: str) -> None:
        with self._call(f"/{domain}/unloadModel", "unload", {"model": identifier}) as call:
            try:
                gone = self.home.unload(identifier)
            except InstanceNotFound:
                loaded = [i.identifier for i, _ in self._pairs(domain)]
                raise identifier_not_found(identifier, loaded) from None
            call.notes = {"action": "unload", "model_key": gone.model_key, "instance_id": gone.identifier}

    def load_config(self, domain: Domain, specifier: Specifier) -> dict[str, Any]:
        inst, _ = self._required(domain, specifier)
        fields: dict[str, Any] = {f"{domain}.load.contextLength": inst.context_length}
        return kv(fields)

    def processing_state(self, domain: Domain, specifier: Specifier) -> dict[str, Any] | None:
        """``{status, queued}`` of the instance: what its requests, over every API, are doing."""
        found = self._find(domain, specifier)
        return dict(self.ctx.slots.state(found[0].identifier)) if found else None

    def _touch(self, inst: Instance) -> None:
        self.home.touch(inst.identifier, time.time(), known=inst)

    # -- scripting -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _call(self, path: str, operation: Operation, body: dict[str, Any]) -> Iterator[_Call]:
        """Record one SDK call (``fake.requests``), let the test's before-routing faults act on it
        (a failure becomes the SDK's error, a dropped connection a dropped websocket), and write
        its request-log line (``<home>/server-logs/requests.jsonl``, which the run report reads)."""
        record = RequestRecord(
            "WS", path, body=json.dumps(body).encode(), time=time.time(), api="sdk", operation=operation
        )
        if self.on_record is not None:
            self.on_record(record)
        call = _Call(record, time.monotonic(), model=body.get("model"))
        try:
            self._before(record)
            yield call
        except (SdkError, Disconnect) as exc:
            if record.status is None:
                code = (
                    exc.display_data.get("code") if isinstance(exc, SdkError) and exc.display_data else None
                )
                record.status = (
                    404 if (isinstance(code, str) and "NotFound" in code) or code == NO_MATCH else 500
                )
            self._write_log(call, record.status)
            raise
        if not call.deferred:
            record.status = 200
            self._write_log(call, 200)

    def _write_log(self, call: _Call, status: int) -> None:
        record = call.record
        seconds = time.monotonic() - call.started
        entry = LogEntry(
            record.time, "WS", record.path, status, call.model, seconds, call.stream, call.usage, call.notes
        )
        try:
            self._request_log.append(log_line(entry))
        except OSError:
            pass  # the home is gone (a server stopping): nothing to log to

    def _before(self, record: RequestRecord) -> None:
        scripts = self.ctx.scripts
        intent = scripts.before(record) if scripts is not None else None
        if intent is None:
            return
        if isinstance(intent, DropConnection):
            raise Disconnect()
        if isinstance(intent, NoModels):
            raise no_model_matching_query({}, [])
        if isinstance(intent, ContextOverflow):
            raise SdkError(intent.message or CONTEXT_LENGTH_MESSAGE)
        if isinstance(intent, Fail):
            record.status = intent.status
            raise SdkError(_fail_message(intent))
        if isinstance(intent, ScriptBroke):
            raise SdkError(intent.message)
        raise SdkError(f"Unexpected scripted fault {intent!r}")

    @staticmethod
    def _shaper(ex: exchange.Exchange) -> Shaper:
        """The test's stream faults as the session's actions (the SDK dialect's rendering of
        ``fake_lms.scripting.intents``)."""

        def shape(events: Iterator[Any]) -> Iterator[Any]:
            # the instance's slot (core/slots.py), polled so that the connection's other channels
            # and a cancel go on while this prediction waits its turn; freed however the stream ends
            ticket = ex.claim.enter() if ex.claim is not None else None
            try:
                while ticket is not None and not ticket.ready():
                    yield Wait(QUEUE_POLL_SECONDS)
                for item in ex.shape(events):
                    if isinstance(item, Pause):
                        yield Wait(item.seconds)
                    elif isinstance(item, Cut):
                        yield Close(abrupt=True)
                    elif isinstance(item, Garbage):
                        yield SendRaw(
                            item.data.decode("utf-8", "replace") if item.data else MALFORMED_MESSAGE
                        )
                    elif isinstance(item, StreamFailure):
                        raise SdkError(item.message or MODEL_CRASHED_MESSAGE)
                    else:
                        if ticket is not None and getattr(item, "token", False):
                            ticket.generating()
                        yield item
            finally:
                if ticket is not None:
                    ticket.release()

        return shape

    # -- generation ------------------------------------------------------------------------------
    def predict(self, request: PredictRequest) -> Prediction:
        config = request.config
        max_tokens = checked_number(config.get("llm.prediction.maxPredictedTokens"))
        stop_strings = config.get("llm.prediction.stopStrings")
        if isinstance(stop_strings, str):
            stop_strings = [stop_strings]
        stop = [s for s in stop_strings if isinstance(s, str)] if isinstance(stop_strings, list) else []
        structured = config.get("llm.prediction.structured")
        schema = None
        if isinstance(structured, Mapping) and structured.get("type") == "json":
            schema = structured.get("jsonSchema") if isinstance(structured.get("jsonSchema"), Mapping) else {}
        tool_choice: Any = "auto"
        choice = config.get("llm.prediction.toolChoice")
        if isinstance(choice, Mapping) and choice.get("type") == "mode":
            tool_choice = choice.get("mode") or "auto"
        completing = request.raw_prompt is not None and not request.tools
        operation: exchange.Operation = "complete" if completing else "chat"
        body: dict[str, Any] = {"model": request.specifier.describe(), "stream": True}
        if completing:
            body["prompt"] = request.raw_prompt
        body["messages"] = request.messages
        if request.tools:
            body["tools"] = request.tools
        if max_tokens is not None:
            body["max_tokens"] = int(max_tokens)
        if schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {"schema": schema}}
        with self._call(f"/llm/{request.endpoint}", operation, body) as call:
            inst, spec = self._required("llm", request.specifier)
            ask = exchange.Ask(
                operation,
                inst.identifier,
                record=call.record,
                messages=request.messages,
                prompt=request.raw_prompt,
                tools=request.tools or None,
                tool_choice=tool_choice,
                json_schema=schema,
                max_tokens=int(max_tokens) if max_tokens is not None else None,
                stop=stop,
                # a reasoning model reasons at its default setting, except under a JSON schema:
                # the Python SDK parses the whole text (tags included) as JSON
                reasoning=lambda spec: schema is None and reasoning.reasons_by_default(spec),
            )
            try:
                ex = exchange.generate(self.ctx, ask, Resolved(inst, spec))
            except CoreError as exc:
                raise SdkError(exc.message) from None
            call.model, call.stream, call.usage = inst.identifier, True, ex.usage
        gen = ex.generation
        calls = []
        for tool_call in gen.tool_calls:
            try:
                arguments = json.loads(tool_call.arguments)
            except ValueError:
                arguments = {}
            calls.append(
                {
                    "type": "function",
                    "id": tool_call.id,
                    "name": tool_call.name,
                    "arguments": arguments if isinstance(arguments, dict) else {"value": arguments},
                }
            )
        return Prediction(
            fragments=fragments(gen, config.get("llm.prediction.reasoning.parsing")),
            stop_reason=gen.stop_reason,
            prompt_tokens=gen.prompt_tokens,
            predicted_tokens=gen.completion_tokens,
            model_info=records.instance_info(spec, inst),
            load_config=kv({"llm.load.contextLength": inst.context_length}),
            tool_calls=calls,
            shape=self._shaper(ex),
        )

    def embed(self, specifier: Specifier, text: str) -> tuple[list[float], float]:
        with self._call(
            "/embedding/embedString", "embed", {"model": specifier.describe(), "input": text}
        ) as call:
            inst, _ = self._required("embedding", specifier)
            try:
                result = exchange.embed(self.ctx, [text], model=inst.identifier, record=call.record)
            except CoreError as exc:
                raise SdkError(exc.message) from None
            call.model, call.usage = inst.identifier, (result.tokens, 0)
        return result.vectors[0], result.delay

    def tokenize(self, domain: Domain, specifier: Specifier, text: str) -> list[int]:
        self._required(domain, specifier)
        return [_token_id(token) for token in engine.tokenize(text)]

    def count_tokens(self, domain: Domain, specifier: Specifier, text: str) -> int:
        self._required(domain, specifier)
        return engine.count_tokens(text)

    def apply_prompt_template(self, specifier: Specifier, messages: list[dict[str, Any]]) -> str:
        self._required("llm", specifier)
        parts = [f"<|im_start|>{m['role']}\n{m.get('content') or ''}<|im_end|>\n" for m in messages]
        return "".join(parts) + "<|im_start|>assistant\n"

    # -- the model repository --------------------------------------------------------------------
    def search_models(self, term: str | None, limit: int | None) -> list[dict[str, Any]]:
        wanted = (term or "").strip().lower()
        results = []
        for spec in self.home.catalog:
            if wanted and wanted not in spec.key.lower() and wanted not in spec.display_name.lower():
                continue
            results.append(
                {
                    "name": spec.key,
                    "identifier": {"type": "catalog", "identifier": spec.key},
                    "exact": spec.key.lower() == wanted,
                    "staffPick": False,
                }
            )
        return results[:limit] if limit else results

    def download_options(self, identifier: str) -> list[dict[str, Any]]:
        spec = self.home.catalog.find(identifier)
        if spec is None:
            raise SdkError(f'No model "{identifier}" in the catalog.')
        options: list[dict[str, Any]] = []
        for variant in spec.variants:
            quant = variant.rpartition("@")[2]
            options.append(
                {
                    "name": f"{spec.key.split('/')[-1]}-{quant.upper()}",
                    "sizeBytes": info.variant_size(spec, quant),
                    "fitEstimation": "fullGPUOffload",
                    "downloadIdentifier": variant,
                    "indexedModelIdentifier": spec.path,
                    "compatibilityType": "safetensors" if spec.format == "mlx" else "gguf",
                    "quantization": quant.upper(),
                    "recommended": not options,
                }
            )
        return options

    def start_download(self, download_identifier: str) -> Any:
        body = {"model": download_identifier}
        with self._call("/repository/downloadModel", "download", body) as call:
            spec = self.home.catalog.find(download_identifier)
            if spec is None:
                raise SdkError(f'No download "{download_identifier}" in the catalog.')
            if self.home.is_downloaded(spec.key):
                return spec, None
            job, _ = self.ctx.downloads.start(spec)
            call.notes = {"action": "download", "model_key": spec.key, "job_id": job.job_id}
            return spec, job.job_id

    def download_state(self, download: Any) -> DownloadState:
        spec, job_id = download
        job = self.ctx.downloads.get(job_id) if job_id is not None else None
        if job is None:  # already downloaded (or the job was forgotten by a reset)
            done = self.home.is_downloaded(spec.key)
            size = spec.size_bytes
            return DownloadState(size if done else 0, size, 0.0, done, spec.key)
        speed = job.total_size_bytes / job.duration if job.duration > 0 else float(job.total_size_bytes)
        now = time.time()
        return DownloadState(job.downloaded_bytes(now), job.total_size_bytes, speed, job.finished, spec.key)

    # -- diagnostics -----------------------------------------------------------------------------
    def logs_since(self, cursor: Any) -> tuple[list[dict[str, Any]], Any]:
        """SDK predictions (with their texts) from this backend's own log, and every other request
        from the home's request log, as the fake ``lms log stream`` reads it: a ``server.log``
        event per request, and prediction events (without texts: the request log keeps no
        bodies) for REST predictions. ``cursor``: (request-log offset, SDK log sequence)."""
        path = self.home.request_log_file
        if cursor is None:
            try:
                offset = os.path.getsize(path)
            except OSError:
                offset = 0
            with self._log_lock:
                return [], (offset, self._log_seq)
        offset, seq = cursor
        try:
            with open(path, "rb") as fh:
                if os.fstat(fh.fileno()).st_size < offset:
                    offset = 0  # the log was emptied (a reset) or replaced: read it from its start
                fh.seek(offset)
                data = fh.read()
        except OSError:
            data = b""
        complete = data[: data.rfind(b"\n") + 1]
        events: list[dict[str, Any]] = []
        for line in complete.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("method") != "WS":  # SDK calls: below, with texts
                events.extend(_request_events(record))
        with self._log_lock:
            events.extend(event for number, event in self._logs if number > seq)
            seq = self._log_seq
        events.sort(key=lambda event: event["timestamp"])
        return events, (offset + len(complete), seq)

    def _log(self, data: dict[str, Any]) -> None:
        with self._log_lock:
            self._log_seq += 1
            self._logs.append((self._log_seq, {"timestamp": round(time.time() * 1000), "data": data}))

    def log_prediction(self, model_identifier: str, model_path: str, prompt: str, output: str) -> None:
        self._log(
            {
                "type": "llm.prediction.input",
                "input": prompt,
                "modelPath": model_path,
                "modelIdentifier": model_identifier,
            }
        )
        self._log({"type": "llm.prediction.output", "output": output, "modelIdentifier": model_identifier})


def fragments(gen: engine.Generation, parsing: Any = None) -> list[Fragment]:
    """A generation's fragments as LM Studio streams them to the SDK: a reasoning model's
    reasoning between a start and an end tag, then the content (lmstudio-js
    ``LLM.respond.heavy.test.ts`` snapshot "should support reasoning content parsing"). The tags
    count no tokens here, so the fragments' counts add up to the engine's (and REST's) count; a
    prediction cut inside its reasoning has no end tag. ``parsing`` is the prediction config's
    ``llm.prediction.reasoning.parsing`` (``{enabled, startString, endString}``): disabled, every
    fragment is ``reasoningType: "none"`` (the tags and the reasoning are plain text)."""
    content = [Fragment(token) for token in gen.content_tokens]
    if not gen.reasoning_tokens:
        return content
    start, end, parsed = reasoning.START_TAG, reasoning.END_TAG, True
    if isinstance(parsing, Mapping):
        parsed = parsing.get("enabled") is not False
        given_start, given_end = parsing.get("startString"), parsing.get("endString")
        start = given_start if isinstance(given_start, str) else start
        end = given_end if isinstance(given_end, str) else end
    out = [Fragment(start, 0, "reasoningStartTag" if parsed else "none")]
    out += [Fragment(token, 1, "reasoning" if parsed else "none") for token in gen.reasoning_tokens]
    if gen.content_tokens or gen.tool_calls or gen.finish_reason != "length":
        out.append(Fragment(end, 0, "reasoningEndTag" if parsed else "none"))
    return out + content


MALFORMED_MESSAGE = '{"type":"channelSend","channelId":'
REST_PREDICTION_PATHS = frozenset(
    {
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/responses",
        "/v1/messages",
        "/api/v0/chat/completions",
        "/api/v0/completions",
        "/api/v1/chat",
    }
)


def _request_events(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The diagnostics events of one request-log line (as ``lms log stream`` shows them)."""
    try:
        timestamp = round(float(record.get("time", 0)) * 1000)
    except (TypeError, ValueError):
        timestamp = 0
    method, path = str(record.get("method", "GET")), str(record.get("path", "/"))
    content = f"Received request: {method} to {path}"
    out = [{"timestamp": timestamp, "data": {"type": "server.log", "content": content, "level": "info"}}]
    for warning in record.get("warnings") or ():  # e.g. a reasoning setting's fallback
        warn = {"type": "server.log", "content": str(warning), "level": "warn"}
        out.append({"timestamp": timestamp, "data": warn})
    model = record.get("model")
    if path in REST_PREDICTION_PATHS and isinstance(model, str) and record.get("status") == 200:
        data_in = {"type": "llm.prediction.input", "input": "", "modelPath": model, "modelIdentifier": model}
        out.append({"timestamp": timestamp, "data": data_in})
        data_out: dict[str, Any] = {"type": "llm.prediction.output", "output": "", "modelIdentifier": model}
        prompt, completion = record.get("prompt_tokens"), record.get("completion_tokens")
        if isinstance(prompt, int) and isinstance(completion, int):
            data_out["stats"] = {
                "stopReason": "eosFound",
                "promptTokensCount": prompt,
                "predictedTokensCount": completion,
                "totalTokensCount": prompt + completion,
            }
        out.append({"timestamp": timestamp, "data": data_out})
    return out


def _fail_message(intent: Fail) -> str:
    if intent.message:
        return intent.message
    body = intent.body
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            error = error.get("message")
        if isinstance(error, str) and error:
            return error
    return f"Request failed with status {intent.status}"


def _token_id(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "big") % 150_000
