"""The run directory: state shared by the controller and every xdist worker of one pytest run.

The controller (or the only process, without xdist) creates it in ``pytest_configure`` and hands
its path to workers through ``workerinput``. JSON files in it are read and written under one file
lock, so "start the fake once", "load each model once" and "unload once at the end" hold across
workers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

WORKERINPUT_KEY = "lmstudio_run_dir"
CONTROLLER_PID_KEY = "lmstudio_controller_pid"


PREFIX = "pytest-lmstudio-"


def sweep_stale(min_age: float = 60.0) -> None:
    """Remove run directories whose controller is gone (a killed run cannot clean up after itself;
    its fake server exits by itself, watching the controller's pid)."""
    from fake_lms.procs import pid_alive

    now = time.time()
    for path in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        try:
            if now - path.stat().st_mtime < min_age:
                continue
            pid = int(json.loads((path / "controller.json").read_text()).get("pid", 0))
        except (OSError, ValueError, AttributeError):
            continue
        if pid and not pid_alive(pid):
            shutil.rmtree(path, ignore_errors=True)


def planned_path() -> Path:
    """A name for a run directory that is not made yet: a run that never needs LM Studio makes none."""
    return Path(tempfile.gettempdir()) / f"{PREFIX}{secrets.token_hex(8)}"


class LockTimeout(Exception):
    """A run-directory lock could not be taken in time."""


class RunDir:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._locks: dict[str, Any] = {}

    @classmethod
    def create(cls, path: Path | None = None, controller_pid: int | None = None) -> RunDir:
        """A new run directory; or ``path``, planned by the xdist controller (:func:`planned_path`)
        and made by whichever of its workers needs it first."""
        sweep_stale()
        if path is None:
            run = cls(tempfile.mkdtemp(prefix=PREFIX))
        else:
            run = cls(path)
            run.path.mkdir(mode=0o700, exist_ok=True)
        if run.read("controller.json") is None:
            run.write("controller.json", {"pid": controller_pid or os.getpid()})
        return run

    @property
    def controller_pid(self) -> int:
        return int(self.read("controller.json", {}).get("pid", os.getpid()))

    @contextlib.contextmanager
    def locked(self, name: str = "run", timeout: float = 600) -> Iterator[None]:
        """Hold the named lock (``run`` guards the shared JSON files; work that takes long, such as
        preparing one model, takes a lock of its own so other workers are not held up)."""
        lock = self._locks.get(name)
        if lock is None:
            from filelock import FileLock  # imported on use: plugin start-up stays cheap

            digest = hashlib.sha256(name.encode()).hexdigest()[:16] if name != "run" else "run"
            lock = self._locks[name] = FileLock(str(self.path / f"{digest}.lock"))
        from filelock import Timeout

        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise LockTimeout(
                f"another pytest-lmstudio process held the {name!r} lock for over {timeout:.0f}s"
            ) from None
        try:
            yield
        finally:
            lock.release()

    def read(self, name: str, default: Any = None) -> Any:
        try:
            return json.loads((self.path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return default

    def write(self, name: str, data: Any) -> None:
        from fake_lms.files import write_json_atomic

        write_json_atomic(self.path / name, data)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
