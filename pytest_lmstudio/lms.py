"""The ``lms`` command: find it the way LM Studio installs it, run it without ever hanging, parse ``--json``.

Discovery order (:func:`find_lms`):

1. ``lms`` on ``PATH`` (``shutil.which``);
2. ``<LM Studio home>/bin/lms``, the home resolved as LM Studio does: the trimmed content of
   ``~/.lmstudio-home-pointer`` if that file exists, else ``~/.cache/lm-studio`` if that directory
   exists, else ``~/.lmstudio``;
3. ``~/.lmstudio/bin/lms`` (where other tools look, if the home resolved elsewhere);
4. ``%USERPROFILE%\\.lmstudio\\bin\\lms.exe`` (Windows; also checked elsewhere when USERPROFILE is set).

Real ``lms`` writes data (``--json``, tables) to stdout and messages (``Error: ...``, progress
notes) to stderr; exit status 0 means success.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pytest_lmstudio.errors import (
    BadResponse,
    DownloadFailed,
    LmsCommandFailed,
    LmsNotFound,
    LMStudioTimeout,
    LoadFailed,
    ModelNotFound,
)

__all__ = ["DEFAULT_LMS_TIMEOUT", "Lms", "LmsResult", "find_lms", "lms_candidates", "lmstudio_home"]

DEFAULT_LMS_TIMEOUT = 60.0
INSTALL_HINT = (
    "Install LM Studio from https://lmstudio.ai/download and start it once (it installs `lms` in"
    " ~/.lmstudio/bin), or add that directory to PATH, or pass the path of `lms` explicitly."
)
_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def _home_dir(environ: Mapping[str, str]) -> Path:
    """The OS home directory as LM Studio sees it (HOME on POSIX, USERPROFILE on Windows)."""
    value = environ.get("USERPROFILE") if os.name == "nt" else environ.get("HOME")
    if value:
        return Path(value)
    return Path.home()


def lmstudio_home(environ: Mapping[str, str] | None = None) -> Path:
    """LM Studio's home directory, resolved like LM Studio: pointer file, legacy dir, default."""
    env = os.environ if environ is None else environ
    home = _home_dir(env)
    try:
        home = home.resolve()
    except OSError:  # pragma: no cover - unusual filesystems
        pass
    pointer = home / ".lmstudio-home-pointer"
    if pointer.is_file():
        try:
            target = pointer.read_text(encoding="utf-8").strip()
        except OSError:
            target = ""
        if target:
            return Path(target).expanduser()
    legacy = home / ".cache" / "lm-studio"
    if legacy.is_dir():
        return legacy
    return home / ".lmstudio"


