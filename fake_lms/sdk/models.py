"""The endpoints the ``llm`` and ``embedding`` namespaces share (spec §6.2): listing, info, load
configs, JIT ``getOrLoad``, ``loadModel`` with progress, unload and tokenization."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fake_lms.sdk.backend import Domain, LoadRequest, PendingLoad
from fake_lms.sdk.protocol import Wait, bad_parameter, kv, no_model_matching_query, stack_fields
from fake_lms.sdk.registry import Channel, ChannelHandler, RpcCall, RpcHandler, specifier, string

LOAD_PROGRESS_STEPS = 4  # progress messages sent during a simulated load that takes time


def _ttl_seconds(endpoint: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 1:
        raise bad_parameter(endpoint, "the TTL must be a positive number of milliseconds")
    return float(value) / 1000.0


def _context_length(domain: Domain, config: dict[str, Any]) -> int | None:
    value = config.get(f"{domain}.load.contextLength")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value


def _progress(channel: Channel, pending: PendingLoad, kind: str) -> Iterator[Any]:
    """Progress over the simulated load time; stops early (and says so) when the client cancels."""
    steps = LOAD_PROGRESS_STEPS if pending.seconds > 0 else 0
    for step in range(1, steps + 1):
        if channel.cancelled:
            return
        yield Wait(pending.seconds / steps)
        if channel.cancelled:
            return
        yield {"type": kind, "progress": step / steps}


def rpcs(domain: Domain) -> dict[str, RpcHandler]:
    def list_loaded(call: RpcCall) -> Any:
        return call.backend.list_loaded(domain)

    def get_model_info(call: RpcCall) -> Any:
        param = call.param()
        spec = specifier(call.endpoint, param.get("specifier"))
        found = call.backend.find_loaded(domain, spec)
        if found is None and param.get("throwIfNotFound"):
            loaded = [m["identifier"] for m in call.backend.list_loaded(domain)]
            query = spec.query if spec.instance_reference is None else {"identifier": spec.instance_reference}
            raise no_model_matching_query(query, loaded)
        return found

    def _loaded(call: RpcCall) -> tuple[Any, dict[str, Any]]:
        param = call.param()
        spec = specifier(call.endpoint, param.get("specifier"))
        found = call.backend.find_loaded(domain, spec)
        if found is None:
            loaded = [m["identifier"] for m in call.backend.list_loaded(domain)]
            query = spec.query if spec.instance_reference is None else {"identifier": spec.instance_reference}
            raise no_model_matching_query(query, loaded)
        return spec, found

    def get_load_config(call: RpcCall) -> Any:
        spec, _ = _loaded(call)
        return call.backend.load_config(domain, spec)

    def get_base_prediction_config(call: RpcCall) -> Any:
        _loaded(call)
        return kv({})

    def get_processing_state(call: RpcCall) -> Any:
        param = call.param()
        spec = specifier(call.endpoint, param.get("specifier"))
        state = call.backend.processing_state(domain, spec)
        if state is None and param.get("throwIfNotFound", True):
            _loaded(call)
        return state

    def unload(call: RpcCall) -> Any:
        identifier = string(call.endpoint, call.param(), "identifier")
        assert identifier is not None
        call.backend.unload(domain, identifier)
        return None

    def count_tokens(call: RpcCall) -> Any:
        param = call.param()
        spec = specifier(call.endpoint, param.get("specifier"))
        text = string(call.endpoint, param, "inputString")
        assert text is not None
        return {"tokenCount": call.backend.count_tokens(domain, spec, text)}

    def tokenize(call: RpcCall) -> Any:
        param = call.param()
        spec = specifier(call.endpoint, param.get("specifier"))
        text = string(call.endpoint, param, "inputString")
        assert text is not None
        return {"tokens": call.backend.tokenize(domain, spec, text)}

    return {
        "listLoaded": list_loaded,
        "getModelInfo": get_model_info,
        "getLoadConfig": get_load_config,
        "getBasePredictionConfig": get_base_prediction_config,
        "getInstanceProcessingState": get_processing_state,
        "unloadModel": unload,
        "countTokens": count_tokens,
        "tokenize": tokenize,
    }


def channels(domain: Domain) -> dict[str, ChannelHandler]:
    def get_or_load(channel: Channel) -> Iterator[Any]:
        param = channel.param()
        identifier = string(channel.endpoint, param, "identifier")
        assert identifier is not None
        ttl = _ttl_seconds(channel.endpoint, param.get("loadTtlMs"))
        config = stack_fields(param.get("loadConfigStack"))
        found = channel.backend.get_or_load(domain, identifier, ttl, config)
        if not isinstance(found, PendingLoad):
            yield {"type": "alreadyLoaded", "info": found}
            return
        yield {"type": "startLoading", "identifier": identifier, "info": found.model_info}
        yield from _progress(channel, found, "loadProgress")
        if channel.cancelled:
            return  # the load is abandoned: nothing was loaded
        instance, evicted = channel.backend.finish_load(found)
        for info in evicted:
            yield {"type": "unloadingOtherJITModel", "info": info}
        yield {"type": "loadSuccess", "info": instance}

    def load_model(channel: Channel) -> Iterator[Any]:
        param = channel.param()
        key = string(channel.endpoint, param, "modelKey")
        assert key is not None
        identifier = string(channel.endpoint, param, "identifier", required=False)
        ttl = _ttl_seconds(channel.endpoint, param.get("ttlMs"))
        config = stack_fields(param.get("loadConfigStack"))
        request = LoadRequest(domain, key, identifier, ttl, _context_length(domain, config), config)
        pending = channel.backend.plan_load(request)
        yield {"type": "resolved", "info": pending.model_info}
        yield from _progress(channel, pending, "progress")
        if channel.cancelled:
            return
        instance, _ = channel.backend.finish_load(pending)
        yield {"type": "success", "info": instance}

    return {"getOrLoad": get_or_load, "loadModel": load_model}
