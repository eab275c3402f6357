"""The fake LM Studio home on disk: catalog, downloaded models, settings and loaded instances.

Layout (mirrors LM Studio's own home where LM Studio has an equivalent)::

    <home>/models/<publisher>/<repo>/<file>          placeholder weights of downloaded models
    <home>/.internal/http-server-config.json         {"port": 1234, "networkInterface": "127.0.0.1"}
    <home>/.internal/fake-state.json                 settings, downloads, loaded instances (ours)
    <home>/.internal/fake-catalog.json               the catalog this home was created with (ours)
    <home>/server-logs/requests.jsonl                one JSON line per HTTP request
    <home>/server-logs/lms-invocations.jsonl         one JSON line per fake `lms` invocation

Every read-modify-write goes through :meth:`Home.transaction`, which holds the home's state lock
(:class:`fake_lms.locks.FileMutex`), so the fake server and any number of fake ``lms`` processes
can share one home. The state file is replaced under that lock without renaming over the old
file (:func:`fake_lms.files.replace_under_lock`): a reader that finds it missing for that moment
reads again under the lock. Reads are cached by the state file's identity (inode, size, mtime),
so a request costs one ``stat``.

Idle TTLs are evaluated lazily from ``last_used``: an instance whose TTL has passed is treated as
unloaded by every reader and pruned by the next writer, so no timer thread is needed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

from fake_lms.files import (
    discard_leftovers_under_lock,
    recover_under_lock,
    replace_under_lock,
    write_bytes_atomic,
    write_json_atomic,
)
from fake_lms.locks import FileMutex
from fake_lms.model.catalog import Catalog, CatalogError, ModelSpec
from fake_lms.model.identity import LMSTUDIO_VERSION, check_version

STATE_VERSION = 1
REAL_HOME_NAMES = (".lmstudio", ".cache/lm-studio")
T = TypeVar("T")


class StateError(Exception):
    """Base class for lifecycle errors; ``str()`` is a user-facing sentence."""


class ModelNotInCatalog(StateError):
    def __init__(self, name: str) -> None:
        super().__init__(f"No model found that matches model key {name!r}.")
        self.name = name


class ModelNotDownloaded(StateError):
    def __init__(self, key: str) -> None:
        super().__init__(f"Model {key!r} is not downloaded. Download it first with `lms get {key}`.")
        self.key = key


class InstanceNotFound(StateError):
    def __init__(self, identifier: str) -> None:
        super().__init__(f'Cannot find a model with the identifier "{identifier}".')
        self.identifier = identifier


class IdentifierInUse(StateError):
    def __init__(self, identifier: str) -> None:
        super().__init__(f'A model with the identifier "{identifier}" is already loaded.')
        self.identifier = identifier


class UnsafeHome(StateError):
    """Refuses to treat a real LM Studio home as a fake one."""


# setting -> (kind, minimum, maximum, may be None); kinds: "bool", "number", "choice", "version"
_SETTING_RULES: dict[str, tuple[str, float, float, bool]] = {
    "jit": ("bool", 0, 0, False),
    "auto_evict": ("bool", 0, 0, False),
    "jit_ttl_seconds": ("number", 0, 1e15, True),
    "require_auth": ("bool", 0, 0, False),
    "cors": ("bool", 0, 0, False),
    "load_seconds": ("number", 0, 3600, False),
    "load_seconds_per_gb": ("number", 0, 3600, False),
    "download_seconds": ("number", 0, 86400, False),
    "download_bytes_per_second": ("number", 1, 1e15, True),
    "overflow_stream": ("choice", 0, 0, False),
    "lmstudio_version": ("version", 0, 0, False),
    "allow_per_request_mcps": ("bool", 0, 0, False),
    "allow_mcp_json": ("bool", 0, 0, False),
}
OVERFLOW_STREAM = ("error", "status", "empty")  # see Settings.overflow_stream


def check_setting(name: str, value: Any) -> Any:
    """``value`` if it fits setting ``name`` (a bool is not a number, a string is neither, a
    number must be finite and in range); ``ValueError`` otherwise."""
    kind, low, high, nullable = _SETTING_RULES[name]
    if value is None and nullable:
        return None
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, not {value!r}")
        return value
    if kind == "version":
        return check_version(value)
    if kind == "choice":
        if value not in OVERFLOW_STREAM:
            raise ValueError(f"{name} must be one of {', '.join(OVERFLOW_STREAM)}, not {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number{' or null' if nullable else ''}, not {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}, not {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Server settings, persisted in the home. Names follow LM Studio's settings where it has them."""

    jit: bool = True  # "Just in Time Model Loading"
    auto_evict: bool = True  # "Only Keep Last JIT Loaded Model"
    jit_ttl_seconds: float | None = 3600.0  # "Auto Unload Unused JIT Models" after 60 minutes
    require_auth: bool = False  # "Require Authentication"
    cors: bool = False
    load_seconds: float = 0.0  # simulated fixed load time
    load_seconds_per_gb: float = 0.0  # simulated load time per GB of weights (realistic: ~1.5)
    download_seconds: float = 0.2  # simulated download duration when no speed is set
    download_bytes_per_second: float | None = None  # realistic: e.g. 50e6
    # a streamed request whose prompt overflows the context: "error" (0.4.21: HTTP 200 carrying the
    # error), "status" (older builds: the 400 a non-streamed request gets), "empty" (the GGUF path
    # seen in bug-tracker #2339: an empty 200 stream)
    overflow_stream: str = "error"
    # the LM Studio version the fake reports (/lms-status, the SDK, `lms daemon`)
    lmstudio_version: str = LMSTUDIO_VERSION
    # "Allow per-request MCPs" (ephemeral MCP servers) and "Allow calling servers from mcp.json"
    # (plugins; LM Studio honours it only with "Require Authentication" on): both off by default
    # (LM Studio's permission store: dynamicRemoteMcpServer and pluginUse "deny"; docs/fidelity.md)
    allow_per_request_mcps: bool = False
    allow_mcp_json: bool = False

    def load_delay(self, spec: ModelSpec) -> float:
        return max(0.0, self.load_seconds + self.load_seconds_per_gb * spec.size_bytes / 1e9)

    def download_duration(self, spec: ModelSpec) -> float:
        if self.download_bytes_per_second:
            return spec.size_bytes / float(self.download_bytes_per_second)
        return max(0.0, self.download_seconds)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        """Settings read from a home: unknown keys and values of the wrong type or range (a file
        edited by hand, or written by an older fake) fall back to the defaults."""
        out = {}
        for name, value in data.items():
            if name in _SETTING_RULES:
                try:
                    out[name] = check_setting(name, value)
                except ValueError:
                    pass
        return cls(**out)

    @classmethod
    def checked(cls, changes: Mapping[str, Any]) -> dict[str, Any]:
        """``changes`` validated (names, types, ranges) before anything is saved; raises
        ``ValueError`` naming every bad one."""
        unknown = set(changes) - cls.field_names()
        if unknown:
            known = ", ".join(sorted(cls.field_names()))
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}; known: {known}")
        out, problems = {}, []
        for name, value in changes.items():
            try:
                out[name] = check_setting(name, value)
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise ValueError("; ".join(problems))
        return out

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}


