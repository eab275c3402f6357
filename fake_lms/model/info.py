"""LM Studio's model and instance records, knowing no request or wire format: ``ModelInfo`` (what
``lms ls --json`` prints and the SDK's ``listDownloadedModels`` returns), instance info (``lms ps
--json``, the SDK's ``listLoaded``), variant sizes and architecture names (spec §4.3, §5)."""

from __future__ import annotations

import re
import time
from typing import Any

from fake_lms.model.catalog import ModelSpec
from fake_lms.model.home import Home, Instance

DEFAULT_PARALLEL = 4  # LM Studio's default "Max Concurrent Predictions" (UNCONFIRMED)

# lms's architectureStylizations.ts (keys lower-cased)
ARCHITECTURE_NAMES = {
    "phi2": "Phi-2",
    "phi-2": "Phi-2",
    "phi3": "Phi-3",
    "phi-3": "Phi-3",
    "mistral": "Mistral",
    "llama": "Llama",
    "gptneox": "GPT-NeoX",
    "gpt-neo-x": "GPT-NeoX",
    "gpt_neo_x": "GPT-NeoX",
    "mpt": "MPT",
    "replit": "Replit",
    "starcoder": "StarCoder",
    "falcon": "Falcon",
    "qwen": "Qwen",
    "qwen2": "Qwen2",
    "stablelm": "StableLM",
    "mamba": "mamba",
    "command-r": "Command R",
    "gemma": "Gemma",
    "gemma2": "Gemma 2",
    "deepseek2": "DeepSeek 2",
    "bert": "BERT",
    "nomic-bert": "Nomic BERT",
    "clip": "CLIP",
}


def architecture_name(arch: str | None) -> str:
    if arch is None:
        return ""
    return ARCHITECTURE_NAMES.get(arch.lower(), arch)


def has_variants(spec: ModelSpec) -> bool:
    """LM Studio Hub models (``publisher/name`` keys) list variants; single files from Hugging Face
    (keys without a publisher) do not."""
    return "/" in spec.key


def quant_bits(quant: str, default: int) -> int:
    match = re.search(r"(\d+)", quant)
    return int(match.group(1)) if match else default


def variant_size(spec: ModelSpec, quant: str) -> int:
    """Approximate size of another quantization of ``spec`` (scaled by bits per weight)."""
    if quant.lower() == spec.quantization.lower():
        return spec.size_bytes
    return int(spec.size_bytes * quant_bits(quant, spec.bits_per_weight) / max(1, spec.bits_per_weight))


def _base(spec: ModelSpec, model_key: str, path: str, size: int) -> dict[str, Any]:
    info: dict[str, Any] = {
        "type": spec.type,
        "modelKey": model_key,
        "format": spec.lms_format,
        "displayName": spec.display_name,
        "publisher": spec.publisher,
        "path": path,
        "sizeBytes": size,
        "indexedModelIdentifier": path,
        "deviceIdentifier": None,
    }
    if spec.params_string is not None:
        info["paramsString"] = spec.params_string
    if spec.architecture is not None:
        info["architecture"] = spec.architecture
    return info


def _type_fields(spec: ModelSpec, info: dict[str, Any]) -> None:
    if spec.type == "llm":
        info["vision"] = spec.vision
        info["trainedForToolUse"] = spec.trained_for_tool_use
    info["maxContextLength"] = spec.max_context_length


def model_info(spec: ModelSpec) -> dict[str, Any]:
    """``ModelInfo`` as ``lms ls --json`` prints it, fields in LM Studio's order."""
    info = _base(spec, spec.key, spec.path, spec.size_bytes)
    info["quantization"] = {"name": spec.quantization, "bits": spec.bits_per_weight}
    if has_variants(spec):
        info["variants"] = [spec.variant_key]
        info["selectedVariant"] = spec.variant_key
    _type_fields(spec, info)
    return info


def variant_infos(spec: ModelSpec) -> list[dict[str, Any]]:
    """``listDownloadedModelVariants``: one record per downloaded variant (the fake downloads one)."""
    if not has_variants(spec):
        return [model_info(spec)]
    path = f"{spec.relative_dir}/{spec.file_name}"
    info = _base(spec, spec.variant_key, path, spec.size_bytes)
    info["quantization"] = {"name": spec.quantization, "bits": spec.bits_per_weight}
    _type_fields(spec, info)
    return [info]


def instance_info(spec: ModelSpec, inst: Instance) -> dict[str, Any]:
    """A loaded instance as ``lms ps --json`` prints it (``instanceReference`` stripped)."""
    info = _base(spec, spec.key, spec.path, spec.size_bytes)
    info["quantization"] = {"name": spec.quantization, "bits": spec.bits_per_weight}
    if has_variants(spec):
        info["variants"] = [spec.variant_key]
        info["selectedVariant"] = spec.variant_key
    info["identifier"] = inst.identifier
    info["ttlMs"] = round(inst.ttl_seconds * 1000) if inst.ttl_seconds is not None else None
    info["lastUsedTime"] = round(inst.last_used * 1000)
    _type_fields(spec, info)
    info["contextLength"] = inst.context_length
    info["status"] = "idle"
    info["queued"] = 0
    info["parallel"] = instance_parallel(spec, inst)
    return info


def instance_parallel(spec: ModelSpec, inst: Instance) -> int | None:
    if spec.type == "embedding":
        return None
    value = inst.config.get("parallel")
    return int(value) if value else DEFAULT_PARALLEL


def ttl_remaining_ms(inst: Instance, now: float | None = None) -> float | None:
    if inst.ttl_seconds is None:
        return None
    now = time.time() if now is None else now
    return inst.ttl_seconds * 1000 - (now - inst.last_used) * 1000


def downloaded(home: Home) -> list[ModelSpec]:
    """``system.listDownloadedModels`` (catalog order)."""
    return home.downloaded_specs()


def loaded(home: Home) -> list[tuple[Instance, ModelSpec]]:
    """Loaded instances, LLMs first then embedding models (``llm.listLoaded`` + ``embedding...``)."""
    catalog = home.catalog
    pairs = []
    for inst in home.instances():
        spec = catalog.get(inst.model_key)
        if spec is not None:
            pairs.append((inst, spec))
    return [p for p in pairs if p[1].type == "llm"] + [p for p in pairs if p[1].type != "llm"]
