"""Locate, start and stop the LM Studio a test run uses; say precisely why when there is none.

* **live**: probe the URL; if nothing answers and starting is allowed, run ``lms server start
  --port N`` and wait; otherwise the run has no server, with the reason and the fix.
* **fake**: one bundled fake LM Studio *process* for the whole run, shared by all xdist workers: the
  first worker that needs it starts it under the run directory's lock; the controller stops it.
  The fake ``lms`` is put first on ``PATH`` (and ``LMS_FAKE_HOME`` set) for the run.
* **auto**: live when reachable, else fake.

A fake that exits during the run (killed, crashed) is not restarted: every test after it is told
that it exited, with the last line of its log, and the summary says it had already exited instead
of claiming to have stopped it.

The outcome (a server, or the reason there is none) is written to the run directory, so every
worker gets the same answer and the work is done once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pytest_lmstudio import readiness
from pytest_lmstudio.client.urls import DEFAULT_PORT
from pytest_lmstudio.rundir import LockTimeout, RunDir
from pytest_lmstudio.settings import Settings

SERVER_FILE = "server.json"
FAKE_LOG = "fake-server.log"  # the bundled fake's stderr, in the run directory
EXIT_FILE = "fake-exit.json"  # how the run's fake ended, once a process of the run found it gone
LOG_TAIL_LINES = 5
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}  # fake servers this process started
FAKE_START_TIMEOUT = 30.0
LIVE_START_TIMEOUT = 60.0


class Unavailable(Exception):
    """No usable LM Studio (or model). ``reason`` says what is wrong, ``fix`` what to do."""

    def __init__(self, reason: str, fix: str = "", kind: str = "unavailable", detail: str = "") -> None:
        super().__init__(f"{reason}. {fix}".strip() if fix else reason)
        self.reason = reason
        self.fix = fix
        self.kind = kind
        self.detail = detail  # long details (every place looked...): shown once, in the summary

    def to_json(self) -> dict[str, str]:
        return {"reason": self.reason, "fix": self.fix, "kind": self.kind, "detail": self.detail}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Unavailable:
        return cls(
            data.get("reason", "LM Studio is unavailable"),
            data.get("fix", ""),
            data.get("kind", ""),
            data.get("detail", ""),
        )


@dataclass(frozen=True)
class LMStudioServer:
    """The LM Studio a run talks to (the ``lmstudio_server`` fixture)."""

    url: str  # server root, e.g. http://127.0.0.1:1234
    mode: str  # "live" or "fake"
    how: str  # how it was obtained, for humans
    version: str | None = None
    started_by_run: bool = False
    pid: int | None = None
    home: str | None = None  # fake LM Studio home (fake mode)
    bin_dir: str | None = None  # directory holding the fake `lms` (fake mode)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (``<root>/v1``)."""
        return self.url + "/v1"

    @property
    def is_fake(self) -> bool:
        return self.mode == "fake"


# -- obtaining -----------------------------------------------------------------------------------


def obtain(settings: Settings, run: RunDir) -> LMStudioServer:
    """The run's server, obtained once per run (under the run lock) and shared by every worker."""
    try:
        with run.locked():
            return _obtain_once(settings, run)
    except LockTimeout as exc:
        raise Unavailable(
            f"another process of this run took too long to start LM Studio ({exc})",
            "Check the fake's log in the run directory, or start LM Studio yourself",
            kind="lock-timeout",
        ) from None


def _obtain_once(settings: Settings, run: RunDir) -> LMStudioServer:
    """Under the run lock: the recorded outcome, or obtain the server and record the outcome."""
    recorded = run.read(SERVER_FILE)
    if recorded is not None:
        if recorded.get("status") == "ok":
            return LMStudioServer(**recorded["server"])
        raise Unavailable.from_json(recorded.get("error", {}))
    try:
        server = _obtain(settings, run)
    except Unavailable as exc:
        run.write(SERVER_FILE, {"status": "unavailable", "error": exc.to_json()})
        raise
    run.write(SERVER_FILE, {"status": "ok", "server": asdict(server)})
    return server


def _obtain(settings: Settings, run: RunDir) -> LMStudioServer:
    if settings.mode == "off":
        raise Unavailable(
            "LM Studio tests are turned off (--lmstudio-mode=off)",
            "Run with --lmstudio-mode=live, fake or auto to run them",
            kind="off",
        )
    if settings.mode == "fake":
        return start_fake(run, settings.fake_port, settings.fake_version)
    found = readiness.probe(settings.url, timeout=2.0)
    if found.up:
        return LMStudioServer(settings.url, "live", "found running", found.version)
    if settings.mode == "auto":
        return start_fake(run, settings.fake_port, settings.fake_version)
    return start_live(settings, run, found.detail)


