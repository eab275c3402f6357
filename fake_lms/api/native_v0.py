"""LM Studio's own endpoints: discovery probes and the native REST API v0 (spec §0, §2.1).

The v1 API (``/api/v1/*``) lives in :mod:`fake_lms.api.native_v1`.
"""

from __future__ import annotations

from typing import Any

from fake_lms.api import errors, openai
from fake_lms.api.types import ApiRequest, Reply
from fake_lms.core.context import Context
from fake_lms.model.catalog import ModelSpec
from fake_lms.model.home import Instance
from fake_lms.model.identity import PACKAGE


def greeting(ctx: Context, req: ApiRequest) -> Reply:
    return Reply(200, {"lmstudio": True})


def lms_status(ctx: Context, req: ApiRequest) -> Reply:
    return Reply(200, {"package": PACKAGE, "version": ctx.version})


def v0_model(spec: ModelSpec, instances: list[Instance]) -> dict[str, Any]:
    loaded = [i for i in instances if i.model_key == spec.key]
    out: dict[str, Any] = {
        "id": spec.key,
        "object": "model",
        "type": spec.v0_type,
        "publisher": spec.publisher,
        "arch": spec.architecture,
        "compatibility_type": spec.format,
        "quantization": spec.quantization,
        "state": "loaded" if loaded else "not-loaded",
        "max_context_length": spec.max_context_length,
    }
    if loaded:
        out["loaded_context_length"] = loaded[0].context_length
    # only "tool_use", omitted when empty: real builds never list "vision" (a VLM shows it as
    # type "vlm"; zed-industries/zed#32741; fidelity review row 19)
    if spec.trained_for_tool_use:
        out["capabilities"] = ["tool_use"]
    return out


def visible_specs(ctx: Context) -> tuple[list[ModelSpec], list[Instance]]:
    """The models a listing shows (every downloaded model with JIT on, only loaded ones with JIT
    off) and the live instances. Download jobs whose time is up are completed first."""
    ctx.downloads.settle()
    state = ctx.home.snapshot()
    instances = state.live_instances()
    if state.settings.jit:
        specs = [s for s in ctx.home.catalog if s.key in state.downloaded]
    else:
        loaded_keys = {i.model_key for i in instances}
        specs = [s for s in ctx.home.catalog if s.key in loaded_keys]
    return specs, instances


def v0_models(ctx: Context, req: ApiRequest) -> Reply:
    specs, instances = visible_specs(ctx)
    return Reply(200, {"data": [v0_model(s, instances) for s in specs], "object": "list"})


def v0_model_by_id(ctx: Context, req: ApiRequest, model_id: str) -> Reply:
    state = ctx.home.snapshot()
    instances = state.live_instances()
    spec = ctx.home.catalog.find(model_id)
    if spec is None:
        inst = next((i for i in instances if i.identifier == model_id), None)
        spec = ctx.home.catalog.get(inst.model_key) if inst else None
    visible = spec is not None and (
        spec.key in state.downloaded
        if state.settings.jit
        else any(i.model_key == spec.key for i in instances)
    )
    if spec is None or not visible:
        return errors.oai(
            404,
            f'Model "{model_id}" not found. Please specify a valid model.',
            param="model",
            code="model_not_found",
        )
    return Reply(200, v0_model(spec, instances))


def v0_chat(ctx: Context, req: ApiRequest) -> Reply:
    return openai.chat_completions(ctx, req, native=True)


def v0_completions(ctx: Context, req: ApiRequest) -> Reply:
    return openai.completions(ctx, req, native=True)


def v0_embeddings(ctx: Context, req: ApiRequest) -> Reply:
    return openai.embeddings(ctx, req, native=True)
