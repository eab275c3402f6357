"""Helpers for the fake ``lms`` tests: a fake home, the launcher on PATH, real subprocesses.

Imported by the ``test_cli_*`` modules (``from test_cli_support import ...``); it has no tests itself.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fake_lms.cli.launcher import install_lms
from fake_lms.model.home import Home


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


class Lms:
    """Runs the installed launcher as a real subprocess, found on PATH under the name ``lms``."""

    def __init__(self, home: Home, bin_dir: Path, tmp: Path) -> None:
        self.home = home
        self.bin_dir = bin_dir
        self.tmp = tmp
        self.env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "LMS_SERVER_HOST")}
        self.env["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
        self.env["LMS_FAKE_HOME"] = str(home.path)
        self.env.pop("PYTHONPATH", None)

    def run(
        self,
        *args: str,
        env: dict[str, str | None] | None = None,
        timeout: float = 30,
        input: bytes | None = None,
    ) -> Result:
        """Run ``lms args...``; stdin is ``input`` when given (a pipe), else ``/dev/null``."""
        environ = dict(self.env)
        for key, value in (env or {}).items():
            if value is None:
                environ.pop(key, None)
            else:
                environ[key] = value
        proc = subprocess.run(
            ["lms", *args],
            env=environ,
            cwd=self.tmp,
            stdin=subprocess.DEVNULL if input is None else None,
            input=input,
            capture_output=True,
            timeout=timeout,
        )
        return Result(proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8"))

    def popen(self, *args: str, ignore_sigint: bool = False) -> subprocess.Popen[bytes]:
        """Start ``lms`` in the background; ``ignore_sigint`` starts it as a non-interactive shell's
        background job would (SIGINT ignored, inherited across exec)."""
        return subprocess.Popen(
            ["lms", *args],
            env=self.env,
            cwd=self.tmp,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=_ignore_sigint if ignore_sigint else None,
        )

    def json(self, *args: str) -> Any:
        result = self.run(*args)
        assert result.code == 0, result
        return json.loads(result.stdout)


@pytest.fixture
def home(tmp_path: Path) -> Home:
    h = Home(tmp_path / "lmstudio-home")
    h.update_settings(download_seconds=0.05)
    return h


@pytest.fixture
def lms(home: Home, tmp_path: Path) -> Iterator[Lms]:
    runner = Lms(home, install_lms(tmp_path / "bin").parent, tmp_path)
    yield runner
    # never leave a server behind, whatever the test did
    from fake_lms.cli.background import running_server, stop

    info = running_server(home)
    if info is not None:
        stop(home, info)


@pytest.fixture
def server(home: Home) -> Iterator[Any]:
    """An in-process fake LM Studio sharing the home with the fake lms."""
    from fake_lms import FakeLMStudio

    with FakeLMStudio(home=home) as fake:
        yield fake
