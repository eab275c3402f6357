"""Leases: which pytest runs use which models of one shared LM Studio, so that no run unloads a
model another run is still using.

Two runs against one LM Studio (two CI jobs on one box, a developer's run next to an agent's) each
have their own run directory and cannot see each other's ledger. So each run also writes a *lease*
— the model keys it uses — into a directory every run on this machine shares, one folder per LM
Studio (its URL). The instances pytest-lmstudio runs loaded are listed there too (``loaded.json``).
At its end a run unloads the instances of the models it used that no other live run holds, and
leaves the rest to the last run using them, which unloads them at its own end.

A run takes its lease before it asks LM Studio anything about the model, and ends under the same
lock, so a run that is about to find a model loaded and one that is about to unload it never cross.
A run killed before its end leaves a lease whose controller is gone: it counts for nothing. What a
crashed run loaded and nobody else uses is left to LM Studio's idle TTL (the run loaded it with one).

Runs on other machines cannot be seen from here; for an LM Studio that is not on this machine the
plugin leaves what it loaded to that TTL instead of unloading it (see :func:`scope`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

LEASE_DIR_ENV = "PYTEST_LMSTUDIO_LEASE_DIR"
LOADED = "loaded.json"
LOCK_SECONDS = 120.0
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]", "0.0.0.0"})

Scope = Literal["own", "local", "remote"]


def scope(url: str, is_fake: bool) -> Scope:
    """Who else may use this LM Studio: ``own`` (the bundled fake the run started: nobody), ``local``
    (one on this machine: other runs here, seen through leases), ``remote`` (another machine's:
    runs elsewhere, which no lease here can see)."""
    if is_fake:
        return "own"
    return "local" if (urlsplit(url).hostname or "").lower() in LOOPBACK else "remote"


def base_dir() -> Path:
    """Where leases live: ``$PYTEST_LMSTUDIO_LEASE_DIR``, else a per-user folder in the temp dir."""
    configured = os.environ.get(LEASE_DIR_ENV)
    if configured:
        return Path(configured)
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"pytest-lmstudio.leases-{uid}"


def server_id(url: str) -> str:
    """One name for one LM Studio, however the URL spells it (``localhost`` or ``127.0.0.1``,
    with or without ``/v1``)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    host = "127.0.0.1" if host in LOOPBACK else host
    port = parts.port or (443 if parts.scheme == "https" else 1234)
    return hashlib.sha256(f"{parts.scheme}://{host}:{port}".encode()).hexdigest()[:16]


def _alive(owner: dict[str, Any]) -> bool:
    from fake_lms.procs import pid_alive

    if owner.get("host") != socket.gethostname():
        return True  # a shared temp dir seen from another machine: its processes cannot be checked
    pid = owner.get("pid")
    return isinstance(pid, int) and pid_alive(pid)


@dataclass
class EndOfRun:
    """What a run's end did with the instances it loaded or was the last to use."""

    unloaded: list[str] = field(default_factory=list)
    left_in_use: dict[str, int] = field(default_factory=dict)  # identifier -> other runs using it
    kept: list[str] = field(default_factory=list)
    left_to_ttl: list[str] = field(default_factory=list)  # LM Studio on another machine: its TTL frees them


class Leases:
    """The leases of one LM Studio (``url``), seen by the run ``run_name`` whose controller is ``pid``."""

    def __init__(self, url: str, run_name: str, pid: int, base: Path | None = None) -> None:
        self.url = url
        self.run_name = run_name
        self.owner = {"pid": pid, "host": socket.gethostname()}
        self.dir = (base or base_dir()) / server_id(url)
        self._lock: Any = None

    @property
    def _lease_file(self) -> Path:
        return self.dir / f"{self.run_name}.lease.json"

    @property
    def holding(self) -> bool:
        """Whether this run took a lease (it asked for a model)."""
        return self._lease_file.exists()

    @contextlib.contextmanager
    def locked(self, timeout: float = LOCK_SECONDS) -> Iterator[None]:
        from pytest_lmstudio.rundir import LockTimeout

        if self._lock is None:
            from filelock import FileLock

            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._lock = FileLock(str(self.dir / "leases.lock"))
        from filelock import Timeout

        try:
            self._lock.acquire(timeout=timeout)
        except Timeout:
            raise LockTimeout(
                f"another pytest run held the leases of {self.url} for over {timeout:.0f}s"
            ) from None
        try:
            yield
        finally:
            self._lock.release()

    def hold(self, key: str) -> None:
        """Add ``key`` to this run's lease (before the run asks LM Studio about it)."""
        with self.locked():
            lease = self._read(self._lease_file) or {
                **self.owner,
                "url": self.url,
                "since": time.time(),
                "keys": [],
            }
            if key not in lease["keys"]:
                lease["keys"].append(key)
                self._write(self._lease_file, lease)

    def record_load(self, identifier: str, key: str) -> None:
        """``identifier`` (an instance of ``key``) was loaded by this run: the last run using it
        unloads it."""
        with self.locked():
            loaded = self._read(self.dir / LOADED) or {}
            loaded[identifier] = {"key": key, "run": self.run_name, **self.owner}
            self._write(self.dir / LOADED, loaded)

    def others(self) -> list[dict[str, Any]]:
        """The leases of the other runs still alive (call under :meth:`locked`); a dead run's lease
        is removed."""
        out = []
        for path in sorted(self.dir.glob("*.lease.json")):
            if path == self._lease_file:
                continue
            lease = self._read(path)
            if lease is None:
                continue
            if _alive(lease):
                out.append(lease)
            else:
                path.unlink(missing_ok=True)
        return out

    def end(
        self, own_loads: Iterable[tuple[str, str]], *, keep: bool, unload: Callable[[str], bool]
    ) -> EndOfRun:
        """End this run's lease. Of the instances runs loaded (``own_loads``: this run's, as
        ``(identifier, key)``), those of the keys this run used that no other live run holds are
        unloaded with ``unload`` (or, with ``keep``, left loaded and no run's to unload any more);
        those another run holds are left to it."""
        result = EndOfRun()
        with self.locked():
            lease = self._read(self._lease_file) or {"keys": []}
            self._lease_file.unlink(missing_ok=True)
            others = self.others()
            loaded: dict[str, Any] = self._read(self.dir / LOADED) or {}
            for identifier, key in own_loads:
                loaded.setdefault(identifier, {"key": key, "run": self.run_name, **self.owner})
            mine = set(lease["keys"]) | {key for _, key in own_loads}
            for identifier, record in list(loaded.items()):
                key = record.get("key")
                holders = sum(key in other.get("keys", ()) for other in others)
                if key not in mine:
                    if not holders and record.get("run") != self.run_name and not _alive(record):
                        del loaded[identifier]  # a crashed run's load nobody uses: its TTL frees it
                    continue
                if keep:
                    del loaded[identifier]  # the user keeps it: no later run unloads it either
                    result.kept.append(identifier)
                elif holders:
                    result.left_in_use[identifier] = holders
                else:
                    del loaded[identifier]
                    if unload(identifier):
                        result.unloaded.append(identifier)
            self._write(self.dir / LOADED, loaded)
        return result

    def in_use_by_others(self) -> int:
        """How many other live runs hold a lease on this LM Studio."""
        with self.locked():
            return len(self.others())

    @staticmethod
    def _read(path: Path) -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    @staticmethod
    def _write(path: Path, data: Any) -> None:
        from fake_lms.files import write_json_atomic

        write_json_atomic(path, data)
