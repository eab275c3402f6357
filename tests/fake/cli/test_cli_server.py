# ruff: noqa: F811  (pytest fixtures imported from test_cli_support)
"""`lms status`, `lms server start|stop|status`, `lms log stream` (issue 4): the HTTP server seen
through /lmstudio-greeting, a background server process that leaves nothing behind."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import time
from typing import IO

import pytest
from test_cli_support import Lms, free_port, home, http_json, lms, server  # noqa: F401  (fixtures)

from fake_lms.model.home import Home

OFF = "Server:  OFF \n\n(i) To start the server, run the following command:\n\n    lms server start\n"


def refuses(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except OSError:
        return True


def read_line(stream: IO[bytes] | None, timeout: float = 10.0) -> bytes:
    """One line from a child's pipe, failing instead of hanging."""
    assert stream is not None
    line = b""
    deadline = time.monotonic() + timeout
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([stream], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"no complete line within {timeout}s (got {line!r})")
        byte = os.read(stream.fileno(), 1)
        if not byte:
            raise AssertionError(f"end of output before a complete line (got {line!r})")
        line += byte
    return line


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


# -- lms status ------------------------------------------------------------------------------------


def test_status_off(lms: Lms) -> None:
    result = lms.run("status")
    assert (result.code, result.stdout, result.stderr) == (0, OFF, "")


def test_status_on_with_and_without_loaded_models(lms: Lms, home: Home, server) -> None:
    result = lms.run("status")
    assert (result.code, result.stdout, result.stderr) == (
        0,
        f"Server: ON (port: {server.port})\n\nNo Models Loaded\n",
        "",
    )
    home.load("qwen/qwen3-4b")
    home.load("text-embedding-nomic-embed-text-v1.5")
    home.load("google/gemma-3-1b", identifier="g")
    assert lms.run("status").stdout == (
        f"Server: ON (port: {server.port})\n\nLoaded Models\n"
        "  · qwen/qwen3-4b - 2.50 GB\n"
        "  · g - 806.06 MB\n"
        "  · text-embedding-nomic-embed-text-v1.5 - 84.11 MB\n"
    )


def test_status_with_explicit_port(lms: Lms, server) -> None:
    assert lms.run("status", "--port", str(server.port)).stdout.startswith("Server: ON")
    assert lms.run("status", "--port", str(free_port())).stdout == OFF


# -- lms server status -----------------------------------------------------------------------------


def test_server_status_never_started(lms: Lms) -> None:
    assert lms.run("server", "status", "--json").stdout == '{"running":false}\n'
    result = lms.run("server", "status")
    assert (result.code, result.stdout, result.stderr) == (0, "", "The server is not running.\n")


def test_server_status_running_and_stopped(lms: Lms, home: Home, server) -> None:
    port = server.port
    result = lms.run("server", "status", "--json")
    assert (result.code, result.stdout, result.stderr) == (0, f'{{"running":true,"port":{port}}}\n', "")
    assert lms.run("server", "status").stderr == f"The server is running on port {port}.\n"
    server.stop()
    assert lms.run("server", "status", "--json").stdout == f'{{"running":false,"port":{port}}}\n'


# -- lms server start / stop -----------------------------------------------------------------------


def test_server_start_then_stop_leaves_nothing_behind(lms: Lms, home: Home) -> None:
    port = free_port()
    result = lms.run("server", "start", "--port", str(port))
    assert (result.code, result.stdout, result.stderr) == (
        0,
        "",
        f"Success! Server is now running on port {port}\n",
    )
    info = json.loads(home.server_pid_file.read_text())
    pid = info["pid"]
    assert pid_alive(pid)
    assert home.read_server_config() == {"port": port, "networkInterface": "127.0.0.1", "cors": False}
    assert http_json(f"http://127.0.0.1:{port}/lmstudio-greeting") == {"lmstudio": True}
    assert lms.run("server", "status", "--json").stdout == f'{{"running":true,"port":{port}}}\n'
    assert lms.run("status").stdout.startswith(f"Server: ON (port: {port})\n")

    result = lms.run("server", "stop")
    assert (result.code, result.stdout, result.stderr) == (0, "", f"Stopped the server on port {port}.\n")
    assert not pid_alive(pid)
    assert refuses(port)
    assert not home.server_pid_file.exists()
    assert lms.run("server", "status", "--json").stdout == f'{{"running":false,"port":{port}}}\n'
    assert lms.run("status").stdout == OFF