def start_live(settings: Settings, run: RunDir, detail: str) -> LMStudioServer:
    url = settings.url
    not_reachable = (
        f"LM Studio is not reachable at {url} ({detail})"
        if detail
        else f"LM Studio is not reachable at {url}"
    )
    if not settings.start:
        raise Unavailable(
            f"{not_reachable}; starting it is turned off (--no-lmstudio-start)",
            "Start LM Studio (the app, or `lms server start`), or run with "
            "--lmstudio-mode=fake to use the bundled fake",
            kind="not-reachable",
        )
    from pytest_lmstudio.errors import LmsNotFound
    from pytest_lmstudio.lms import find_lms

    try:
        lms_path = find_lms()
    except LmsNotFound:
        raise Unavailable(
            f"{not_reachable}, and `lms` was not found (not on PATH, nor in the LM Studio home's bin "
            "directory), so it could not be started",
            "Install LM Studio and run `lms server start`, or run with --lmstudio-mode=fake",
            kind="lms-not-found",
        ) from None
    port = urlsplit(url).port or DEFAULT_PORT
    host = urlsplit(url).hostname or "127.0.0.1"
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise Unavailable(
            f"{not_reachable}; it is not on this machine, so `lms server start` cannot help",
            "Start LM Studio on that host, or point --lmstudio-url at a local one",
            kind="not-reachable",
        )
    from pytest_lmstudio.errors import LmsCommandFailed, LMStudioTimeout
    from pytest_lmstudio.lms import Lms

    try:  # the runner never blocks on a daemon holding the pipes, and kills the process group on timeout
        Lms(lms_path).server_start(port, timeout=LIVE_START_TIMEOUT)
    except (LmsCommandFailed, LMStudioTimeout, OSError) as exc:
        raise Unavailable(
            f"{not_reachable}; `lms server start --port {port}` failed: {exc}",
            "Start LM Studio yourself and run again",
            kind="not-reachable",
        ) from None
    try:
        found = readiness.wait_until(
            lambda: readiness.probe(url),
            timeout=LIVE_START_TIMEOUT,
            what=f"LM Studio started with `lms server start --port {port}`",
        )
    except readiness.NotReady as exc:
        raise Unavailable(str(exc), "Start LM Studio yourself and run again", kind="not-reachable") from None
    return LMStudioServer(
        url,
        "live",
        f"started with `{lms_path} server start --port {port}`",
        found.version,
        started_by_run=True,
        extra={"lms": str(lms_path)},
    )


