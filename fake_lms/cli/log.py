"""``lms log stream`` (spec §4.3): LM Studio's diagnostics stream, made from the fake server's request
log (``<home>/server-logs/requests.jsonl``), followed like ``tail -f`` until SIGINT/SIGTERM.

Each request line becomes a ``server.log`` event (``Received request: POST to /v1/...``), and each of
its ``warnings`` a ``server.log`` event of level ``warn``; requests that
ran a prediction also become ``llm.prediction.input`` / ``llm.prediction.output`` events. The request
log never holds bodies, so their ``input`` / ``output`` texts are empty (unless a record carries
``input`` / ``output`` fields); ``stats`` come from the logged token counts.
Hidden flags for tests and scripts: ``--once`` prints the events already logged and exits;
``--from-start`` follows from the beginning of the log instead of its end.
"""

from __future__ import annotations

import datetime
import json
import signal
import time
from typing import Any

from fake_lms.cli.context import Ctx
from fake_lms.cli.probe import CliExit

POLL_SECONDS = 0.1
PREDICTION_PATHS = frozenset(
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


class _Stop(Exception):
    pass


def events(record: dict[str, Any], ctx: Ctx) -> list[dict[str, Any]]:
    """The diagnostics events (``{"timestamp", "data"}``) for one request-log record."""
    try:
        timestamp = int(float(record.get("time", 0)) * 1000)
    except (TypeError, ValueError):
        timestamp = 0
    method = record.get("method", "GET")
    path = record.get("path", "/")
    out = [
        {
            "timestamp": timestamp,
            "data": {
                "type": "server.log",
                "content": f"Received request: {method} to {path}",
                "level": "info",
            },
        }
    ]
    for warning in record.get("warnings") or ():  # e.g. a reasoning setting's fallback
        warn = {"type": "server.log", "content": str(warning), "level": "warn"}
        out.append({"timestamp": timestamp, "data": warn})
    model = record.get("model")
    if path in PREDICTION_PATHS and model and record.get("status") == 200:
        spec = ctx.home.catalog.find(str(model))
        if spec is None:
            inst = ctx.home.find_instance(str(model))
            spec = ctx.home.catalog.get(inst.model_key) if inst else None
        model_path = spec.path if spec else str(model)
        out.append(
            {
                "timestamp": timestamp,
                "data": {
                    "type": "llm.prediction.input",
                    "input": str(record.get("input", "")),
                    "modelPath": model_path,
                    "modelIdentifier": model,
                },
            }
        )
        output: dict[str, Any] = {"type": "llm.prediction.output", "output": str(record.get("output", ""))}
        stats = _stats(record)
        if stats:
            output["stats"] = stats
        output["modelIdentifier"] = model
        out.append({"timestamp": timestamp + int(float(record.get("duration_ms", 0) or 0)), "data": output})
    return out


def _js_number(value: float) -> float | int:
    """JavaScript has one number type: 40.0 prints (and serialises) as 40."""
    return int(value) if float(value).is_integer() else value


def _stats(record: dict[str, Any]) -> dict[str, Any] | None:
    """``LLMPredictionStats`` from the token counts the server logs (``prompt_tokens`` ...)."""
    if isinstance(record.get("stats"), dict):
        return record["stats"]
    prompt, completion = record.get("prompt_tokens"), record.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    seconds = float(record.get("duration_ms") or 0) / 1000
    stats: dict[str, Any] = {}
    if seconds > 0:
        stats["tokensPerSecond"] = _js_number(round(completion / seconds, 3))
    stats["totalTimeSec"] = _js_number(round(seconds, 3))
    stats["promptTokensCount"] = prompt
    stats["predictedTokensCount"] = completion
    stats["totalTokensCount"] = prompt + completion
    return stats


def _wanted(event: dict[str, Any], source: str, filters: list[str]) -> bool:
    kind = event["data"]["type"]
    if source == "model":
        return any(kind == f"llm.prediction.{f}" for f in filters)
    return kind == ("server.log" if source == "server" else "runtime.log")


def _locale_time(ms: int) -> str:
    """``new Date(ms).toLocaleString()`` in en-US: ``8/21/2026, 3:04:05 PM``."""
    when = datetime.datetime.fromtimestamp(ms / 1000)
    hour = when.hour % 12 or 12
    noon = "PM" if when.hour >= 12 else "AM"
    return f"{when.month}/{when.day}/{when.year}, {hour}:{when.minute:02d}:{when.second:02d} {noon}"


def _print(ctx: Ctx, event: dict[str, Any], as_json: bool, stats: bool) -> None:
    out = ctx.console.out
    if as_json:
        out(json.dumps(event, ensure_ascii=False, separators=(",", ":")))
        return
    data = event["data"]
    green = ctx.style.green
    if data["type"] == "server.log":
        out(data["content"])
        return
    out("timestamp: " + green(_locale_time(event["timestamp"])))
    out("type: " + green(data["type"]))
    out("modelIdentifier: " + green(data["modelIdentifier"]))
    if data["type"] == "llm.prediction.input":
        out("modelPath: " + green(data["modelPath"]))
        out("input:")
        out(green(data["input"]))
    else:
        out("output:")
        out(green(data["output"]))
        if stats:
            if "stats" in data:
                for key, value in data["stats"].items():
                    out(f"{key}: {green(value)}")
            else:
                out("No stats available")
    out()
    out()


def stream(ctx: Ctx) -> int:
    ctx.connect()
    opts = ctx.opts
    logger = ctx.logger
    source = opts["source"]
    if opts["stats"] and source in ("server", "runtime"):
        logger.error("--stats can only be used with --source model")
        raise CliExit(1)
    if opts["filter"] is not None and source in ("server", "runtime"):
        logger.error("--filter can only be used with --source model")
        raise CliExit(1)
    filters: list[str] = []
    if source == "model":
        if opts["filter"] is None:
            filters = ["input", "output"]
        else:
            if not opts["filter"].strip():
                logger.error("--filter cannot be empty")
                raise CliExit(1)
            filters = [f.strip() for f in opts["filter"].split(",") if f.strip()]
            if any(f not in ("input", "output") for f in filters):
                logger.error("--filter values must be 'input', 'output', or 'input,output'")
                raise CliExit(1)
    log_file = ctx.home.request_log_file
    once = bool(opts["once"])
    position = 0
    if not (once or opts["from_start"]):  # subscribe first: what is logged from now on is shown
        try:
            position = log_file.stat().st_size
        except FileNotFoundError:
            position = 0
    logger.info("Streaming logs from LM Studio\n")

    def stop(signum: int, frame: object) -> None:
        raise _Stop

    previous = signal.signal(signal.SIGTERM, stop)
    pending = b""
    try:
        while True:
            try:
                with open(log_file, "rb") as fh:
                    if fh.seek(0, 2) < position:  # truncated: start again
                        position, pending = 0, b""
                    fh.seek(position)
                    chunk = fh.read()
                    position += len(chunk)
            except FileNotFoundError:
                chunk = b""
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(record, dict):
                    continue
                for event in events(record, ctx):
                    if _wanted(event, source, filters):
                        _print(ctx, event, bool(opts["json"]), bool(opts["stats"]))
            if once or ctx.console.closed:
                return 0
            time.sleep(POLL_SECONDS)
    except (_Stop, KeyboardInterrupt):
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