def _shallow_dict(obj: Settings | Instance) -> dict[str, Any]:
    """``dataclasses.asdict`` without its deep copy (which was a third of a state write)."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


@dataclass(frozen=True)
class Instance:
    """A loaded model instance."""

    identifier: str
    model_key: str
    context_length: int
    loaded_at: float
    last_used: float
    ttl_seconds: float | None = None
    jit: bool = False
    config: dict[str, Any] = field(default_factory=dict)

    def expired(self, now: float) -> bool:
        return self.ttl_seconds is not None and now - self.last_used >= self.ttl_seconds


@dataclass
class StateData:
    """The persisted part of a home. Treat snapshots as read-only; mutate only in a transaction."""

    settings: Settings = field(default_factory=Settings)
    downloaded: dict[str, float] = field(default_factory=dict)  # model key -> epoch seconds
    instances: list[Instance] = field(default_factory=list)
    token_hashes: list[str] = field(default_factory=list)
    evicted: list[dict[str, Any]] = field(default_factory=list)  # recent TTL/auto-evict unloads

    def live_instances(self, now: float | None = None) -> list[Instance]:
        now = time.time() if now is None else now
        return [inst for inst in self.instances if not inst.expired(now)]

    def to_json(self) -> dict[str, Any]:
        """The state as JSON data, for writing at once (values are shared, not copied)."""
        return {
            "version": STATE_VERSION,
            "settings": _shallow_dict(self.settings),
            "downloaded": self.downloaded,
            "instances": [_shallow_dict(inst) for inst in self.instances],
            "token_hashes": self.token_hashes,
            "evicted": self.evicted[-50:],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StateData:
        inst_fields = {f.name for f in fields(Instance)}
        return cls(
            settings=Settings.from_dict(data.get("settings", {})),
            downloaded=dict(data.get("downloaded", {})),
            instances=[
                Instance(**{k: v for k, v in item.items() if k in inst_fields})
                for item in data.get("instances", [])
            ],
            token_hashes=list(data.get("token_hashes", [])),
            evicted=list(data.get("evicted", [])),
        )


@dataclass(frozen=True)
class LoadResult:
    instance: Instance
    evicted: tuple[Instance, ...] = ()
    already_loaded: bool = False
    load_seconds: float = 0.0


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def real_lmstudio_homes() -> list[Path]:
    """Where a real LM Studio keeps its home: ``~/.lmstudio``, the legacy ``~/.cache/lm-studio`` and
    whatever ``~/.lmstudio-home-pointer`` names."""
    user_home = Path.home().resolve()
    homes = [(user_home / name).resolve() for name in REAL_HOME_NAMES]
    with contextlib.suppress(OSError):
        pointed = (user_home / ".lmstudio-home-pointer").read_text().strip()
        if pointed:
            homes.append(Path(pointed).expanduser().resolve())
    return homes


def ensure_fake_home(path: Path) -> None:
    """Refuse a real LM Studio home, anything inside one, and any directory that contains one
    (such as ``~``): the fake must never write into a real LM Studio's files."""
    resolved = path.expanduser().resolve()
    for real in real_lmstudio_homes():
        if resolved == real or real in resolved.parents:
            raise UnsafeHome(
                f"{resolved} is inside a real LM Studio home ({real}); the fake LM Studio needs its own "
                "directory (pass --home /some/empty/dir, or omit it for a temporary one)"
            )
        if resolved in real.parents:
            raise UnsafeHome(
                f"{resolved} contains a real LM Studio home ({real}); the fake LM Studio needs its own "
                "directory (pass --home /some/empty/dir, or omit it for a temporary one)"
            )