def start_fake(run: RunDir, port: int | None = None, version: str | None = None) -> LMStudioServer:
    """Start the bundled fake LM Studio as a process of its own (it exits with the controller), on
    ``port`` (``None``: a free one), reporting LM Studio ``version`` (``None``: the fake's own)."""
    home = run.path / "fake-home"
    bin_dir = run.path / "bin"
    log_file = run.path / FAKE_LOG
    bin_dir.mkdir(exist_ok=True)
    install_fake_lms(bin_dir, home)
    with open(log_file, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fake_lms",
                "serve",
                "--port",
                str(port or 0),
                "--home",
                str(home),
                "--watch-pid",
                str(run.controller_pid),
                *(["--lmstudio-version", version] if version else []),
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    assert process.stdout is not None
    _CHILDREN[process.pid] = process  # kept, so it is not reported as leaked while it serves the run
    url = _first_line(process, FAKE_START_TIMEOUT)
    process.stdout.close()
    if not url.startswith("http://"):
        _terminate(process.pid)
        tail = readiness._log_tail(log_file)
        if port and "cannot listen" in tail:
            raise Unavailable(
                f"the bundled fake LM Studio cannot listen on port {port} (--lmstudio-fake-port){tail}",
                f"Stop what is using port {port} (a real LM Studio?), or choose another --lmstudio-fake-port",
                kind="fake-port-taken",
            )
        raise Unavailable(
            f"the bundled fake LM Studio did not start (exit code {process.poll()}){tail}",
            "This is a bug in pytest-lmstudio; please report it with the log above",
            kind="fake-failed",
        )
    found = readiness.probe(url)
    return LMStudioServer(
        url,
        "fake",
        f"bundled fake LM Studio (pid {process.pid})",
        found.version,
        started_by_run=True,
        pid=process.pid,
        home=str(home),
        bin_dir=str(bin_dir),
    )


def _first_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    import selectors

    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    buffer = b""
    try:
        while b"\n" not in buffer and time.monotonic() < deadline:
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                break
            buffer += chunk
    finally:
        selector.close()
    return buffer.split(b"\n", 1)[0].decode(errors="replace").strip()


def install_fake_lms(bin_dir: Path, home: Path) -> Path:
    """Put an ``lms`` launcher for the fake into ``bin_dir`` (using this interpreter). It defaults to
    ``home`` when ``LMS_FAKE_HOME`` is unset, for tools that scrub the environment of what they run."""
    from fake_lms.cli.launcher import install_lms

    return Path(install_lms(bin_dir, home=home))


def activate_fake_environment(server: LMStudioServer) -> dict[str, str | None]:
    """Put the fake ``lms`` first on PATH and point it at the fake home, for this process and the
    subprocesses it starts. Returns the previous values (for :func:`restore_environment`)."""
    previous = {name: os.environ.get(name) for name in ("PATH", "LMS_FAKE_HOME", "NO_PROXY", "no_proxy")}
    if server.bin_dir and server.home:
        os.environ["PATH"] = server.bin_dir + os.pathsep + os.environ.get("PATH", "")
        os.environ["LMS_FAKE_HOME"] = server.home
        # the fake is on loopback: keep clients that honour proxy variables from sending it away
        for name in ("NO_PROXY", "no_proxy"):
            current = [h for h in (os.environ.get(name) or "").split(",") if h.strip()]
            os.environ[name] = ",".join(dict.fromkeys([*current, "127.0.0.1", "localhost", "::1"]))
    return previous


def restore_environment(previous: dict[str, str | None]) -> None:
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


# -- a fake that died -----------------------------------------------------------------------------


def fake_running(pid: int) -> bool:
    """Is ``pid`` still the bundled fake? (A reused pid is not: never signal or trust one.)"""
    from fake_lms.procs import is_fake_server, pid_alive

    return pid_alive(pid) and is_fake_server(pid)


def fake_exit(server: LMStudioServer, run: RunDir) -> dict[str, Any] | None:
    """``None`` while the run's own fake serves (or the server is not one); once it has exited, what
    is known of its end. The first process of the run to find it gone records that, so every worker
    and the summary tell the same story."""
    if not (server.is_fake and server.started_by_run and server.pid) or fake_running(server.pid):
        return None
    with run.locked():
        record: dict[str, Any] | None = run.read(EXIT_FILE)
        if record is None or record.get("pid") != server.pid:
            record = {
                "pid": server.pid,
                "url": server.url,
                "status": _exit_status(server.pid),
                "tail": _log_lines(run.path / FAKE_LOG),
                "noticed_by": os.environ.get("PYTEST_XDIST_WORKER", "main"),
            }
            run.write(EXIT_FILE, record)
    return record


def exited(record: dict[str, Any]) -> Unavailable:
    """Why the tests after the fake's death cannot run: it exited, how, and its last log line."""
    status = f" ({record['status']})" if record.get("status") else ""
    tail = record.get("tail") or []
    last = f"; the last line of its log: {tail[-1]!r}" if tail else "; its log is empty"
    return Unavailable(
        f"the bundled fake LM Studio (pid {record['pid']}) exited during the run{status} and no longer "
        f"answers at {record['url']}{last}",
        "Find what ended it (a test or the application killing processes, or an error at the end of "
        "its log, shown in the LM Studio summary) and run again; it is not restarted, as a new fake "
        "would hide what stopped it and lack what the run set up",
        kind="fake-exited",
        detail="\n".join(tail),
    )


def exit_lines(record: dict[str, Any]) -> list[str]:
    """The summary's account of a fake that died before the end: never "stopped"."""
    status = f" ({record['status']})" if record.get("status") else ""
    tail = record.get("tail") or []
    head = f"the bundled fake LM Studio (pid {record['pid']}) had already exited{status}: nothing to stop"
    if not tail:
        return [head + "; its log is empty"]
    return [head + "; its log ends with:", *(f"  {line}" for line in tail)]


def _exit_status(pid: int) -> str:
    """How the fake ended, when this process started it (only a parent learns a child's exit status)."""
    child = _CHILDREN.get(pid)
    code = None
    if child is not None:  # found dead by the caller: its exit status may lag a moment behind
        with contextlib.suppress(subprocess.TimeoutExpired):
            code = child.wait(timeout=1.0)
    if code is None:
        return ""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit code {code}"


def _log_lines(log_file: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    try:
        text = log_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line.rstrip() for line in text.strip().splitlines()[-lines:]]


# -- releasing -----------------------------------------------------------------------------------


def release(run: RunDir) -> list[str]:
    """Stop the server if this run started it (controller only). Returns what was done, in the
    summary's words: a fake that had already exited is reported as such, not as stopped."""
    recorded = run.read(SERVER_FILE)
    if not recorded or recorded.get("status") != "ok":
        return []
    server = LMStudioServer(**recorded["server"])
    if not server.started_by_run:
        return []
    if server.is_fake and server.pid:
        record = fake_exit(server, run)
        if record is not None:
            _CHILDREN.pop(server.pid, None)
            return exit_lines(record)
        _terminate(server.pid)
        return [f"stopped the bundled fake LM Studio (pid {server.pid})"]
    lms = server.extra.get("lms")
    if lms:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run([lms, "server", "stop"], capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        return ["stopped LM Studio's server (`lms server stop`), which this run had started"]
    return []


def _terminate(pid: int, timeout: float = 10.0) -> None:
    from fake_lms.procs import pid_alive

    child = _CHILDREN.pop(pid, None)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM)
    if child is not None:  # ours: wait for it (this also reaps it)
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)
        return
    deadline = time.monotonic() + timeout  # started by another process (an xdist worker): poll it
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)
