"""``lms load`` and ``lms unload`` (spec §4.3): act on the home's loaded instances directly, as real
lms does through LM Studio's internal API (the HTTP server may be stopped)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from fake_lms.cli.context import Ctx
from fake_lms.cli.models import fuzzy_filter
from fake_lms.cli.output import format_elapsed, format_size_1024
from fake_lms.cli.probe import CliExit
from fake_lms.files import write_json_atomic
from fake_lms.model.catalog import ModelSpec
from fake_lms.model.home import Home, Instance, LoadResult, StateError
from fake_lms.model.info import downloaded, loaded

SPINNER_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


# -- cli-pref.json: the last loaded models order `lms load` candidates ----------------------------


def _cli_pref_file(home: Home):
    return home.internal / "cli-pref.json"


def read_last_loaded(home: Home) -> list[str]:
    try:
        data = json.loads(_cli_pref_file(home).read_text(encoding="utf-8"))
        return [k for k in data.get("lastLoadedModels", []) if isinstance(k, str)]
    except (OSError, ValueError, AttributeError):
        return []


def remember_loaded(home: Home, key: str) -> None:
    path = _cli_pref_file(home)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            data = {}
    except (OSError, ValueError):
        data = {"autoLaunchMinimizedWarned": False}
    last = [k for k in data.get("lastLoadedModels", []) if k != key]
    data["lastLoadedModels"] = [key, *last][:20]
    write_json_atomic(path, data, indent=2)


# -- selection -----------------------------------------------------------------------------------


def _candidates(home: Home) -> list[ModelSpec]:
    """Downloaded models minus CLIP projectors, most recently loaded first (stable otherwise)."""
    models = [s for s in downloaded(home) if "clip" not in (s.architecture or "").lower()]
    order = {key: i for i, key in enumerate(read_last_loaded(home))}
    return sorted(models, key=lambda s: order.get(s.key, len(order) + 1))


def _select(ctx: Ctx, models: list[ModelSpec], key: str | None) -> ModelSpec:
    yellow = ctx.style.yellow
    if ctx.opts["exact"]:
        if key is None:
            ctx.logger.titled_error(
                "Path not provided",
                f"The parameter {ctx.style.cyan('[model-key]')} is required when using the "
                f"{yellow('--exact')} flag.",
            )
            raise CliExit(1)
        found = next((m for m in models if m.path == key), None)
        if found is None:
            body = (
                f'No model found with path being exactly "{yellow(key)}".\n\n'
                f"To disable exact matching, remove the {yellow('--exact')} flag.\n\n"
                f"To see a list of all downloaded models, run:\n\n    {yellow('lms ls')}"
            )
            if models:
                shortest = min((m.path for m in models), key=len)
                body += (
                    "\n\nNote, you need to provide the full model path. For example:\n\n"
                    f"  lms load --exact {shortest}"
                )
            ctx.logger.titled_error("Model not found", body)
            raise CliExit(1)
        return found

    matches = fuzzy_filter(key or "", [m.key for m in models])
    if not ctx.opts["yes"]:
        # Real lms prints a blank line, then opens an interactive picker when the key is missing,
        # unknown or ambiguous. The fake has no picker: it always resolves as with --yes.
        ctx.console.out()
    if not matches:
        ctx.logger.titled_error(
            "Model not found",
            f'No model found that matches model key "{yellow(key if key is not None else "undefined")}".\n\n'
            f"To see a list of all downloaded models, run:\n\n    {yellow('lms ls')}\n\n"
            f"To select a model interactively, remove the {yellow('--yes')} flag:\n\n    lms load",
        )
        raise CliExit(1)
    if len(matches) > 1:
        ctx.logger.warn(
            f"{len(matches)} models match the provided model key on the same device. Loading the first one."
        )
    return models[matches[0]]


# -- loading ---------------------------------------------------------------------------------------


def _load_config(opts: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if opts["gpu"] is not None:
        config["gpu"] = opts["gpu"]
    if opts["parallel"] is not None:
        config["parallel"] = opts["parallel"]
    for name in (
        "speculative_draft_mtp",
        "speculative_draft_simple",
        "speculative_draft_model",
        "speculative_draft_max_tokens",
        "speculative_draft_min_tokens",
        "speculative_draft_min_continue_probability",
    ):
        if opts.get(name) is not None:
            config[name] = opts[name]
    return config


def _estimate(ctx: Ctx, spec: ModelSpec) -> int:
    opts = ctx.opts
    context = opts["context_length"] or min(spec.default_context_length, spec.max_context_length)
    gpu = 1.0 if opts["gpu"] is None else float(opts["gpu"])
    total = int(spec.size_bytes * 1.05 + context * 131_072)
    info = ctx.logger.info
    info(f"Model: {spec.key}")
    if opts["context_length"] is not None:
        info(f"Context Length: {opts['context_length']:,}")
    if opts["gpu"] is not None:
        pct = opts["gpu"] * 100
        info(f"GPU Offload: {int(pct) if float(pct).is_integer() else pct}%")
    green = ctx.style.green
    info(f"Estimated GPU Memory:   {green(format_size_1024(int(total * gpu)))}")
    info(f"Estimated Total Memory: {green(format_size_1024(total))}")
    info("\nEstimate: " + green("This model may be loaded based on your resource guardrails settings."))
    return 0


def _run_with_spinner(ctx: Ctx, text: str, work):
    """Real lms draws ``Loading <key> N% ⠋`` on stdout with ``\\r``; the fake only on a terminal."""
    if not ctx.console.stdout_tty:
        return work()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    frame = 0
    write = ctx.console.write_out
    try:
        while thread.is_alive():
            write(f"\x1b[?25l\r{text} {SPINNER_FRAMES[frame % len(SPINNER_FRAMES)]}")
            frame += 1
            thread.join(0.08)
    finally:
        write("\r\x1b[K\x1b[?25h")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def load(ctx: Ctx) -> int:
    ctx.connect()
    home = ctx.home
    opts = ctx.opts
    spec = _select(ctx, _candidates(home), ctx.arg())
    if opts["estimate_only"]:
        return _estimate(ctx, spec)
    if not opts["exact"]:
        remember_loaded(home, spec.key)
    started = time.time()
    try:
        result: LoadResult = _run_with_spinner(
            ctx,
            f"Loading {spec.key}",
            lambda: home.load(
                spec.key,
                identifier=opts["identifier"],
                ttl_seconds=opts["ttl"],
                context_length=opts["context_length"],
                config=_load_config(opts),
            ),
        )
    except KeyboardInterrupt:
        ctx.logger.warn("Load cancelled.")
        raise CliExit(1) from None
    except StateError as exc:
        ctx.logger.error(str(exc))
        raise CliExit(1) from None
    elapsed_ms = int(time.time() * 1000) - int(started * 1000)  # Date.now() granularity
    inst = result.instance
    ctx.logger.info(
        f"Model loaded successfully in {format_elapsed(elapsed_ms)}.\n({format_size_1024(spec.size_bytes)})"
    )
    ctx.logger.info(
        f'To use the model in the API/SDK, use the identifier "{ctx.style.green(inst.identifier)}".'
    )
    return 0


# -- unloading -------------------------------------------------------------------------------------


def _unload_one(ctx: Ctx, inst: Instance) -> None:
    try:
        ctx.home.unload(inst.identifier)
    except StateError:
        pass  # unloaded meanwhile (TTL, another process): the result is the same


def unload(ctx: Ctx) -> int:
    ctx.connect()
    identifier = ctx.arg()
    everything = ctx.opts["all"]
    logger = ctx.logger
    style = ctx.style
    if everything and identifier is not None:
        logger.titled_error(
            "Invalid Usage",
            f"You cannot provide {style.cyan('[path]')} when the flag {style.yellow('--all')} is set.",
        )
        return 0  # real lms returns without an exit code here
    instances = [inst for inst, _spec in loaded(ctx.home)]
    if everything:
        if not instances:
            logger.info("No models to unload.")
            return 0
        for inst in instances:
            logger.info(f'Unloading "{inst.identifier}"...')
            _unload_one(ctx, inst)
        logger.info(f"Unloaded {len(instances)} models." if len(instances) > 1 else "Unloaded 1 model.")
        return 0
    if identifier is not None:
        matching = [inst for inst in instances if inst.identifier == identifier]
        if not matching:
            logger.titled_error(
                "Model Not Found",
                f'Cannot find a model with the identifier "{style.yellow(identifier)}".\n\n'
                f"To see a list of loaded models, run:\n\n    {style.yellow('lms ps')}",
            )
            return 0  # real lms exits 0 here (spec §4.3)
        _unload_one(ctx, matching[0])
        logger.info(f'Model "{identifier}" unloaded.')
        return 0
    if not instances:
        logger.info('You don\'t have any models loaded. Use "lms load" to load a model.')
        raise CliExit(1)
    if len(instances) == 1:
        _unload_one(ctx, instances[0])
        logger.info(f'Model "{instances[0].identifier}" unloaded.')
        return 0
    # Several loaded: real lms opens an interactive picker; without a terminal it cannot answer.
    ctx.console.out(style.dim("! To unload all models, use the --all flag."))
    ctx.console.out()
    if not ctx.console.stdin_tty:
        raise CliExit(1)
    return _pick_and_unload(ctx, instances)


def _pick_and_unload(ctx: Ctx, instances: list[Instance]) -> int:
    """A minimal stand-in for lms's search prompt: a numbered list on stderr, a number on stdin."""
    index = ctx.console.choose(
        ctx.style.green("Select a model to unload") + ctx.style.dim(" |"), [i.identifier for i in instances]
    )
    if index is None:
        raise CliExit(1)
    chosen = instances[index]
    _unload_one(ctx, chosen)
    ctx.logger.info(f'Model "{chosen.identifier}" unloaded.')
    return 0