@dataclass(frozen=True)
class Baseline:
    """What a home held at one moment (:meth:`Home.capture_baseline`), to go back to it with
    :meth:`Home.restore_baseline`: settings, downloads, loaded instances, tokens, the catalog."""

    settings: Settings
    downloaded: dict[str, float]
    instances: list[Instance]
    token_hashes: list[str]
    catalog: bytes | None


@dataclass(slots=True)
class _Cached(Generic[T]):
    """Something read from a home's file, with the file's stat key taken before reading it."""

    value: T
    key: tuple[int, int, int] | None


def _same_instance(a: Instance, b: Instance) -> bool:
    """The same loaded instance, whatever its load and use times."""
    return replace(a, loaded_at=0.0, last_used=0.0) == replace(b, loaded_at=0.0, last_used=0.0)


def _restored_instances(current: list[Instance], base: list[Instance], now: float) -> list[Instance]:
    """``base``'s instances: those still loaded kept as they are (a TTL's idle clock restarted),
    those gone loaded again now."""
    restored = []
    for wanted in base:
        kept = next((i for i in current if _same_instance(i, wanted) and not i.expired(now)), None)
        if kept is None:
            restored.append(replace(wanted, loaded_at=now, last_used=now))
        elif kept.ttl_seconds is not None and kept.last_used != now:
            restored.append(replace(kept, last_used=now))
        else:
            restored.append(kept)
    return restored


