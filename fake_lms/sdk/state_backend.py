"""The SDK backend of the fake LM Studio: the shared home (downloads, loaded instances with JIT, TTL
and auto-evict), the engine for generation, and the test's script (scripted replies and faults).

A model loaded over the websocket is an instance in the home like any other, so REST
(``GET /api/v1/models``) and the fake ``lms`` see it, and the other way round.

Scripted rules apply to SDK predictions and embeddings as they do to REST requests: each call is
matched as a request record whose JSON body is the OpenAI-style equivalent (``model``,
``messages``, ``tools``, ``max_tokens``, ``stream: true``). Faults become the SDK's own failures:
``fail(status)`` and ``stream_error`` a ``channelError``, ``connection_reset`` and ``stream_cut`` a
dropped connection, ``malformed_chunk`` a frame that is not JSON, ``slow``/``stall`` pacing.
Records of SDK calls are listed in ``fake.requests`` with method ``WS`` and path
``/<namespace>/<endpoint>``.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from fake_lms.api.types import ApiRequest
from fake_lms.core.context import Context
from fake_lms.model import engine
from fake_lms.model.catalog import ModelSpec
from fake_lms.model.home import (
    IdentifierInUse,
    Instance,
    InstanceNotFound,
    ModelNotDownloaded,
    ModelNotInCatalog,
)
from fake_lms.scripting import faults as F
from fake_lms.scripting.records import RequestRecord
from fake_lms.sdk import info as records
from fake_lms.sdk.auth import Authenticator
from fake_lms.sdk.backend import (
    Domain,
    Fragment,
    LoadRequest,
    PendingLoad,
    Prediction,
    PredictRequest,
    Specifier,
)
from fake_lms.sdk.protocol import (
    Disconnect,
    SdkError,
    checked_number,
    identifier_not_found,
    kv,
    no_model_matching_query,
    path_not_found,
)

LOG_LIMIT = 1000
_BUILD = 1


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
        return PendingLoad(records.model_info(spec), self.home.settings.load_delay(spec), ("jit", request))

    def plan_load(self, request: LoadRequest) -> PendingLoad:
        spec = self._downloaded_spec(request.domain, request.model_key, jit=False)
        if request.identifier and self.home.find_instance(request.identifier) is not None:
            raise SdkError(f'A model with the identifier "{request.identifier}" is already loaded.')
        if request.context_length is not None and request.context_length > spec.max_context_length:
            raise SdkError(
                f"Context length {request.context_length} is larger than the model's maximum "
                f"({spec.max_context_length})."
            )
        return PendingLoad(records.model_info(spec), self.home.settings.load_delay(spec), ("load", request))

    def finish_load(self, pending: PendingLoad) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        how, request = pending.token
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
        except IdentifierInUse as exc:
            raise SdkError(str(exc)) from None
        except (ModelNotInCatalog, ModelNotDownloaded):
            raise path_not_found(request.model_key, self._downloaded_paths()) from None
        if jit and not result.already_loaded:
            self.ctx.stats.jit_loads += 1
        spec = self.home.catalog.get(result.instance.model_key) or ModelSpec(key=result.instance.model_key)
        evicted = []
        for inst in result.evicted:
            gone = self.home.catalog.get(inst.model_key) or ModelSpec(key=inst.model_key)
            evicted.append(records.instance_info(gone, inst))
        return records.instance_info(spec, result.instance), evicted

    def unload(self, domain: Domain, identifier: str) -> None:
        try:
            self.home.unload(identifier)
        except InstanceNotFound:
            raise identifier_not_found(identifier, [i.identifier for i, _ in self._pairs(domain)]) from None

    def load_config(self, domain: Domain, specifier: Specifier) -> dict[str, Any]:
        inst, _ = self._required(domain, specifier)
        fields: dict[str, Any] = {f"{domain}.load.contextLength": inst.context_length}
        return kv(fields)

    def processing_state(self, domain: Domain, specifier: Specifier) -> dict[str, Any] | None:
        found = self._find(domain, specifier)
        return {"status": "idle", "queued": 0} if found else None

    def _touch(self, inst: Instance) -> None:
        self.home.touch(inst.identifier, time.time(), known=inst)

    # -- scripting -------------------------------------------------------------------------------
    def _script(
        self, path: str, body: dict[str, Any], resolved: str, *, generation: bool
    ) -> tuple[Any, RequestRecord]:
        """Apply the test's rules to one SDK call: before-routing faults raise; the scripted reply
        and stream faults (generation only) are returned with the call's record."""
        api_request = ApiRequest("POST", "", {}, json.dumps(body).encode())
        scripts = self.ctx.scripts
        script = None
        record: RequestRecord | None = None
        try:
            if scripts is not None:
                reply = scripts.before(api_request)
                record = api_request.record
                if reply is not None:
                    self._before_fault(record, reply)
                if generation:
                    script = scripts.match(
                        endpoint="chat",
                        body=body,
                        model=resolved,
                        messages=body.get("messages"),
                        request=api_request,
                    )
                    record = api_request.record
        finally:
            if record is None:
                record = RequestRecord.from_api_request(api_request)
            record.method, record.path = "WS", path
            if self.on_record is not None:
                self.on_record(record)
        return script, record

    @staticmethod
    def _before_fault(record: Any, reply: Any) -> None:
        kinds = list(getattr(record, "faults", ()) or ())
        kind = kinds[-1] if kinds else ""
        if kind == "connection_reset":
            raise Disconnect()
        if kind == "no_models_loaded":
            raise no_model_matching_query({}, [])
        if kind == "context_length_exceeded":
            message = None
            with contextlib.suppress(Exception):
                message = json.loads(reply.body_bytes())["error"]
            raise SdkError(message if isinstance(message, str) else F.CONTEXT_LENGTH_MESSAGE)
        message = f"Request failed with status {reply.status}"
        with contextlib.suppress(Exception):
            error = json.loads(reply.body_bytes()).get("error")
            if isinstance(error, Mapping):
                error = error.get("message")
            if isinstance(error, str) and error:
                message = error
        raise SdkError(message)

    # -- generation ------------------------------------------------------------------------------
    def predict(self, request: PredictRequest) -> Prediction:
        inst, spec = self._required("llm", request.specifier)
        config = request.config
        max_tokens = checked_number(config.get("llm.prediction.maxPredictedTokens"))
        stop = [s for s in config.get("llm.prediction.stopStrings") or () if isinstance(s, str)]
        structured = config.get("llm.prediction.structured")
        schema = None
        if isinstance(structured, Mapping) and structured.get("type") == "json":
            schema = structured.get("jsonSchema") if isinstance(structured.get("jsonSchema"), Mapping) else {}
        tool_choice: Any = "auto"
        choice = config.get("llm.prediction.toolChoice")
        if isinstance(choice, Mapping) and choice.get("type") == "mode":
            tool_choice = choice.get("mode") or "auto"
        body: dict[str, Any] = {"model": request.specifier.describe(), "stream": True}
        if request.raw_prompt is not None and not request.tools:
            body["prompt"] = request.raw_prompt
            body["messages"] = [{"role": "user", "content": request.raw_prompt}]
        else:
            body["messages"] = request.messages
        if request.tools:
            body["tools"] = request.tools
        if max_tokens is not None:
            body["max_tokens"] = int(max_tokens)
        if schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {"schema": schema}}
        path = "/llm/completeRawText" if "prompt" in body else "/llm/predict"
        script, record = self._script(path, body, inst.identifier, generation=True)
        self._touch(inst)
        limit = int(max_tokens) if max_tokens is not None else None
        if "prompt" in body:
            gen = engine.generate_completion(
                spec,
                request.raw_prompt or "",
                max_tokens=limit,
                stop=stop,
                scripted_text=script.text if script else None,
            )
        else:
            gen = engine.generate_chat(
                spec,
                request.messages,
                tools=request.tools or None,
                tool_choice=tool_choice,
                json_schema=schema,
                max_tokens=limit,
                stop=stop,
                scripted_text=script.text if script else None,
                scripted_tool_calls=script.tool_calls if script else None,
            )
        self.ctx.stats.add_tokens(gen.prompt_tokens, gen.completion_tokens)
        calls = []
        for call in gen.tool_calls:
            try:
                arguments = json.loads(call.arguments)
            except ValueError:
                arguments = {}
            calls.append(
                {
                    "type": "function",
                    "id": call.id,
                    "name": call.name,
                    "arguments": arguments if isinstance(arguments, dict) else {"value": arguments},
                }
            )
        prediction = Prediction(
            fragments=[Fragment(token) for token in gen.content_tokens],
            stop_reason=gen.stop_reason,
            prompt_tokens=gen.prompt_tokens,
            predicted_tokens=gen.completion_tokens,
            model_info=records.instance_info(spec, inst),
            load_config=kv({"llm.load.contextLength": inst.context_length}),
            tool_calls=calls,
        )
        if script is not None:
            self._shape(prediction, script.stream_faults)
        record.status = 200
        return prediction

    @staticmethod
    def _shape(prediction: Prediction, stream_faults: list[F.StreamFault]) -> None:
        for fault in stream_faults:
            params = fault.params
            if fault.kind == "slow":
                if params.get("ttft"):
                    prediction.first_token_seconds = float(params["ttft"])
                if params.get("tokens_per_second"):
                    prediction.token_seconds = 1.0 / float(params["tokens_per_second"])
            elif fault.kind == "stall":
                prediction.stall_after = (int(params["after"]), float(params["seconds"]))
            elif fault.kind == "stream_cut":
                prediction.cut_after = int(params["after"])
            elif fault.kind == "malformed_chunk":
                prediction.garbage_after = int(params["after"])
            elif fault.kind == "stream_error":
                prediction.error_after = (
                    int(params["after"]),
                    params.get("message") or F.STREAM_ERROR_MESSAGE,
                )

    def embed(self, specifier: Specifier, text: str) -> list[float]:
        inst, spec = self._required("embedding", specifier)
        self._script(
            "/embedding/embedString",
            {"model": inst.identifier, "input": text},
            inst.identifier,
            generation=False,
        )
        self._touch(inst)
        return engine.embed(text, spec.embedding_dimensions)

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

    # -- diagnostics -----------------------------------------------------------------------------
    def logs_since(self, cursor: int | None) -> tuple[list[dict[str, Any]], int]:
        with self._log_lock:
            if cursor is None:
                return [], self._log_seq
            return [event for seq, event in self._logs if seq > cursor], self._log_seq

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


def _token_id(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "big") % 150_000
