"""``lms get`` (spec §4.3): resolve a name against the home's catalog, print the download plan,
then download. While the home's fake server runs, the download is a job of that server (``POST
/api/v1/models/download``, then its status polled), as real lms has LM Studio download: the test's
script can fail or pause it (``fault("download_failed")``), and lms reports that as
``Error: <message>`` with exit 1. Without a server, the fake simulates the download itself
(``home.settings.download_duration``) and marks the model downloaded.

Argument forms follow lms's ``get.ts``: ``owner/name`` (a Hub artifact, lower-cased), a bare search
term (staff picks: the catalog), ``name@quant``, ``https://huggingface.co/user/repo[/...]`` and
``https://lmstudio.ai/[models/]owner/name``. Every failure is ``Error: <message>`` with exit 1.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from fake_lms.cli.context import Ctx
from fake_lms.cli.models import fuzzy_filter
from fake_lms.cli.output import format_remaining, format_size_1000, js_round, to_fixed
from fake_lms.cli.probe import DEFAULT_SERVER_PORT, CliExit
from fake_lms.model.catalog import ModelSpec
from fake_lms.model.info import has_variants, variant_size

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
RESOLVING_FRAME = 5  # the frame of a real capture (lmstudio-bug-tracker#1103): "⠴ ... - Resolving..."
PARTIAL_BLOCKS = "▏▎▍▌▋▊▉█"
BAR_BLOCKS = 22
NON_TTY_UPDATES = 10
POLL_SECONDS = 0.05
PAUSED = "The download was paused in LM Studio. Resume it there, or run lms get again to restart it."


class GetError(Exception):
    """Printed as ``Error: <message>``, exit 1 (lms's catch-all in the get action)."""


@dataclass
class Request:
    kind: str  # "artifact" (Hub owner/name) or "model" (Hugging Face repository)
    label: str  # what the plan shows while resolving: owner/name or user/repo
    target: str  # what the hints tell you to `lms load` / `lms get`
    spec: ModelSpec | None


# -- argument forms ------------------------------------------------------------------------------


def split_name(name: str | None) -> tuple[str | None, str | None]:
    """``splitModelNameAndQuantization``."""
    if name is None or not name.strip():
        return (name.strip() if name is not None else None), None
    parts = name.strip().split("@")
    if len(parts) >= 3:
        raise GetError("You cannot have more than 2 @'s in the model name argument.")
    quant = parts[1].strip() if len(parts) == 2 else None
    return parts[0].strip(), quant or None


_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _url(name: str):
    if not _SCHEME.match(name):
        return None
    try:
        parts = urlsplit(name)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    return parts.scheme.lower(), host, [seg for seg in parts.path.split("/") if seg]


def parse_huggingface_url(name: str) -> tuple[str, str] | None:
    url = _url(name)
    if url is None or url[1] != "huggingface.co":
        return None
    scheme, _host, segments = url
    if scheme != "https":
        raise GetError("Only https://huggingface.co URLs are supported.")
    if len(segments) < 2:
        raise GetError("Invalid Hugging Face model URL. Expected https://huggingface.co/owner/repo[/*].")
    return segments[0], segments[1]


def parse_lmstudio_url(name: str) -> tuple[str, str] | None:
    url = _url(name)
    if url is None or url[1] not in ("lmstudio.ai", "www.lmstudio.ai"):
        return None
    scheme, _host, segments = url
    if scheme != "https":
        raise GetError("Only https://lmstudio.ai URLs are supported.")
    if len(segments) == 2 and segments[0] != "models":
        owner, name = segments
    elif len(segments) == 3 and segments[0] == "models":
        owner, name = segments[1], segments[2]
    else:
        raise GetError(
            "Invalid LM Studio artifact URL. Expected https://lmstudio.ai/models/owner/name or "
            "https://lmstudio.ai/owner/name."
        )
    return owner.lower(), name.lower()


def _target(spec: ModelSpec) -> str:
    return spec.key


def _find_hf(ctx: Ctx, user: str, repo: str) -> ModelSpec | None:
    wanted = f"{user}/{repo}".lower()
    for spec in ctx.home.catalog:
        if spec.relative_dir.lower() == wanted or spec.key.lower() in (wanted, repo.lower()):
            return spec
    return None


def resolve(ctx: Ctx, name: str | None, yes: bool, formats: list[str] | None) -> Request:
    catalog = ctx.home.catalog
    if name:
        hf = parse_huggingface_url(name)
        if hf is not None:
            spec = _find_hf(ctx, *hf)
            return Request("model", f"{hf[0]}/{hf[1]}", spec.key if spec else name, spec)
        artifact = parse_lmstudio_url(name)
        if artifact is None:
            segments = name.split("/")
            if len(segments) == 2 and all(segments):
                artifact = (segments[0].lower(), segments[1].lower())
        if artifact is not None:
            label = f"{artifact[0]}/{artifact[1]}"
            spec = catalog.get(label) or catalog.find(label)
            return Request("artifact", label, label, spec)
    return _staff_pick(ctx, name, yes, formats)


def _staff_pick(ctx: Ctx, term: str | None, yes: bool, formats: list[str] | None) -> Request:
    """``resolveStaffPickDownloadRequest``: the catalog plays LM Studio's staff picks."""
    if term:
        ctx.logger.info("Searching staff picks with the term", ctx.style.yellow(term))
    picks = [s for s in ctx.home.catalog if formats is None or s.lms_format in formats]
    order = fuzzy_filter(term or "", [s.key for s in picks])
    if not order:
        raise GetError("No staff picks found with the specified search criteria.")
    results = [picks[i] for i in order]
    low = (term or "").lower()
    exact = next((s for s in results if low and low in (s.key.lower(), s.key.split("/")[-1].lower())), None)
    if exact is not None:
        chosen = exact
    elif yes or not ctx.console.stdin_tty:
        ctx.logger.info("Multiple staff picks found. Automatically selecting the first one due to --yes.")
        chosen = results[0]
    else:
        ctx.logger.info("No exact match found. Please choose a model from the list below.")
        ctx.logger.info_without_prefix()
        index = ctx.console.choose("Select a model to download", [s.key for s in results])
        if index is None:
            raise CliExit(1)
        chosen = results[index]
    return Request("artifact", chosen.key, _target(chosen), chosen)


# -- the plan --------------------------------------------------------------------------------------


class PlanPrinter:
    """Writes plan screens to stdout: in place on a terminal, as plain lines otherwise."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.tty = ctx.console.stdout_tty
        self.printed = 0

    def show(self, lines: list[str]) -> None:
        write = self.ctx.console.write_out
        if not self.tty:
            write("".join(line + "\n" for line in lines))
            return
        out = "\x1b[?25l"
        if self.printed:
            out += f"\x1b[{self.printed}A"
        out += "".join("\r" + line + "\x1b[0K\n" for line in lines)
        write(out + "\x1b[?25h")
        self.printed = max(self.printed, len(lines))


def _model_text(spec: ModelSpec, quant: str) -> str:
    suffix = "[MLX]" if spec.lms_format == "safetensors" else "[GGUF]"
    return f"{spec.display_name} {quant} {suffix}"


def resolving_lines(ctx: Ctx, request: Request) -> list[str]:
    frame = SPINNER[RESOLVING_FRAME]
    dim = ctx.style.dim
    if request.kind == "artifact":
        node = f"{frame} {request.label} {dim('- Resolving...')}"
    else:
        node = f"{frame} {dim('Finding options based on your system... (0/1)')}"
    footer = dim(SPINNER[(RESOLVING_FRAME + 5) % len(SPINNER)] + " Resolving download plan...")
    return ["", "   " + node, "", footer]


def _size_colour(ctx: Ctx, size: int) -> str:
    text = format_size_1000(size)
    style = ctx.style
    if size < 128e6:
        return style.dim(text)
    if size < 1e9:
        return style.green(text)
    if size < 24e9:
        return style.yellow(text)
    return style.red(text)


def final_lines(ctx: Ctx, spec: ModelSpec, quant: str, size: int, satisfied: bool, yes: bool) -> list[str]:
    style = ctx.style
    if satisfied:
        node = f"{style.green('✓ Satisfied')} {_model_text(spec, quant)}"
        return ["", "   " + node, ""]
    node = f"{style.yellow('↓ To download:')} {_model_text(spec, quant)} - {_size_colour(ctx, size)}"
    footer = (
        f"Resolution completed. Downloading {format_size_1000(size)}..."
        if yes
        else f"About to download {format_size_1000(size)}."
    )
    return ["", "   " + node, "", style.yellow(footer)]


# -- the download --------------------------------------------------------------------------------


def draw_bar(ratio: float, total: int = BAR_BLOCKS) -> str:
    if ratio >= 1:
        return "█" * total
    completed = math.floor(ratio * total)
    per_block = 1 / total
    partial = math.floor(((ratio % per_block) / per_block) * 8)
    return "█" * completed + PARTIAL_BLOCKS[partial] + " " * (total - completed - 1)


class ProgressText:
    """lms's ``createDownloadPbUpdater``: each field padded to the longest seen so far (≥ 6)."""

    def __init__(self) -> None:
        self.widths = [6, 6, 6]

    def __call__(self, done: float, total: float, speed: float) -> str:
        fields = [format_size_1000(done), format_size_1000(total), format_size_1000(speed)]
        self.widths = [max(w, len(f)) for w, f in zip(self.widths, fields)]
        a, b, c = (f.rjust(w) for f, w in zip(fields, self.widths))
        eta = format_remaining(js_round((total - done) / speed) if speed > 0 else 0)
        return f"{a} / {b} | {c}/s | ETA {eta}"


def progress_line(frame: int, ratio: float, text: str) -> str:
    ratio = max(0.0, min(1.0, ratio))
    return f"{SPINNER[frame % len(SPINNER)]} [{draw_bar(ratio)}] {to_fixed(ratio * 100, 2)}% | {text}"


def draw_progress(ctx: Ctx, size: int, speed: float, poll: Callable[[], tuple[float, bool]]) -> bool:
    """Draw the progress bar (stdout) from ``poll()``: the fraction done and whether the download
    still runs. ``True`` once it reaches 1; ``False`` if it stopped first (drawn up to where it
    stopped)."""
    write = ctx.console.write_out
    text = ProgressText()
    if not ctx.console.stdout_tty:
        for step in range(1, NON_TTY_UPDATES + 1):
            ratio = step / NON_TTY_UPDATES
            while True:
                done, running = poll()
                if done >= ratio:
                    break
                if not running:
                    return False
                time.sleep(POLL_SECONDS)
            write(progress_line(step - 1, ratio, text(size * ratio, size, speed)) + "\n")
        return True
    frame = 0
    last_clear = 0.0
    try:
        while True:
            done, running = poll()
            ratio = min(1.0, done)
            out = "\x1b[?25l\x1b[s"
            if last_clear + 3 < time.monotonic():
                out += "\x1b[2K"
                last_clear = time.monotonic()
            line = progress_line(frame, ratio, text(size * ratio, size, speed))
            write(out + "\r" + line + "          \x1b[u")
            if ratio >= 1:
                return True
            if not running:
                return False
            frame += 1
            time.sleep(POLL_SECONDS)
    finally:
        write("\x1b[2K\x1b[1G\x1b[?25h")


def simulate_download(ctx: Ctx, size: int, duration: float) -> None:
    """Draw the progress bar (stdout) for ``duration`` seconds."""
    speed = size / duration if duration > 0 else float(size)
    started = time.monotonic()

    def elapsed() -> tuple[float, bool]:
        return (1.0 if duration <= 0 else (time.monotonic() - started) / duration), True

    draw_progress(ctx, size, speed, elapsed)


def server_download(ctx: Ctx, address: tuple[str, int], spec: ModelSpec, size: int, duration: float) -> None:
    """Download as a job of the fake server, drawing its progress; :class:`GetError` if the job
    fails or pauses."""
    from fake_lms.cli import rest

    try:
        job = rest.call(address, "POST", "/api/v1/models/download", {"model": spec.key})
    except (rest.RestError, OSError, ValueError) as exc:
        raise GetError(str(exc)) from None
    if job.get("status") == "already_downloaded":
        return
    state = {"job": job}

    def poll() -> tuple[float, bool]:
        current = state["job"]
        if current.get("status") == "downloading":
            try:
                current = rest.call(address, "GET", f"/api/v1/models/download/status/{job['job_id']}")
            except (rest.RestError, OSError, ValueError) as exc:
                current = {"status": "failed", "error": str(exc)}
            state["job"] = current
        status = current.get("status")
        if status == "completed":
            return 1.0, True
        total = current.get("total_size_bytes") or 1
        return min(0.9999, current.get("downloaded_bytes", 0) / total), status == "downloading"

    speed = size / duration if duration > 0 else float(size)
    if draw_progress(ctx, size, speed, poll):
        return
    final = state["job"]
    if final.get("status") == "paused":
        raise GetError(PAUSED)
    raise GetError(str(final.get("error") or "The download failed."))


# -- the command ---------------------------------------------------------------------------------


def _formats(opts: dict) -> list[str] | None:
    if not opts["mlx"] and not opts["gguf"]:
        return None
    return (["safetensors"] if opts["mlx"] else []) + (["gguf"] if opts["gguf"] else [])


def _quote(arg: str) -> str:
    return f'"{arg}"' if " " in arg or '"' in arg else arg


def _server_address(ctx: Ctx) -> tuple[str, int] | None:
    """The fake server that downloads for this home: the one ``--host/--port`` named (already
    checked), else the home's own; ``None``: no server, the fake downloads by itself. Real lms is
    a privileged client that API tokens do not concern, so a server that requires a token is used
    only when ``LM_API_TOKEN`` gives one."""
    if ctx.home.settings.require_auth and not os.environ.get("LM_API_TOKEN"):
        return None
    host, port = ctx.opts.get("host"), ctx.opts.get("port")
    if port is not None or (host is not None and host != "127.0.0.1"):
        return host or "127.0.0.1", port if port is not None else DEFAULT_SERVER_PORT
    from fake_lms.cli.daemon import home_server

    return home_server(ctx.home)


def get(ctx: Ctx) -> int:
    opts = ctx.opts
    yes = bool(opts["yes"])
    try:
        if opts["select"] and yes:
            raise GetError("The --select flag cannot be used with --yes.")
        if opts["select"] and not ctx.console.stdin_tty:
            raise GetError("The --select flag requires an interactive terminal.")
        name, quant = split_name(ctx.arg())
        formats = _formats(opts)
        ctx.connect()
        request = resolve(ctx, name, yes, formats)
        return _download(ctx, request, quant, yes, formats)
    except GetError as exc:
        ctx.logger.error(str(exc))
        raise CliExit(1) from None


def _download(ctx: Ctx, request: Request, quant: str | None, yes: bool, formats: list[str] | None) -> int:
    printer = PlanPrinter(ctx)
    printer.show(resolving_lines(ctx, request))
    spec = request.spec
    if spec is None:
        if request.kind == "artifact":
            raise GetError(
                f'Failed to resolve artifact "{request.label}": The artifact does not exist or you do not '
                "have permission to read it"
            )
        raise GetError(
            f'Failed to resolve model "{request.label}": The repository does not exist or has no model '
            "files LM Studio can download"
        )
    if formats is not None and spec.lms_format not in formats:
        wanted = " or ".join("MLX" if f == "safetensors" else "GGUF" for f in formats)
        raise GetError(f'No download options found for "{request.label}" in the requested format ({wanted}).')
    selected = spec.quantization
    if quant is not None and f"{spec.key}@{quant.lower()}" in spec.variants:
        selected = spec.quantization if quant.lower() == spec.quantization.lower() else quant.upper()
    size = variant_size(spec, selected)
    home = ctx.home
    satisfied = home.is_downloaded(spec.key)
    printer.show(final_lines(ctx, spec, selected, size, satisfied, yes))
    if quant is not None and selected.lower() != quant.lower():
        raise GetError(f"Cannot find variant {quant}.")
    yellow = ctx.style.yellow_bright
    if satisfied:
        target = request.target if request.kind == "artifact" else spec.key
        ctx.logger.info_without_prefix(
            f"Model already downloaded. To use, run: {yellow('lms load ' + _quote(target))}"
        )
        if has_variants(spec) and len(spec.variants) > 1 and not ctx.opts["select"]:
            hint = yellow(f"lms get {_quote(request.target)} --select")
            ctx.logger.info_without_prefix(f"If you wish to download a variant, run: {hint}")
        return 0
    if not yes and ctx.console.stdin_tty:
        ctx.console.out()
        answer = ctx.console.ask("? Start download? (Y/n) ")
        if answer is None or answer.strip().lower() not in ("", "y", "yes"):
            raise CliExit(1)
    address = _server_address(ctx)
    duration = home.settings.download_duration(spec)
    try:
        if address is not None:
            server_download(ctx, address, spec, size, duration)
        else:
            simulate_download(ctx, size, duration)
    except KeyboardInterrupt:
        ctx.console.err()
        ctx.logger.warn("Download canceled.")
        raise CliExit(1) from None
    ctx.logger.info("Finalizing download...")
    if address is None:
        home.mark_downloaded(spec.key)
    ctx.logger.info("Download completed.")
    return 0
