"""``lms chat [model] -p "…"`` (lms ``src/subcommands/chat/index.tsx``, ``getLLM.ts``, ``util.ts``):
the one-shot, non-interactive chat that scripts use.

Flow, as in real lms:

- the prompt is ``-p``; when stdin is not a terminal it is read to the end and trimmed, and then it
  is the prompt, or is appended to ``-p``'s text after a blank line;
- the model: the named one (loaded with ``--ttl``, default 3600 s, if it is not loaded yet), or
  else any loaded LLM; if there is none, ``Error: No loaded model found, load with:`` /
  ``Error: Model "x" not found, load with:`` and exit 1;
- the answer is streamed to stdout (reasoning between ``<think>`` tags), followed by a newline if
  it does not end with one; ``--stats`` prints ``Prediction Stats:`` to stderr; exit 0.

Real lms predicts through the SDK's WebSocket API. The fake asks the running fake server's native
``POST /api/v1/chat`` (streamed, ``store: false``), so scripted replies and faults (``fake.reply``,
``fake.fail``) answer ``lms chat`` as they answer any chat request. With no fake server for the home,
it exits 1 with the two errors real lms prints when it can neither find nor start LM Studio.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from fake_lms.cli.context import Ctx
from fake_lms.cli.daemon import NO_API_SERVER, NO_INSTALLATION, home_server
from fake_lms.cli.output import to_fixed
from fake_lms.cli.probe import DEFAULT_SERVER_PORT, CliExit
from fake_lms.model.home import Home, ModelNotDownloaded, ModelNotInCatalog
from fake_lms.model.info import loaded

DEFAULT_SYSTEM_PROMPT = (
    "You are an AI assistant running in the user's terminal. Provide helpful and concise responses."
)
REASONING_MODES = ("auto", "on", "off")


def _server_address(ctx: Ctx) -> tuple[str, int]:
    """Where the fake server answers: ``--host/--port`` (checked like real lms), else the home's."""
    host, port = ctx.opts.get("host"), ctx.opts.get("port")
    if host is not None or port is not None:
        ctx.connect()
        return host or "127.0.0.1", port if port is not None else DEFAULT_SERVER_PORT
    address = home_server(ctx.home)
    if address is not None:
        return address
    ctx.logger.error(NO_INSTALLATION)
    ctx.logger.error(NO_API_SERVER)
    raise CliExit(1)


def _read_prompt(ctx: Ctx) -> str:
    prompt = ctx.opts.get("prompt") or ""
    if ctx.console.stdin_tty:
        return prompt
    piped = sys.stdin.buffer.read().decode("utf-8", "replace").strip()
    return f"{prompt}\n\n{piped}" if prompt else piped


def _model(ctx: Ctx, name: str | None, ttl: int) -> str | None:
    """The identifier to chat with, as ``client.llm.model(name, {ttl})`` finds or loads it."""
    home: Home = ctx.home
    pairs = [(inst, spec) for inst, spec in loaded(home) if spec.type == "llm"]
    if not name:
        return pairs[0][0].identifier if pairs else None
    for inst, _spec in pairs:
        if inst.identifier == name:
            return inst.identifier
    spec = home.catalog.find(name)
    if spec is None or spec.type != "llm":
        return None
    try:
        return home.load(spec.key, ttl_seconds=ttl, reuse=True).instance.identifier
    except (ModelNotInCatalog, ModelNotDownloaded):
        return None


def _reasoning(ctx: Ctx, identifier: str, mode: str) -> str | None:
    """``--reasoning on|off`` as the v1 setting, where the model offers it (``auto`` sends nothing)."""
    if mode == "auto":
        return None
    inst = next((i for i, _ in loaded(ctx.home) if i.identifier == identifier), None)
    spec = ctx.home.catalog.get(inst.model_key) if inst is not None else None
    return mode if spec is not None and mode in spec.reasoning else None