def lms_candidates(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Every file path (after PATH) where ``lms`` may be, in the order they are tried."""
    env = os.environ if environ is None else environ
    names = ["lms.exe", "lms"] if os.name == "nt" else ["lms"]
    out: list[Path] = []
    for directory in (lmstudio_home(env) / "bin", _home_dir(env) / ".lmstudio" / "bin"):
        for name in names:
            if directory / name not in out:
                out.append(directory / name)
    profile = env.get("USERPROFILE")
    if profile:
        win = Path(profile) / ".lmstudio" / "bin" / "lms.exe"
        if win not in out:
            out.append(win)
    return out


def _is_executable(path: Path) -> bool:
    return path.is_file() and (os.name == "nt" or os.access(path, os.X_OK))


def find_lms(environ: Mapping[str, str] | None = None) -> Path:
    """The ``lms`` executable, or raise :class:`~pytest_lmstudio.errors.LmsNotFound` listing every
    place looked at. ``environ`` (default ``os.environ``) supplies ``PATH``, ``HOME``, ``USERPROFILE``."""
    env = os.environ if environ is None else environ
    path_value = env.get("PATH", "")
    found = shutil.which("lms", path=path_value)
    if found:
        return Path(found)
    searched = [f"PATH ({path_value or 'empty'})"]
    for candidate in lms_candidates(env):
        if _is_executable(candidate):
            return candidate
        note = " (exists but is not executable)" if candidate.exists() else ""
        searched.append(f"{candidate}{note}")
    raise LmsNotFound(
        "LM Studio CLI `lms` not found. Looked in: " + "; ".join(searched) + ". " + INSTALL_HINT,
        searched=searched,
    )


@dataclass(frozen=True)
class LmsResult:
    """One finished ``lms`` run. ``stdout``/``stderr`` are decoded text (ANSI codes kept)."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def command(self) -> str:
        return " ".join(self.args)

    def json(self) -> Any:
        """The JSON printed on stdout (ANSI codes and stray non-JSON lines ignored)."""
        return parse_json_output(self.stdout, command=self.command)


def strip_ansi(text: str) -> str:
    return _ANSI_RE.sub("", text)


def parse_json_output(stdout: str, *, command: str = "lms") -> Any:
    """Parse ``--json`` output: the whole of stdout, or else the last line that is JSON."""
    text = strip_ansi(stdout).strip()
    if text:
        try:
            return json.loads(text)
        except ValueError:
            for line in reversed(text.splitlines()):
                line = line.strip()
                if line[:1] in ("{", "["):
                    try:
                        return json.loads(line)
                    except ValueError:
                        continue
    raise BadResponse(
        f"`{command}` printed no JSON on stdout (got {text[:200]!r}). This `lms` may be too old for"
        f" --json; update LM Studio."
    )


def _tail(text: str, lines: int = 6) -> str:
    kept = [line for line in strip_ansi(text).strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:])


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill the process and everything in its session (it was started in a new one)."""
    try:
        if os.name != "nt":
            os.killpg(process.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows
            process.kill()
    except (ProcessLookupError, PermissionError, OSError):
        try:
            process.kill()
        except OSError:
            pass


def _read(handle: IO[bytes]) -> str:
    handle.seek(0)
    return handle.read().decode("utf-8", errors="replace")


class Lms:
    """Runs ``lms``. ``path`` defaults to :func:`find_lms`; ``env`` is the full environment of the
    child (default: inherit ours); ``timeout`` the default seconds per command.

    Commands never wait for input (stdin is ``/dev/null``) and never outlive their timeout: the child
    runs in its own session and the whole session is killed on timeout. Output goes to temporary
    files, not pipes, so a daemon that ``lms`` leaves running cannot block us.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_LMS_TIMEOUT,
    ) -> None:
        self.path = Path(path) if path is not None else find_lms(env)
        self.env = dict(env) if env is not None else None
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Lms(path={str(self.path)!r}, timeout={self.timeout!r})"

    # -- running ------------------------------------------------------------------------------
    def run(self, *args: str, timeout: float | None = None, check: bool = True) -> LmsResult:
        """Run ``lms <args>``. Raises :class:`LMStudioTimeout` after ``timeout`` seconds and, when
        ``check`` is true, :class:`LmsCommandFailed` for a non-zero exit."""
        argv = [str(self.path), *[str(a) for a in args]]
        limit = self.timeout if timeout is None else timeout
        shown = "lms " + " ".join(argv[1:])
        started = time.monotonic()
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    env=self.env,
                    start_new_session=os.name != "nt",
                )
            except OSError as exc:
                raise LmsNotFound(
                    f"Could not run `{shown}` ({exc}). {INSTALL_HINT}", searched=[str(self.path)]
                ) from exc
            try:
                returncode = process.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                _kill(process)
                process.wait()
                raise LMStudioTimeout(
                    f"`{shown}` did not finish within {limit:g} s and was killed"
                    f" (last output: {_tail(_read(err) + _read(out)) or 'none'}). Raise the timeout, or run"
                    f" the command by hand to see whether it waits for LM Studio."
                ) from None
            result = LmsResult(
                args=argv,
                returncode=returncode,
                stdout=_read(out),
                stderr=_read(err),
                duration=time.monotonic() - started,
            )
        if check and returncode != 0:
            raise LmsCommandFailed(
                f"`{shown}` failed with exit code {returncode}:"
                f" {_tail(result.stderr) or _tail(result.stdout) or 'no output'}",
                args=argv,
                returncode=returncode,
                stdout=result.stdout,
                stderr=result.stderr,
            )
        return result

    def run_json(self, *args: str, timeout: float | None = None) -> Any:
        """Run a ``--json`` command (``--json`` is appended if missing) and parse stdout."""
        argv = list(args) if "--json" in args else [*args, "--json"]
        return self.run(*argv, timeout=timeout).json()

    # -- helpers --------------------------------------------------------------------------------
    def version(self) -> str:
        """The CLI version (``lms version --json`` → ``version``; older: ``lms --version``)."""
        try:
            data = self.run_json("version")
            version = data.get("version") if isinstance(data, dict) else None
            if isinstance(version, str):
                return version
        except (LmsCommandFailed, BadResponse):
            pass
        text = strip_ansi(self.run("--version").stdout).strip()
        match = re.search(r"CLI commit:\s*(\S+)", text)
        if match:
            return match.group(1)
        return text.splitlines()[-1].strip() if text else ""

    def ps(self) -> list[dict[str, Any]]:
        """``lms ps --json``: the loaded instances (``identifier``, ``modelKey``, ``contextLength``...)."""
        return _list_of_dicts(self.run_json("ps"), "lms ps --json")

    def ls(self, *, llm: bool = False, embedding: bool = False) -> list[dict[str, Any]]:
        """``lms ls --json`` (optionally ``--llm`` / ``--embedding``): the downloaded models."""
        args = ["ls"] + (["--llm"] if llm else []) + (["--embedding"] if embedding else [])
        return _list_of_dicts(self.run_json(*args), "lms ls --json")

    def server_status(self) -> dict[str, Any]:
        """``lms server status --json`` → e.g. ``{"running": true, "port": 1234}``."""
        data = self.run_json("server", "status")
        if not isinstance(data, dict) or "running" not in data:
            raise BadResponse(
                f"`lms server status --json` printed {json.dumps(data)[:200]}, expected {{'running': ...}}"
            )
        return data

    def server_start(
        self,
        port: int | None = None,
        *,
        bind: str | None = None,
        cors: bool = False,
        timeout: float | None = None,
    ) -> LmsResult:
        """``lms server start [--port N] [--bind ADDR] [--cors]``."""
        args = ["server", "start"]
        if port is not None:
            args += ["--port", str(port)]
        if bind is not None:
            args += ["--bind", bind]
        if cors:
            args.append("--cors")
        return self.run(*args, timeout=timeout)

    def server_stop(self, *, timeout: float | None = None) -> LmsResult:
        """``lms server stop`` (exits 1 with ``Error: The server is not running.`` when it is not)."""
        return self.run("server", "stop", timeout=timeout)

    def get(self, key: str, *, yes: bool = True, timeout: float | None = None) -> LmsResult:
        """``lms get <key> [--yes]``; a failure raises :class:`DownloadFailed`."""
        args = ["get", key] + (["--yes"] if yes else [])
        try:
            return self.run(*args, timeout=timeout)
        except LmsCommandFailed as exc:
            raise DownloadFailed(
                f'`lms get {key}` could not download "{key}" (exit {exc.returncode}):'
                f" {_tail(exc.stderr) or _tail(exc.stdout) or 'no output'}. Check the key with `lms get`"
                f" on a terminal, the network, and disk space.",
                model=key,
            ) from exc

    def load(
        self,
        key: str,
        *,
        identifier: str | None = None,
        ttl: int | None = None,
        context_length: int | None = None,
        gpu: str | None = None,
        yes: bool = True,
        timeout: float | None = None,
    ) -> LmsResult:
        """``lms load <key> [--identifier] [--ttl] [--context-length] [--gpu] --yes``.

        Raises :class:`ModelNotFound` when no downloaded model matches, :class:`LoadFailed` otherwise."""
        args = ["load", key]
        if identifier is not None:
            args += ["--identifier", identifier]
        if ttl is not None:
            args += ["--ttl", str(ttl)]
        if context_length is not None:
            args += ["--context-length", str(context_length)]
        if gpu is not None:
            args += ["--gpu", gpu]
        if yes:
            args.append("--yes")
        try:
            return self.run(*args, timeout=timeout)
        except LmsCommandFailed as exc:
            output = strip_ansi(exc.stderr + "\n" + exc.stdout)
            detail = _tail(exc.stderr) or _tail(exc.stdout) or "no output"
            if re.search(r"model not found|no model found", output, re.IGNORECASE):
                raise ModelNotFound(
                    f'`lms load {key}` found no downloaded model matching "{key}": {detail}. See `lms ls`;'
                    f" download it with `lms get {key}`.",
                    model=key,
                ) from exc
            raise LoadFailed(
                f"`lms load {key}` failed (exit {exc.returncode}): {detail}. Free memory with"
                f" `lms unload --all` or try a smaller --context-length.",
                model=key,
            ) from exc

    def unload(
        self, identifier: str | None = None, *, all: bool = False, timeout: float | None = None
    ) -> LmsResult:
        """``lms unload <identifier>`` or ``lms unload --all``."""
        if identifier is not None and all:
            raise ValueError("pass an identifier or all=True, not both")
        args = ["unload"]
        if identifier is not None:
            args.append(identifier)
        if all:
            args.append("--all")
        return self.run(*args, timeout=timeout)


def _list_of_dicts(data: Any, command: str) -> list[dict[str, Any]]:
    if not isinstance(data, list):
        raise BadResponse(f"`{command}` printed {json.dumps(data)[:200]}, expected a JSON array")
    return [item for item in data if isinstance(item, dict)]


def run_lms(args: Sequence[str], **kwargs: Any) -> LmsResult:
    """Find ``lms`` and run it once: ``run_lms(["ps", "--json"])``."""
    return Lms().run(*args, **kwargs)