def test_server_start_reuses_the_last_port(lms: Lms, home: Home) -> None:
    port = free_port()
    home.write_server_config(port)
    result = lms.run("server", "start")
    assert result.stderr == f"Success! Server is now running on port {port}\n"
    again = lms.run("server", "start")  # already running there: still a success, same process
    assert (again.code, again.stderr) == (0, f"Success! Server is now running on port {port}\n")
    assert lms.run("server", "stop").code == 0


def test_server_start_state_is_shared_with_lms(lms: Lms, home: Home) -> None:
    """The seed systems' chain: server start -> get -> load -> the HTTP API sees it; stop refuses."""
    port = free_port()
    assert lms.run("server", "start", "-p", str(port)).code == 0
    assert lms.run("get", "--yes", "openai/gpt-oss-20b").code == 0
    ids = [m["id"] for m in http_json(f"http://127.0.0.1:{port}/v1/models")["data"]]
    assert "openai/gpt-oss-20b" in ids
    assert lms.run("load", "openai/gpt-oss-20b", "-y").code == 0
    models = {m["id"]: m for m in http_json(f"http://127.0.0.1:{port}/api/v0/models")["data"]}
    assert models["openai/gpt-oss-20b"]["state"] == "loaded"
    assert lms.run("server", "stop").code == 0
    assert refuses(port)


def test_server_start_warnings(lms: Lms, home: Home) -> None:
    port = free_port()
    result = lms.run("server", "start", "--port", str(port), "--cors", "--bind", "0.0.0.0")
    assert result.code == 0
    assert result.stderr == (
        "W CORS is enabled. This means any website you visit can use the LM Studio server.\n"
        "W Server will accept connections from the network. Only use this if you know what you are doing!\n"
        f"Success! Server is now running on port {port}\n"
    )
    assert home.settings.cors is True
    assert lms.run("server", "stop").stderr == f"Stopped the server on port {port}.\n"


def test_server_start_honours_lms_server_host(lms: Lms, home: Home) -> None:
    port = free_port()
    result = lms.run("server", "start", "-p", str(port), env={"LMS_SERVER_HOST": "0.0.0.0"})
    assert result.stderr.startswith("W Server will accept connections from the network.")
    assert home.read_server_config()["networkInterface"] == "0.0.0.0"
    assert lms.run("server", "stop").code == 0


def test_server_start_on_a_busy_port_fails(lms: Lms, home: Home) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = lms.run("server", "start", "--port", str(port))
    assert (result.code, result.stdout) == (1, "")
    assert result.stderr == "Error: Failed to verify the server is running. Please try to use another port.\n"
    assert not home.server_pid_file.exists()


def test_server_stop_when_not_running(lms: Lms, home: Home) -> None:
    result = lms.run("server", "stop")  # never started: no config
    assert (result.code, result.stdout, result.stderr) == (1, "", "Error: The server is not running.\n")
    home.write_server_config(free_port())  # started once, not running now
    assert lms.run("server", "stop").stderr == "Error: The server is not running.\n"


def test_server_stop_cannot_stop_an_in_process_server(lms: Lms, server) -> None:
    result = lms.run("server", "stop")
    assert result.code == 1
    assert result.stderr.startswith(f"Error: Cannot stop the server on port {server.port}:")
    assert http_json(server.url + "/lmstudio-greeting") == {"lmstudio": True}


def test_server_start_moves_a_running_server_to_another_port(lms: Lms, home: Home) -> None:
    first, second = free_port(), free_port()
    assert lms.run("server", "start", "-p", str(first)).code == 0
    pid = json.loads(home.server_pid_file.read_text())["pid"]
    assert lms.run("server", "start", "-p", str(second)).code == 0
    assert not pid_alive(pid)
    assert refuses(first)
    assert lms.run("server", "status", "--json").stdout == f'{{"running":true,"port":{second}}}\n'
    assert lms.run("server", "stop").code == 0


# -- lms log stream --------------------------------------------------------------------------------


def test_log_stream_once_json(lms: Lms, server) -> None:
    http_json(server.url + "/v1/models")
    result = lms.run("log", "stream", "--source", "server", "--json", "--once")
    assert result.code == 0
    assert result.stderr == "Streaming logs from LM Studio\n\n"
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[-1]["data"] == {
        "type": "server.log",
        "content": "Received request: GET to /v1/models",
        "level": "info",
    }
    assert isinstance(events[-1]["timestamp"], int)