class Home:
    """A fake LM Studio home directory shared by the fake server and the fake ``lms``."""

    def __init__(self, path: str | os.PathLike[str], *, catalog: Catalog | None = None) -> None:
        self.path = Path(path).expanduser().absolute()
        ensure_fake_home(self.path)
        self.internal = self.path / ".internal"
        self.models_dir = self.path / "models"
        self.logs_dir = self.path / "server-logs"
        self.state_file = self.internal / "fake-state.json"
        self._state_path = str(self.state_file)  # stat'ed on the request path: skip Path conversion
        self.catalog_file = self.internal / "fake-catalog.json"
        self.server_config_file = self.internal / "http-server-config.json"
        self.server_pid_file = self.internal / "fake-server.json"
        self.request_log_file = self.logs_dir / "requests.jsonl"
        self.lms_log_file = self.logs_dir / "lms-invocations.jsonl"
        self._lock = FileMutex(self.internal / "fake-state.lock", timeout=120)
        # held through a simulated load time: loads one at a time, across processes, as LM Studio
        self._load_lock = FileMutex(self.internal / "fake-load.lock", timeout=3600)
        # what was read, with the file's stat key taken before reading it
        self._state_cache: _Cached[StateData] | None = None
        self._catalog_cache: _Cached[Catalog] | None = None
        self._thread_lock = threading.RLock()
        self._initialise(catalog)

    # -- creation ------------------------------------------------------------------------------
    def _initialise(self, catalog: Catalog | None) -> None:
        self.internal.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.models_dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            if catalog is not None or not self.catalog_file.exists():
                write_json_atomic(self.catalog_file, (catalog or Catalog.default()).to_data())
            if not self.state_file.exists() and not recover_under_lock(self.state_file):
                self._write_state(self._fresh_state())
            discard_leftovers_under_lock(self.state_file)

    def _fresh_state(self) -> StateData:
        """A new home's state: the catalog's downloaded models, nothing loaded."""
        state = StateData()
        now = time.time()
        for spec in self.catalog:
            if spec.downloaded:
                state.downloaded[spec.key] = now
                self._write_placeholder(spec)
        return state

    def _set_aside(self, path: Path, exc: Exception, what: str) -> None:
        """Keep a file that cannot be read beside it, and say so (the fake's own derived files
        are rebuilt: a rerun with the same home works)."""
        backup = path.with_name(f"{path.name}.unreadable-{int(time.time())}")
        with contextlib.suppress(OSError):
            os.replace(path, backup)
        print(
            f"fake LM Studio: {path} could not be read ({type(exc).__name__}: {exc}); it was moved to "
            f"{backup.name} and {what}",
            file=sys.stderr,
        )

    @classmethod
    def temporary(cls, *, catalog: Catalog | None = None, prefix: str = "fake-lmstudio-") -> Home:
        """A home in a new temporary directory, removed when this object goes away (or at exit)."""
        home = cls(tempfile.mkdtemp(prefix=prefix), catalog=catalog)
        weakref.finalize(home, shutil.rmtree, str(home.path), ignore_errors=True)
        return home

    # -- low-level IO --------------------------------------------------------------------------

    def _write_state(self, state: StateData) -> None:
        """Write the state file; the caller holds the state lock. Compact JSON: json's C encoder
        (an indented dump takes its pure-Python path, 3x slower)."""
        replace_under_lock(self.state_file, json.dumps(state.to_json()).encode("utf-8"))

    @staticmethod
    def _file_key(path: Path | str) -> tuple[int, int, int] | None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _read_state_fresh(self) -> StateData:
        """The state file, read now. Raises ``ValueError`` (also for a file of the wrong shape)."""
        data = json.loads(self.state_file.read_text(encoding="utf-8"))
        try:
            return StateData.from_json(data)
        except (TypeError, KeyError, AttributeError) as exc:  # valid JSON, not a state
            raise ValueError(f"not a fake LM Studio state: {exc}") from None

    def _read_state_or_rebuild(self) -> StateData:
        """The state file. A missing one is being replaced (:func:`replace_under_lock`): it is read
        again under the lock, once the writer is done, and what a writer killed mid-replace left is
        put back. One that cannot be read is set aside and the state rebuilt from the catalog (a
        half-written read on some filesystems is retried first)."""
        for _ in range(5):
            try:
                return self._read_state_fresh()
            except FileNotFoundError:
                break
            except ValueError:
                time.sleep(0.005)
        with self._thread_lock, self._lock:
            try:
                return self._read_state_fresh()
            except FileNotFoundError:
                if not recover_under_lock(self.state_file):
                    state = self._fresh_state()  # a home whose state file was deleted
                    self._write_state(state)
                    return state
            except ValueError:
                pass
            try:
                return self._read_state_fresh()
            except (ValueError, FileNotFoundError) as exc:
                if self.state_file.exists():
                    self._set_aside(
                        self.state_file, exc, "the state was rebuilt from the catalog (nothing loaded)"
                    )
                state = self._fresh_state()
                self._write_state(state)
                return state

    def _cached(self, cached: _Cached[Any] | None, path: Path | str) -> tuple[bool, Any]:
        """Whether ``cached`` (read from ``path``) is current, and the file's stat key now.

        Every writer replaces the file atomically (a new inode, size or mtime), so an unchanged
        key means an unchanged file, whichever process wrote it. The key is taken before a fresh
        read, so a change landing during the read shows later as a new key: a stale read is never
        cached as current."""
        key = self._file_key(path)
        return (cached is not None and key is not None and key == cached.key), key

    @property
    def catalog(self) -> Catalog:
        current, key = self._cached(self._catalog_cache, self.catalog_file)
        if current:
            assert self._catalog_cache is not None
            return self._catalog_cache.value
        try:
            catalog = Catalog.from_data(
                json.loads(self.catalog_file.read_text(encoding="utf-8")), origin=str(self.catalog_file)
            )
        except (ValueError, TypeError, AttributeError, CatalogError) as exc:  # CatalogError: a ValueError
            with self._thread_lock, self._lock:
                self._set_aside(self.catalog_file, exc, "the default catalog was written in its place")
                catalog = Catalog.default()
                write_json_atomic(self.catalog_file, catalog.to_data())
                key = self._file_key(self.catalog_file)
        self._catalog_cache = _Cached(catalog, key)
        return catalog

    def snapshot(self) -> StateData:
        """The current state (cached until its file changes: one ``stat()`` per call, so a change
        by any process is seen at once). Do not mutate it."""
        cached = self._state_cache
        current, key = self._cached(cached, self._state_path)
        if current:
            assert cached is not None
            return cached.value
        with self._thread_lock:
            state = self._read_state_or_rebuild()
            self._state_cache = _Cached(state, key)
            return state

    @contextlib.contextmanager
    def transaction(self) -> Iterator[StateData]:
        """Lock the home, yield a fresh mutable copy of the state, write it back on success."""
        with self._thread_lock, self._lock:
            state = self._read_state_or_rebuild()
            self._prune(state, time.time())
            yield state
            self._write_state(state)
            # not cached: another process may write between our write and a stat() of it
            self._state_cache = None

    def write_catalog_bytes(self, data: bytes) -> None:
        """Replace the catalog file with ``data`` (bytes a catalog file once held)."""
        with self._thread_lock, self._lock:
            write_bytes_atomic(self.catalog_file, data)

    @staticmethod
    def _prune(state: StateData, now: float) -> None:
        keep = []
        for inst in state.instances:
            if inst.expired(now):
                state.evicted.append(
                    {"identifier": inst.identifier, "model_key": inst.model_key, "reason": "ttl", "time": now}
                )
            else:
                keep.append(inst)
        state.instances = keep

    # -- queries -------------------------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        return self.snapshot().settings

    def instances(self) -> list[Instance]:
        return self.snapshot().live_instances()

    def is_downloaded(self, key: str) -> bool:
        return key in self.snapshot().downloaded

    def downloaded_specs(self) -> list[ModelSpec]:
        downloaded = self.snapshot().downloaded
        return [spec for spec in self.catalog if spec.key in downloaded]

    def find_instance(self, identifier: str) -> Instance | None:
        for inst in self.instances():
            if inst.identifier == identifier:
                return inst
        return None

    # -- settings and tokens -------------------------------------------------------------------
    def update_settings(self, **changes: Any) -> Settings:
        """Change settings; every value is checked before anything is saved (``ValueError``)."""
        changes = Settings.checked(changes)
        with self.transaction() as state:
            state.settings = replace(state.settings, **changes)
            return state.settings

    def add_token(self, token: str) -> None:
        digest = hash_token(token)
        with self.transaction() as state:
            if digest not in state.token_hashes:
                state.token_hashes.append(digest)

    def token_known(self, token: str) -> bool:
        return hash_token(token) in self.snapshot().token_hashes

    # -- downloads -----------------------------------------------------------------------------
    def _write_placeholder(self, spec: ModelSpec) -> None:
        directory = self.models_dir / spec.relative_dir
        directory.mkdir(parents=True, exist_ok=True)
        (directory / spec.file_name).write_text(
            json.dumps(
                {"fake_lmstudio_placeholder": True, "model_key": spec.key, "size_bytes": spec.size_bytes}
            )
            + "\n",
            encoding="utf-8",
        )

    def add_model(self, spec: ModelSpec, *, downloaded: bool = True) -> ModelSpec:
        """Put ``spec`` in this home's catalog (replacing a model of the same key) and, by
        default, mark it downloaded, so that requests, ``lms ls`` and the SDK know it."""
        with self._thread_lock, self._lock:
            write_json_atomic(self.catalog_file, self.catalog.with_model(spec).to_data())
        if downloaded:
            self.mark_downloaded(spec.key)
        return spec

    def mark_downloaded(self, key: str) -> ModelSpec:
        spec = self.catalog.find(key)
        if spec is None:
            raise ModelNotInCatalog(key)
        with self.transaction() as state:
            if spec.key not in state.downloaded:
                self._write_placeholder(spec)
                state.downloaded[spec.key] = time.time()
        return spec

    def remove_download(self, key: str) -> None:
        spec = self.catalog.find(key)
        if spec is None:
            raise ModelNotInCatalog(key)
        with self.transaction() as state:
            state.downloaded.pop(spec.key, None)
            state.instances = [i for i in state.instances if i.model_key != spec.key]
        directory = self.models_dir / spec.relative_dir
        with contextlib.suppress(OSError):
            (directory / spec.file_name).unlink()

    # -- loading -------------------------------------------------------------------------------
    def load(
        self,
        key: str,
        *,
        identifier: str | None = None,
        ttl_seconds: float | None = None,
        context_length: int | None = None,
        jit: bool = False,
        config: dict[str, Any] | None = None,
        reuse: bool = False,
        sleep: bool = True,
    ) -> LoadResult:
        """Load a downloaded model. The simulated load time (``sleep=False``: the caller waits it,
        as the SDK's load channel does) passes under the home's *load* lock, so loads are serialised
        like LM Studio's, but not under its state lock: ``lms ps``, listings and requests for
        loaded models go on meanwhile. ``reuse`` returns an existing instance of the key instead."""
        spec = self.catalog.find(key)
        if spec is None:
            raise ModelNotInCatalog(key)
        with self._load_lock:
            delay = self._load_delay(spec, identifier, reuse) if sleep else 0.0
            started = time.monotonic()
            if delay > 0:
                time.sleep(delay)
            return self._finish_load(
                spec, identifier, ttl_seconds, context_length, jit, config, reuse, started
            )

    def _load_delay(self, spec: ModelSpec, identifier: str | None, reuse: bool) -> float:
        """The simulated load time, 0 when the load will fail or reuse an instance at once (it is
        checked again when the load is made)."""
        state = self.snapshot()
        if spec.key not in state.downloaded:
            return 0.0
        if reuse and any(inst.model_key == spec.key for inst in state.instances):
            return 0.0
        if identifier and any(inst.identifier == identifier for inst in state.instances):
            return 0.0
        return state.settings.load_delay(spec)

    def _finish_load(
        self,
        spec: ModelSpec,
        identifier: str | None,
        ttl_seconds: float | None,
        context_length: int | None,
        jit: bool,
        config: dict[str, Any] | None,
        reuse: bool,
        started: float,
    ) -> LoadResult:
        with self.transaction() as state:
            if spec.key not in state.downloaded:
                raise ModelNotDownloaded(spec.key)
            if reuse:
                for inst in state.instances:
                    if inst.model_key == spec.key:
                        return LoadResult(inst, already_loaded=True)
            taken = {inst.identifier for inst in state.instances}
            if identifier:
                if identifier in taken:
                    raise IdentifierInUse(identifier)
                ident = identifier
            else:
                ident, n = spec.key, 1
                while ident in taken:
                    n += 1
                    ident = f"{spec.key}:{n}"
            evicted: list[Instance] = []
            if jit and state.settings.auto_evict:
                evicted = [inst for inst in state.instances if inst.jit]
                state.instances = [inst for inst in state.instances if not inst.jit]
                for inst in evicted:
                    state.evicted.append(
                        {
                            "identifier": inst.identifier,
                            "model_key": inst.model_key,
                            "reason": "auto-evict",
                            "time": time.time(),
                        }
                    )
            now = time.time()
            if jit and ttl_seconds is None:
                ttl_seconds = state.settings.jit_ttl_seconds
            ctx = (
                int(context_length)
                if context_length
                else min(spec.default_context_length, spec.max_context_length)
            )
            inst = Instance(
                identifier=ident,
                model_key=spec.key,
                context_length=ctx,
                loaded_at=now,
                last_used=now,
                ttl_seconds=float(ttl_seconds) if ttl_seconds else None,
                jit=jit,
                config=dict(config or {}),
            )
            state.instances.append(inst)
            return LoadResult(inst, tuple(evicted), load_seconds=time.monotonic() - started)

    def unload(self, identifier: str) -> Instance:
        with self.transaction() as state:
            for inst in state.instances:
                if inst.identifier == identifier:
                    state.instances.remove(inst)
                    return inst
        raise InstanceNotFound(identifier)

    def unload_all(self) -> list[Instance]:
        with self.transaction() as state:
            gone, state.instances = state.instances, []
        return gone

    def touch(self, identifier: str, now: float | None = None, *, known: Instance | None = None) -> None:
        """Record use of an instance (resets its idle TTL). Writes are throttled: at most once per
        second, or per 5% of the TTL when that is shorter. ``known``: the instance as the caller
        read it a moment ago; if even that copy was used recently, there is nothing to do."""
        now = time.time() if now is None else now
        if known is not None and known.identifier == identifier and self._recently_used(known, now):
            return
        inst = next((i for i in self.snapshot().instances if i.identifier == identifier), None)
        if inst is None or inst.expired(now) or self._recently_used(inst, now):
            return
        with self.transaction() as state:
            state.instances = [
                replace(i, last_used=now) if i.identifier == identifier else i for i in state.instances
            ]

    @staticmethod
    def _recently_used(inst: Instance, now: float) -> bool:
        threshold = 1.0 if inst.ttl_seconds is None else min(1.0, inst.ttl_seconds * 0.05)
        return now - inst.last_used < threshold

    # -- server bookkeeping --------------------------------------------------------------------
    def write_server_config(self, port: int, host: str = "127.0.0.1", cors: bool | None = None) -> None:
        data: dict[str, Any] = {"port": port, "networkInterface": host}
        if cors is not None:
            data["cors"] = cors
        write_json_atomic(self.server_config_file, data)

    def read_server_config(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.server_config_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def append_jsonl(self, path: Path, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line)

    def read_jsonl(self, path: Path) -> list[dict[str, Any]]:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    # -- baseline and expiry (a test's fresh start; an idle TTL on demand) ------------------------
    def capture_baseline(self) -> Baseline:
        state = self.snapshot()
        try:
            catalog: bytes | None = self.catalog_file.read_bytes()
        except OSError:
            catalog = None
        return Baseline(
            settings=state.settings,
            downloaded=dict(state.downloaded),
            instances=list(state.instances),
            token_hashes=list(state.token_hashes),
            catalog=catalog,
        )

    def restore_baseline(self, base: Baseline) -> None:
        """Go back to ``base``: its catalog, settings, downloads (placeholder weights included),
        loaded instances, tokens; the eviction list and the logs emptied.

        Only what changed is written: a home already as ``base`` had it is left alone (a test's
        reset costs a few ``stat()`` calls, not a state file written and renamed), and an instance
        of ``base`` that is still loaded stays as it is (not loaded again: its ``loaded_at`` is
        kept); only one with a TTL has its idle clock restarted, as when the baseline was taken.
        An instance of ``base`` that is gone comes back as if just loaded."""
        if base.catalog is not None:
            with contextlib.suppress(OSError):
                if self.catalog_file.read_bytes() != base.catalog:
                    self.write_catalog_bytes(base.catalog)
        for key in set(self.snapshot().downloaded) - set(base.downloaded):
            with contextlib.suppress(Exception):
                self.remove_download(key)  # also deletes its placeholder weights file
        missing = []
        for key in base.downloaded:
            spec = self.catalog.get(key)
            if spec is not None and not (self.models_dir / spec.relative_dir / spec.file_name).exists():
                missing.append(key)
        now = time.time()
        if missing or not self._is_baseline(self.snapshot(), base, now):
            with self.transaction() as state:
                state.settings = base.settings
                state.downloaded = {k: v for k, v in base.downloaded.items() if k not in missing}
                state.instances = _restored_instances(state.instances, base.instances, now)
                state.token_hashes = list(base.token_hashes)
                state.evicted = []
        for key in missing:
            self.mark_downloaded(key)
        for path in (self.request_log_file, self.lms_log_file):
            with contextlib.suppress(OSError):
                if path.stat().st_size:
                    path.write_text("", encoding="utf-8")

    @staticmethod
    def _is_baseline(state: StateData, base: Baseline, now: float) -> bool:
        """Whether ``state`` is ``base`` already (restoring it would write the same state)."""
        return (
            state.settings == base.settings
            and state.downloaded == base.downloaded
            and state.token_hashes == base.token_hashes
            and not state.evicted
            and _restored_instances(state.instances, base.instances, now) == state.instances
        )

    def expire(self, model: str | None = None) -> list[Instance]:
        """Unload instances as an idle TTL would (``model``: identifier or model key; ``None``:
        every instance); the next request for one JIT-loads it again. Returns those unloaded."""
        spec = self.catalog.find(model) if model else None
        now = time.time()
        gone = []
        with self.transaction() as state:
            keep = []
            for inst in state.instances:
                hit = (
                    model is None
                    or inst.identifier == model
                    or (spec is not None and inst.model_key == spec.key)
                )
                if hit:
                    gone.append(inst)
                    state.evicted.append(
                        {
                            "identifier": inst.identifier,
                            "model_key": inst.model_key,
                            "reason": "ttl",
                            "time": now,
                        }
                    )
                else:
                    keep.append(inst)
            state.instances = keep
        return gone

    def request_log(self) -> list[dict[str, Any]]:
        return self.read_jsonl(self.request_log_file)

    def lms_invocations(self) -> list[dict[str, Any]]:
        return self.read_jsonl(self.lms_log_file)

    def __repr__(self) -> str:
        return f"Home({str(self.path)!r})"
