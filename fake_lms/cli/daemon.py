"""``lms daemon up|down|status`` (llmster, LM Studio 0.4+; lms ``src/subcommands/daemon/*``).

The fake's "daemon" is the fake server process of the home: the one recorded in
``<home>/.internal/fake-server.json`` by ``lms server start``, ``lms daemon up`` or
``python -m fake_lms serve``. It reports itself as llmster (``isDaemon: true``) with the fake's LM
Studio version. Texts and streams follow the source: status and ``up`` results on stdout
(``console.info``), ``down``'s messages on stderr (the logger).
"""

from __future__ import annotations

import json
from typing import Any

from fake_lms.cli import background as cli_background
from fake_lms.cli.context import Ctx
from fake_lms.cli.probe import DEFAULT_SERVER_PORT, CliExit, check_http_server
from fake_lms.model.home import Home

NO_INSTALLATION = "LM Studio daemon is not running and no valid installation could be found or installed."
NO_API_SERVER = "Failed to start or connect to local LM Studio API server."


def _compact(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"))


def running_daemon(home: Home) -> dict[str, Any] | None:
    """The home's fake server process (pid, host, port) if it runs and answers the greeting."""
    info = cli_background.running_server(home)
    if info is None or not isinstance(info.get("port"), int):
        return None
    if not check_http_server(info["port"], info.get("host")):
        return None
    return info


def home_server(home: Home) -> tuple[str, int] | None:
    """Where the home's fake server answers: the daemon, else the port in
    ``http-server-config.json`` (also written by an in-process ``FakeLMStudio``) if it answers."""
    info = running_daemon(home)
    if info is not None:
        return info.get("host") or "127.0.0.1", int(info["port"])
    config = home.read_server_config()
    if isinstance(config, dict) and isinstance(config.get("port"), int):
        host = config.get("networkInterface") or "127.0.0.1"
        if check_http_server(config["port"], host):
            return host, config["port"]
    return None


def status(ctx: Ctx) -> int:
    info = running_daemon(ctx.home)
    if info is None:
        if ctx.opts["json"]:
            ctx.console.out(_compact({"status": "not-running"}))
        else:
            ctx.console.out("LM Studio is not running")
        return 0
    if ctx.opts["json"]:
        ctx.console.out(_compact({"status": "running", "pid": info["pid"], "isDaemon": True}))
    else:
        ctx.console.out(f"llmster v{ctx.home.settings.lmstudio_version} is running (PID: {info['pid']})")
    return 0


def up(ctx: Ctx) -> int:
    info = running_daemon(ctx.home)
    started = info is None
    if info is None:
        ctx.logger.info("Waking up LM Studio service...")
        config = ctx.home.read_server_config()
        config = config if isinstance(config, dict) else {}
        port = config.get("port", DEFAULT_SERVER_PORT)
        host = config.get("networkInterface") or "127.0.0.1"
        if cli_background.start(ctx.home, port, host, bool(ctx.home.settings.cors)) is not None:
            info = running_daemon(ctx.home)
        if info is None:
            ctx.logger.error(NO_API_SERVER)
            raise CliExit(1)
    pid = info["pid"]
    if ctx.opts["json"]:
        data = {
            "status": "running",
            "pid": pid,
            "isDaemon": True,
            "version": ctx.home.settings.lmstudio_version,
        }
        ctx.console.out(_compact(data))
    elif started:
        ctx.console.out(f"llmster started (PID: {pid}).")
    else:
        ctx.console.out(f"The daemon is already running (PID: {pid}).")
    return 0


def down(ctx: Ctx) -> int:
    info = running_daemon(ctx.home)
    if info is None:
        ctx.logger.info("Daemon is not running.")
        raise CliExit(1)
    ctx.logger.info("Shutting down llmster...")
    if not cli_background.stop(ctx.home, info):
        ctx.logger.error(f"Failed to stop the fake LM Studio (PID: {info['pid']}).")
        raise CliExit(1)
    ctx.logger.info("Done.")
    return 0