def test_log_stream_model_events(lms: Lms, home: Home) -> None:
    now = time.time()
    home.append_jsonl(
        home.request_log_file,
        {
            "time": now,
            "method": "POST",
            "path": "/v1/chat/completions",
            "status": 200,
            "model": "qwen/qwen3-4b",
            "duration_ms": 500.0,
            "prompt_tokens": 10,
            "completion_tokens": 20,
        },
    )
    home.append_jsonl(
        home.request_log_file, {"time": now, "method": "GET", "path": "/v1/models", "status": 200}
    )
    events = [json.loads(line) for line in lms.run("log", "stream", "--json", "--once").stdout.splitlines()]
    assert [e["data"]["type"] for e in events] == ["llm.prediction.input", "llm.prediction.output"]
    assert events[0]["data"] == {
        "type": "llm.prediction.input",
        "input": "",
        "modelPath": "qwen/qwen3-4b",
        "modelIdentifier": "qwen/qwen3-4b",
    }
    assert events[1]["data"] == {
        "type": "llm.prediction.output",
        "output": "",
        "stats": {
            "tokensPerSecond": 40.0,
            "totalTimeSec": 0.5,
            "promptTokensCount": 10,
            "predictedTokensCount": 20,
            "totalTokensCount": 30,
        },
        "modelIdentifier": "qwen/qwen3-4b",
    }
    assert events[1]["timestamp"] - events[0]["timestamp"] == 500
    only_output = lms.run("log", "stream", "--json", "--once", "--filter", "output").stdout.splitlines()
    assert [json.loads(line)["data"]["type"] for line in only_output] == ["llm.prediction.output"]
    text = lms.run("log", "stream", "--once", "--filter", "output", "--stats").stdout
    assert text.splitlines()[1:] == [
        "type: llm.prediction.output",
        "modelIdentifier: qwen/qwen3-4b",
        "output:",
        "",
        "tokensPerSecond: 40",
        "totalTimeSec: 0.5",
        "promptTokensCount: 10",
        "predictedTokensCount: 20",
        "totalTokensCount: 30",
        "",
        "",
    ]
    text = lms.run("log", "stream", "--once", "--filter", "input").stdout
    assert text.splitlines()[1:5] == [
        "type: llm.prediction.input",
        "modelIdentifier: qwen/qwen3-4b",
        "modelPath: qwen/qwen3-4b",
        "input:",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "server", "--stats"], "--stats can only be used with --source model"),
        (["-s", "runtime", "--filter", "input"], "--filter can only be used with --source model"),
        (["--filter", "both"], "--filter values must be 'input', 'output', or 'input,output'"),
        (["--filter", " "], "--filter cannot be empty"),
    ],
)
def test_log_stream_errors(lms: Lms, args: list[str], message: str) -> None:
    result = lms.run("log", "stream", *args)
    assert (result.code, result.stdout, result.stderr) == (1, "", f"Error: {message}\n")


@pytest.mark.parametrize(
    ("sig", "ignored_by_parent"),
    [(signal.SIGINT, False), (signal.SIGTERM, False), (signal.SIGINT, True)],
    ids=["SIGINT", "SIGTERM", "SIGINT-ignored-by-parent"],
)
def test_log_stream_follows_until_a_signal(
    lms: Lms, server, sig: signal.Signals, ignored_by_parent: bool
) -> None:
    # ignored_by_parent: started as a non-interactive shell's background job (SIGINT inherited as
    # ignored); Node restores default dispositions at startup, so real lms still stops on Ctrl-C
    http_json(server.url + "/v1/models")  # before the stream starts: not shown
    proc = lms.popen("log", "stream", "-s", "server", ignore_sigint=ignored_by_parent)
    try:
        assert read_line(proc.stderr) == b"Streaming logs from LM Studio\n"
        http_json(server.url + "/api/v0/models")
        assert read_line(proc.stdout) == b"Received request: GET to /api/v0/models\n"
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    (record,) = [r for r in lms.home.lms_invocations() if r["command"] == "log stream"]
    assert record["exit_code"] == 0


def test_other_commands_die_of_sigterm_and_are_recorded(lms: Lms, home: Home) -> None:
    home.update_settings(download_seconds=30)
    proc = lms.popen("get", "-y", "openai/gpt-oss-20b")
    try:
        while b"Downloading" not in read_line(proc.stdout):
            pass
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == -signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    (record,) = home.lms_invocations()
    assert (record["exit_code"], record["signal"]) == (-15, "SIGTERM")
    assert not home.is_downloaded("openai/gpt-oss-20b")
