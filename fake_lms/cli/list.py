"""``lms ls`` and ``lms ps`` (spec §4.3): downloaded models and loaded instances, as tables or JSON."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from fake_lms.cli.context import Ctx
from fake_lms.cli.output import columnify, format_size_1000, format_time_lean, locale_key
from fake_lms.cli.probe import CliExit, get_json
from fake_lms.model.catalog import ModelSpec
from fake_lms.model.info import (
    architecture_name,
    downloaded,
    has_variants,
    instance_info,
    instance_parallel,
    loaded,
    model_info,
    ttl_remaining_ms,
    variant_infos,
)

LS_COLUMNS = ["path", "params", "arch", "sizeBytes", "device", "loaded"]
PS_COLUMNS = ["identifier", "path", "status", "sizeBytes", "contextLength", "parallel", "device", "ttlMs"]


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _loaded_check(ctx: Ctx, count: int) -> str:
    if count == 0:
        return ""
    return ctx.style.green("✓ LOADED" if count == 1 else f"✓ LOADED ({count})")


def _key_with_variant_count(ctx: Ctx, spec: ModelSpec) -> str:
    if not has_variants(spec):
        return spec.key
    return spec.key + ctx.style.dim(" (1 variant)")


def _row(ctx: Ctx, info: dict[str, Any], label: str, loaded_count: int) -> dict[str, str]:
    return {
        "path": label,
        "params": info.get("paramsString") or "",
        "arch": architecture_name(info.get("architecture")),
        "sizeBytes": format_size_1000(info["sizeBytes"]),
        "device": "Local",
        "loaded": _loaded_check(ctx, loaded_count),
    }


def _ls_headings(ctx: Ctx, title: str) -> dict[str, str]:
    dim = ctx.style.dim
    return {
        "path": dim(title),
        "params": dim("PARAMS"),
        "arch": dim("ARCH"),
        "sizeBytes": dim("SIZE"),
        "device": dim("DEVICE"),
        "loaded": "",
    }


def _print_table(
    ctx: Ctx, title: str, specs: list[ModelSpec], counts: dict[str, int], variants: bool
) -> None:
    rows: list[dict[str, str]] = []
    for spec in sorted(specs, key=lambda s: locale_key(s.key)):
        info = model_info(spec)
        if not variants or not has_variants(spec):
            rows.append(_row(ctx, info, _key_with_variant_count(ctx, spec), counts.get(spec.key, 0)))
            continue
        rows.append({"path": _key_with_variant_count(ctx, spec)})
        for variant in variant_infos(spec):
            selected = variant["modelKey"] == info.get("selectedVariant")
            label = ctx.style.dim(" * " if selected else "   ") + variant["modelKey"]
            rows.append(_row(ctx, variant, label, counts.get(variant["modelKey"], 0)))
    ctx.console.out(columnify(rows, LS_COLUMNS, _ls_headings(ctx, title)))


def ls(ctx: Ctx) -> int:
    ctx.connect()
    key = ctx.arg()
    opts = ctx.opts
    style = ctx.style
    if key is not None and opts["variants"]:
        ctx.logger.error(style.red("Cannot combine a model key argument with --variants."))
        raise CliExit(1)
    if opts["detailed"]:
        ctx.logger.warn(style.yellow("The '--detailed' flag is deprecated. Output is the same as 'lms ls'"))
    home = ctx.home
    counts: dict[str, int] = {}
    for _inst, spec in loaded(home):
        counts[spec.key] = counts.get(spec.key, 0) + 1

    if key is not None:
        found = home.catalog.find(key)
        specs = [found] if found is not None and home.is_downloaded(found.key) else []
        variants = [v for s in specs for v in variant_infos(s)]
        if opts["json"]:
            ctx.console.out(_json(variants))
            return 0
        title = "EMBEDDING" if specs and specs[0].type == "embedding" else "LLM"
        rows = [_row(ctx, v, v["modelKey"], counts.get(v["modelKey"], 0)) for v in variants]
        ctx.console.out()
        ctx.console.out(f"Listing variants for {key}:")
        ctx.console.out()
        ctx.console.out(columnify(rows, LS_COLUMNS, _ls_headings(ctx, title)))
        ctx.console.out()
        return 0

    everything = downloaded(home)
    wanted = set()
    if opts["llm"]:
        wanted.add("llm")
    if opts["embedding"]:
        wanted.add("embedding")
    models = [s for s in everything if s.type in wanted] if wanted else everything

    if opts["json"]:
        if opts["variants"]:
            groups = [
                {"model": model_info(s), "variants": variant_infos(s)} for s in models if has_variants(s)
            ]
            ctx.console.out(_json(groups))
        else:
            ctx.console.out(_json([model_info(s) for s in models]))
        return 0

    if not models:
        if not everything:
            ctx.console.out(style.red("You have not downloaded any models yet."))
        else:
            ctx.console.out(
                style.red(f"You have {len(everything)} models, but none of them match the filter.")
            )
        return 0
    total = sum(s.size_bytes for s in models)
    ctx.console.out()
    ctx.console.out(f"You have {len(models)} models, taking up {format_size_1000(total)} of disk space.")
    ctx.console.out()
    for title, kind in (("LLM", "llm"), ("EMBEDDING", "embedding")):
        specs = [s for s in models if s.type == kind]
        if specs:
            _print_table(ctx, title, specs, counts, opts["variants"])
            ctx.console.out()
    return 0


PROCESSING_PATH = "/__fake__/processing"


def processing_states(ctx: Ctx) -> dict[str, dict[str, Any]]:
    """What the home's fake server is doing with each instance (``{identifier: {status, queued}}``),
    as real lms asks LM Studio's ``getInstanceProcessingState``: requests run in the server, so
    only it knows. No server of this home answering: nothing runs, every instance is idle."""
    host, port = ctx.opts.get("host"), ctx.opts.get("port")
    if port is None:
        config = ctx.home.read_server_config()
        if not isinstance(config, dict) or not isinstance(config.get("port"), int):
            return {}
        host, port = host or config.get("networkInterface"), config["port"]
    answer = get_json(str(host or "127.0.0.1"), int(port), PROCESSING_PATH)
    if not isinstance(answer, dict) or not isinstance(answer.get("instances"), dict):
        return {}
    try:  # another home's server on a port this home's config still names: not ours
        if Path(str(answer.get("home"))).resolve() != ctx.home.path.resolve():
            return {}
    except OSError:
        return {}
    return {k: v for k, v in answer["instances"].items() if isinstance(v, dict)}


def _with_state(info: dict[str, Any], states: dict[str, dict[str, Any]]) -> dict[str, Any]:
    state = states.get(info["identifier"])
    if state is not None:
        info["status"] = str(state.get("status", "idle"))
        info["queued"] = int(state.get("queued", 0))
    return info


def ps(ctx: Ctx) -> int:
    ctx.connect()
    pairs = loaded(ctx.home)
    states = processing_states(ctx) if pairs else {}
    if ctx.opts["json"]:
        ctx.console.out(_json([_with_state(instance_info(spec, inst), states) for inst, spec in pairs]))
        return 0
    style = ctx.style
    if not pairs:
        ctx.logger.info(
            "No models are currently loaded.\n\nTo load a model, run:\n\n    "
            + style.cyan("lms load <model path>")
        )
        return 0
    now = time.time()
    rows = []
    for inst, spec in pairs:
        parallel = instance_parallel(spec, inst)
        remaining = ttl_remaining_ms(inst, now)
        ttl = ""
        if remaining is not None and inst.ttl_seconds is not None:
            total = format_time_lean(inst.ttl_seconds * 1000)
            ttl = f"{format_time_lean(remaining)} {style.dim('/ ' + total)}"
        rows.append(
            {
                "identifier": inst.identifier,
                "path": spec.key,
                "status": str(states.get(inst.identifier, {}).get("status", "idle")).upper(),
                "sizeBytes": format_size_1000(spec.size_bytes),
                "contextLength": str(inst.context_length),
                "parallel": "-" if parallel is None else str(parallel),
                "device": "Local",
                "ttlMs": ttl,
            }
        )
    rows.sort(key=lambda r: locale_key(r["identifier"]))
    dim = style.dim
    headings = {
        "identifier": dim("IDENTIFIER"),
        "path": dim("MODEL"),
        "status": dim("STATUS"),
        "sizeBytes": dim("SIZE"),
        "contextLength": dim("CONTEXT"),
        "parallel": dim("PARALLEL"),
        "device": dim("DEVICE"),
        "ttlMs": dim("TTL"),
    }
    ctx.console.out()
    ctx.console.out(columnify(rows, PS_COLUMNS, headings))
    ctx.console.out()
    return 0
