"""``lms status`` and ``lms server start|stop|status`` (spec §4.3): the HTTP server, seen through
``/lmstudio-greeting`` on the port recorded in ``<home>/.internal/http-server-config.json``."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from fake_lms.cli import background as cli_background
from fake_lms.cli.context import Ctx
from fake_lms.cli.output import format_size_1000
from fake_lms.cli.probe import DEFAULT_SERVER_PORT, CliExit, check_http_server
from fake_lms.model.info import loaded

VERIFY_ATTEMPTS = 5  # lms probes the greeting 5 times, 1 s apart, after starting the server


def _config(ctx: Ctx) -> dict[str, Any] | None:
    config = ctx.home.read_server_config()
    return config if isinstance(config, dict) else None


def status(ctx: Ctx) -> int:
    host = ctx.opts["host"] or "127.0.0.1"
    port = ctx.opts["port"]
    if port is None:
        config = _config(ctx) if host == "127.0.0.1" else None
        port = config.get("port", DEFAULT_SERVER_PORT) if config else DEFAULT_SERVER_PORT
    style = ctx.style
    if check_http_server(port, host):
        ctx.connect()
        content = f"Server: {style.green('ON')} (port: {port})\n\n"
        pairs = loaded(ctx.home)
        if not pairs:
            content += "No Models Loaded"
        else:
            content += "Loaded Models"
            for inst, spec in pairs:
                size = style.dim(" - ") + style.dim(format_size_1000(spec.size_bytes))
                content += f"\n  · {inst.identifier}{size}"
    else:
        content = (
            f"Server: {style.red(' OFF ')}\n\n"
            f"{style.dim('(i) To start the server, run the following command:')}\n\n"
            "    lms server start"
        )
    ctx.console.out(content)
    return 0


def server_start(ctx: Ctx) -> int:
    opts = ctx.opts
    logger = ctx.logger
    cors = bool(opts["cors"])
    if cors:
        logger.warn("CORS is enabled. This means any website you visit can use the LM Studio server.")
    env_host = os.environ.get("LMS_SERVER_HOST") or None
    host = opts["bind"] or env_host or "127.0.0.1"
    port = opts["port"]
    if port is None:
        config = _config(ctx)
        port = config.get("port", DEFAULT_SERVER_PORT) if config else DEFAULT_SERVER_PORT
    if host != "127.0.0.1":
        logger.warn(
            "Server will accept connections from the network. Only use this if you know what you are doing!"
        )
    actual = cli_background.start(ctx.home, port, host, cors)
    if actual is not None and _verify(actual, host):
        logger.info(f"Success! Server is now running on port {actual}")
        return 0
    logger.error("Failed to verify the server is running. Please try to use another port.")
    raise CliExit(1)


def _verify(port: int, host: str) -> bool:
    for attempt in range(VERIFY_ATTEMPTS):
        if check_http_server(port, host):
            return True
        if attempt < VERIFY_ATTEMPTS - 1:
            time.sleep(1.0)
    return False


def server_stop(ctx: Ctx) -> int:
    logger = ctx.logger
    config = _config(ctx)
    if config is None or not isinstance(config.get("port"), int):
        logger.error("The server is not running.")
        raise CliExit(1)
    port = config["port"]
    host = config.get("networkInterface")
    if not check_http_server(port, host):
        logger.error("The server is not running.")
        raise CliExit(1)
    info = cli_background.running_server(ctx.home)
    if info is None or info.get("port") != port:
        logger.error(
            f"Cannot stop the server on port {port}: the fake lms can only stop a server started by "
            "`lms server start` or `python -m fake_lms serve` with this LMS_FAKE_HOME."
        )
        raise CliExit(1)
    if not cli_background.stop(ctx.home, info):
        logger.error(f"Failed to stop the server on port {port}.")
        raise CliExit(1)
    logger.info(f"Stopped the server on port {port}.")
    return 0


def server_status(ctx: Ctx) -> int:
    config = _config(ctx)
    port = config.get("port") if config else None
    host = config.get("networkInterface") if config else None
    running = check_http_server(port, host) if isinstance(port, int) else False
    if ctx.opts["json"]:
        data: dict[str, Any] = {"running": running}
        if port is not None:
            data["port"] = port
        ctx.console.write_out(json.dumps(data, separators=(",", ":")) + "\n")
        return 0
    if running:
        ctx.logger.info(f"The server is running on port {port}.")
    else:
        ctx.logger.info("The server is not running.")
    return 0
