"""The fake server as a background process of its own, for ``lms server start/stop``.

``start`` runs ``python -m fake_lms serve --home H --port P`` in a new session (it outlives the
``lms`` process and ignores the terminal's Ctrl-C), with stdout/stderr appended to
``<home>/server-logs/fake-server.log``; ``serve`` records ``{"pid","host","port","url"}`` in
``<home>/.internal/fake-server.json`` once it listens. ``stop`` sends SIGTERM to that pid (only if
it really is a fake server process), waits for it to exit and for the port to refuse connections.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fake_lms.cli.probe import port_accepts_connections
from fake_lms.model.home import Home
from fake_lms.procs import is_fake_server, pid_alive

SERVER_LOG_NAME = "fake-server.log"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


def running_server(home: Home) -> dict[str, Any] | None:
    """The server process recorded in the home, if it is still running."""
    try:
        info = json.loads(home.server_pid_file.read_text(encoding="utf-8"))
        pid = int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not pid_alive(pid) or not is_fake_server(pid):
        return None
    return info


def _package_parent() -> str:
    return str(Path(__file__).resolve().parents[2])


def start(home: Home, port: int, host: str, cors: bool) -> int | None:
    """Start (or keep) the fake server; the port it listens on, or None if it did not come up."""
    current = running_server(home)
    if current is not None:
        if current.get("port") == port and current.get("host") == host:
            home.update_settings(cors=cors)
            home.write_server_config(port, host, cors=cors)
            return port
        stop(home, current)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), _package_parent()) if p)
    command = [
        sys.executable,
        "-m",
        "fake_lms",
        "serve",
        "--home",
        str(home.path),
        "--port",
        str(port),
        "--host",
        host,
        "--cors" if cors else "--no-cors",
    ]
    with open(home.logs_dir / SERVER_LOG_NAME, "ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env=env,
            close_fds=True,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return None
        try:
            info = json.loads(home.server_pid_file.read_text(encoding="utf-8"))
            if int(info.get("pid", -1)) == process.pid:
                return int(info["port"])
        except (OSError, ValueError, TypeError):
            pass
        time.sleep(0.02)
    process.terminate()
    return None


def stop(home: Home, info: dict[str, Any]) -> bool:
    """SIGTERM the server, wait for it to exit (SIGKILL after a while) and for its port to close."""
    pid = int(info["pid"])
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + STOP_TIMEOUT
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if pid_alive(pid) and hasattr(signal, "SIGKILL"):
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 2.0
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
    port = info.get("port")
    if isinstance(port, int):
        deadline = time.monotonic() + 2.0
        while port_accepts_connections(port, info.get("host")) and time.monotonic() < deadline:
            time.sleep(0.02)
    try:
        current = json.loads(home.server_pid_file.read_text(encoding="utf-8"))
        if int(current.get("pid", -1)) == pid:
            home.server_pid_file.unlink()
    except (OSError, ValueError, TypeError):
        pass
    return not pid_alive(pid)
