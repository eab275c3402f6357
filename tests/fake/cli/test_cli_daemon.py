# ruff: noqa: F811  (pytest fixtures imported from test_cli_support)
"""`lms daemon up|down|status [--json]` (issue 14): the fake's daemon is the home's fake server
process; texts, streams, JSON and exit codes as in lms src/subcommands/daemon/*."""

from __future__ import annotations

import json
import socket

from test_cli_server import pid_alive, refuses
from test_cli_support import Lms, free_port, home, http_json, lms, server  # noqa: F401  (fixtures)

from fake_lms.model.home import Home
from fake_lms.model.identity import LMSTUDIO_VERSION


def test_status_and_down_when_not_running(lms: Lms) -> None:
    result = lms.run("daemon", "status")
    assert (result.code, result.stdout, result.stderr) == (0, "LM Studio is not running\n", "")
    result = lms.run("daemon", "status", "--json")
    assert (result.code, result.stdout, result.stderr) == (0, '{"status":"not-running"}\n', "")
    result = lms.run("daemon", "down")
    assert (result.code, result.stdout, result.stderr) == (1, "", "Daemon is not running.\n")


def test_up_status_down(lms: Lms, home: Home) -> None:
    port = free_port()
    home.write_server_config(port)
    result = lms.run("daemon", "up")
    pid = json.loads(home.server_pid_file.read_text())["pid"]
    assert (result.code, result.stdout, result.stderr) == (
        0,
        f"llmster started (PID: {pid}).\n",
        "Waking up LM Studio service...\n",
    )
    assert pid_alive(pid)
    assert http_json(f"http://127.0.0.1:{port}/lmstudio-greeting") == {"lmstudio": True}

    result = lms.run("daemon", "status")
    assert (result.code, result.stdout) == (0, f"llmster v{LMSTUDIO_VERSION} is running (PID: {pid})\n")
    assert lms.json("daemon", "status", "--json") == {"status": "running", "pid": pid, "isDaemon": True}
    result = lms.run("daemon", "up")
    assert (result.code, result.stdout, result.stderr) == (
        0,
        f"The daemon is already running (PID: {pid}).\n",
        "",
    )
    assert lms.run("daemon", "up", "--json").stdout == (
        f'{{"status":"running","pid":{pid},"isDaemon":true,"version":"{LMSTUDIO_VERSION}"}}\n'
    )
    assert lms.run("server", "status", "--json").stdout == f'{{"running":true,"port":{port}}}\n'

    result = lms.run("daemon", "down")
    assert (result.code, result.stdout, result.stderr) == (0, "", "Shutting down llmster...\nDone.\n")
    assert not pid_alive(pid)
    assert refuses(port)
    assert lms.run("daemon", "status", "--json").stdout == '{"status":"not-running"}\n'


def test_up_json_when_starting(lms: Lms, home: Home) -> None:
    home.write_server_config(free_port())
    result = lms.run("daemon", "up", "--json")
    pid = json.loads(home.server_pid_file.read_text())["pid"]
    assert result.code == 0
    assert json.loads(result.stdout) == {
        "status": "running",
        "pid": pid,
        "isDaemon": True,
        "version": LMSTUDIO_VERSION,
    }


def test_up_fails_when_the_port_is_taken(lms: Lms, home: Home) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        home.write_server_config(holder.getsockname()[1])
        result = lms.run("daemon", "up")
    assert (result.code, result.stdout) == (1, "")
    assert result.stderr == (
        "Waking up LM Studio service...\nError: Failed to start or connect to local LM Studio API server.\n"
    )
    assert lms.run("daemon", "status", "--json").stdout == '{"status":"not-running"}\n'


def test_an_in_process_fake_is_not_the_daemon(lms: Lms, server) -> None:
    assert lms.run("daemon", "status", "--json").stdout == '{"status":"not-running"}\n'
    assert lms.run("daemon", "down").code == 1


def test_usage(lms: Lms) -> None:
    result = lms.run("daemon")
    assert result.code == 1 and result.stderr.startswith("Usage: lms daemon [options] [command]\n")
    assert "  up " in result.stderr and "  down " in result.stderr and "  status " in result.stderr
    result = lms.run("daemon", "status", "--bogus")
    assert (result.code, result.stderr) == (1, "error: unknown option '--bogus'\n")
    result = lms.run("daemon", "down", "--json")
    assert (result.code, result.stderr) == (1, "error: unknown option '--json'\n")
    result = lms.run("daemon", "update")
    assert result.code == 1 and "`lms daemon update` is not supported by the fake lms" in result.stderr
