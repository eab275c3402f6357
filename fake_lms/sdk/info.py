"""LM Studio's model and instance records as the SDK websocket sends them (spec §5.1): the union
of the keys the Python SDK 1.5 and the JS SDK 2.0 require.

(The fake ``lms`` builds the same records for ``ls --json`` / ``ps --json`` in ``fake_lms.cli.models``;
the design puts one shared copy in ``fake_lms/model/info.py``.)
"""

from __future__ import annotations

import hashlib
from typing import Any

from fake_lms.model.catalog import ModelSpec
from fake_lms.model.home import Instance


def _has_variants(spec: ModelSpec) -> bool:
    return "/" in spec.key  # hub models (publisher/name) list variants; single files do not


def model_info(spec: ModelSpec) -> dict[str, Any]:
    info: dict[str, Any] = {
        "type": spec.type,
        "modelKey": spec.key,
        "format": spec.lms_format,
        "displayName": spec.display_name,
        "publisher": spec.publisher,
        "path": spec.path,
        "sizeBytes": spec.size_bytes,
        "indexedModelIdentifier": spec.path,
        "deviceIdentifier": None,
        "quantization": {"name": spec.quantization, "bits": spec.bits_per_weight},
        "maxContextLength": spec.max_context_length,
    }
    if spec.params_string is not None:
        info["paramsString"] = spec.params_string
    if spec.architecture is not None:
        info["architecture"] = spec.architecture
    if _has_variants(spec):
        info["variants"] = spec.variants
        info["selectedVariant"] = spec.variant_key
    if spec.type == "llm":
        info["vision"] = spec.vision
        info["trainedForToolUse"] = spec.trained_for_tool_use
    return info


def instance_reference(inst: Instance) -> str:
    """A stable reference for one load of an instance (a new load gets a new reference)."""
    digest = hashlib.sha256(f"{inst.identifier}\x1f{inst.loaded_at!r}".encode()).hexdigest()
    return digest[:24]


def instance_info(spec: ModelSpec, inst: Instance) -> dict[str, Any]:
    info = model_info(spec)
    info["identifier"] = inst.identifier
    info["instanceReference"] = instance_reference(inst)
    info["contextLength"] = inst.context_length
    info["ttlMs"] = round(inst.ttl_seconds * 1000) if inst.ttl_seconds is not None else None
    info["lastUsedTime"] = round(inst.last_used * 1000)
    return info