def _stats_text(stats: dict[str, Any]) -> str:
    """``displayVerboseStats``, from the v1 ``stats`` block."""
    prompt_tokens = int(stats.get("input_tokens", 0))
    predicted = int(stats.get("total_output_tokens", 0))
    lines = ["", "", "Prediction Stats:", "  Stop Reason: eosFound"]
    if "tokens_per_second" in stats:
        lines.append(f"  Tokens/Second: {to_fixed(float(stats['tokens_per_second']), 2)}")
    if "time_to_first_token_seconds" in stats:
        lines.append(f"  Time to First Token: {to_fixed(float(stats['time_to_first_token_seconds']), 3)}s")
    lines += [
        f"  Prompt Tokens: {prompt_tokens}",
        f"  Predicted Tokens: {predicted}",
        f"  Total Tokens: {prompt_tokens + predicted}",
    ]
    return "\n".join(lines)


def _predict(ctx: Ctx, address: tuple[str, int], body: dict[str, Any]) -> dict[str, Any]:
    """Stream the answer to stdout; the ``chat.end`` result."""
    from fake_lms.cli import rest  # only the commands that ask the server pay for http.client

    conn = rest.connect(address)
    try:
        headers = {**rest.headers(), "Accept": "text/event-stream"}
        conn.request("POST", "/api/v1/chat", json.dumps(body).encode("utf-8"), headers)
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(rest.error_message(response.read()))
        last = ""
        for raw in response:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line.startswith("data:"):
                continue
            event = json.loads(line[5:].strip())
            kind = event.get("type")
            if kind == "reasoning.start":
                ctx.console.write_out("<think>\n")
            elif kind == "reasoning.end":
                ctx.console.write_out("\n</think>\n")
            elif kind in ("reasoning.delta", "message.delta"):
                content = str(event.get("content", ""))
                ctx.console.write_out(content)
                if kind == "message.delta":
                    last = content
            elif kind == "error" or (kind is None and "error" in event):
                raise RuntimeError(rest.error_message(line[5:].strip().encode("utf-8")))
            elif kind == "chat.end":
                if not last.endswith("\n"):
                    ctx.console.write_out("\n")
                result = event.get("result")
                return result if isinstance(result, dict) else {}
        raise RuntimeError("The connection closed before the prediction ended.")
    finally:
        conn.close()


def chat(ctx: Ctx) -> int:
    opts = ctx.opts
    address = _server_address(ctx)
    prompt = _read_prompt(ctx)
    name = ctx.arg(0)
    identifier = _model(ctx, name, int(opts["ttl"]))
    if identifier is None:
        if not ctx.console.stdin_tty or opts.get("yes"):
            if name:
                ctx.logger.error(f'Model "{name}" not found, load with:\n       lms load {name}')
            else:
                ctx.logger.error("No loaded model found, load with:\n       lms load")
            raise CliExit(1)
        ctx.logger.error("The fake lms cannot open the model picker of `lms chat`; name a loaded model.")
        raise CliExit(1)
    if not prompt:
        if ctx.console.stdin_tty:
            ctx.logger.error(
                "The fake lms has no interactive chat: pass the prompt with -p or pipe it on stdin."
            )
            raise CliExit(1)
        ctx.logger.error("No prompt provided for non-interactive chat.")
        return 0
    body: dict[str, Any] = {
        "model": identifier,
        "input": prompt,
        "system_prompt": opts.get("system_prompt") or DEFAULT_SYSTEM_PROMPT,
        "stream": True,
        "store": False,
    }
    reasoning = _reasoning(ctx, identifier, opts["reasoning"])
    if reasoning is not None:
        body["reasoning"] = reasoning
    try:
        result = _predict(ctx, address, body)
    except (OSError, ValueError, RuntimeError) as exc:
        ctx.logger.error("Error during chat:", str(exc) or type(exc).__name__)
        raise CliExit(1) from None
    if opts.get("stats"):
        stats = result.get("stats")
        ctx.logger.info(_stats_text(stats if isinstance(stats, dict) else {}))
    return 0
