"""Models once per run: downloaded and loaded at most once, across every xdist worker.

``ensure()`` takes the run directory's lock, reads the run's ledger (``models.json``) and, when the
model is not in it yet, asks LM Studio what it has: a model already loaded costs nothing and is left
alone at the end; a missing one is downloaded only when downloads are allowed; an unloaded one is
loaded with the run's TTL (so a crashed run still frees memory). What the run loaded is unloaded
once, at the end, by the controller — unless the run keeps models loaded, another pytest run on this
machine still uses it (leases.py: the last one unloads it), or LM Studio is on another machine (its
TTL frees it). A failure is recorded too, so every test asking for that model skips with the same
reason without asking LM Studio again. The ledger records the intent before LM Studio is asked, so
a process killed mid-load is finished by the next one, not loaded twice (``_entry``).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from typing import Any

from pytest_lmstudio import leases
from pytest_lmstudio.leases import EndOfRun
from pytest_lmstudio.rundir import LockTimeout, RunDir
from pytest_lmstudio.server import LMStudioServer, Unavailable
from pytest_lmstudio.settings import Settings

LEDGER = "models.json"
MODEL_LOCK_SECONDS = 4 * 3600  # longer than the longest download the client waits for
PREPARING = "preparing"  # a ledger entry's status while a process downloads or loads the model
UNLOADED = "unloaded.json"


def _said(exc: Exception) -> str:
    """LM Studio's own words when it gave any, else the error's message."""
    return getattr(exc, "server_message", None) or str(exc)


def instance_name(key: str) -> str:
    """The identifier the run loads ``key`` under: the model key without a variant, which is the
    name LM Studio gives a model's first instance anyway (lmstudio-surface.md §5). Naming it
    explicitly makes a load findable, and a second load of it refused rather than made ``key:2``."""
    return key.partition("@")[0]


def _has_instance(client: Any, identifier: str) -> bool:
    return any(inst.id == identifier for inst in client.loaded())


@dataclass(frozen=True)
class LMStudioModel:
    """A model ready for a test: ``key`` as asked, ``identifier`` the instance that answers."""

    key: str
    identifier: str
    loaded_by_run: bool = False
    downloaded_by_run: bool = False
    load_seconds: float = 0.0
    added_to_fake: bool = False  # the bundled fake lacked it: added with a spec guessed from its name

    def __str__(self) -> str:
        return self.identifier


class ModelManager:
    def __init__(self, server: LMStudioServer, settings: Settings, run: RunDir) -> None:
        self.server = server
        self.settings = settings
        self.run = run
        self._cache: dict[str, LMStudioModel] = {}
        self.leases: leases.Leases | None = None  # other runs on this machine may share the server
        if leases.scope(server.url, server.is_fake) == "local":
            self.leases = leases.Leases(server.url, run.path.name, run.controller_pid)

    @property
    def allow_download(self) -> bool:
        """Downloads as set; unset (auto mode) means: free on the fake, off for a real LM Studio."""
        return self.server.is_fake if self.settings.download is None else self.settings.download

    def _client(self) -> Any:
        from pytest_lmstudio.client import LMStudioClient

        return LMStudioClient(self.server.url, api_key=self.settings.api_key, timeout=self.settings.timeout)

    def ensure(self, key: str, *, ttl: int | None = None) -> LMStudioModel:
        if not isinstance(key, str) or not key.strip():
            raise ValueError(f"a model key must be a non-empty string, not {key!r}")
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        try:
            entry = self._entry(key, ttl)
        except LockTimeout as exc:
            raise Unavailable(
                f"model {key!r} was being prepared by another process for too long ({exc})",
                "Check for a stuck download or load with `lms ps` / `lms log stream`",
                kind="lock-timeout",
            ) from None
        if entry["status"] != "ready":
            raise Unavailable.from_json(entry["error"])
        model = LMStudioModel(**entry["model"])
        self._cache[key] = model
        return model

    def _entry(self, key: str, ttl: int | None) -> dict[str, Any]:
        """The ledger entry for ``key``, preparing the model first if no process has. The model's
        own lock is held while it is downloaded and loaded; the ledger's only to read and write it.

        Before LM Studio is asked for anything, the ledger records the intent (``preparing``, who,
        and the instance identifier the load will use). The model lock is a file lock the operating
        system frees when its holder dies, so a process that takes it and finds an intent finds the
        intent of a process that died mid-way (an xdist worker killed while loading): it adopts the
        instance that load made, or finishes the load under the same identifier, never a second one."""
        with self.run.locked(f"model:{key}", timeout=MODEL_LOCK_SECONDS):
            with self.run.locked():
                entry: dict[str, Any] | None = self.run.read(LEDGER, {}).get(key)
            if entry is not None and entry.get("status") != PREPARING:
                return entry
            resumed = entry is not None
            intent = entry if entry is not None else self._record_intent(key)
            if self.leases is not None:  # before LM Studio is asked: no other run unloads it from now on
                self.leases.hold(key)
            try:
                model = self._ensure(key, ttl or self.settings.ttl, intent["identifier"], resumed)
                entry = {"status": "ready", "model": asdict(model), "time": time.time()}
                if self.leases is not None and model.loaded_by_run:
                    self.leases.record_load(model.identifier, key)
            except Unavailable as exc:
                entry = {"status": "unavailable", "error": exc.to_json()}
            if resumed:
                entry["resumed_from"] = intent.get("owner")  # for the record: whose work was finished
            self._write_entry(key, entry)
            return entry

    def _record_intent(self, key: str) -> dict[str, Any]:
        intent = {
            "status": PREPARING,
            "identifier": instance_name(key),
            "owner": {"pid": os.getpid(), "worker": os.environ.get("PYTEST_XDIST_WORKER", "main")},
            "time": time.time(),
        }
        self._write_entry(key, intent)
        return intent

    def _write_entry(self, key: str, entry: dict[str, Any]) -> None:
        with self.run.locked():
            ledger: dict[str, Any] = self.run.read(LEDGER, {})
            ledger[key] = entry
            self.run.write(LEDGER, ledger)

    def _ensure(self, key: str, ttl: int, identifier: str, resumed: bool) -> LMStudioModel:
        from pytest_lmstudio import errors

        started = time.monotonic()
        added = False
        try:
            with self._client() as client:
                if resumed and _has_instance(client, identifier):  # the dead process's load finished
                    return LMStudioModel(key=key, identifier=identifier, loaded_by_run=True)
                try:
                    report = self._ready(client, key, ttl, identifier, resumed)
                except errors.ModelNotFound:
                    if not self.server.is_fake:
                        raise
                    # your own model names on the bundled fake: added to its catalog, then ready
                    self._add_to_fake(key)
                    added = True
                    report = self._ready(client, key, ttl, identifier, resumed, allow_download=True)
        except errors.Unauthorized as exc:
            raise Unavailable(
                f"LM Studio at {self.server.url} refused the request: unauthorized ({exc})",
                "Pass the API token with --lmstudio-api-key or LMSTUDIO_API_KEY / LM_API_TOKEN",
                kind="unauthorized",
            ) from None
        except errors.ModelNotFound as exc:
            if self.allow_download:
                raise Unavailable(
                    f"model {key!r} is not available in LM Studio at {self.server.url} ({exc})",
                    f"Check the model key (`lms ls`, or `lms get {key}`)",
                    kind="model-not-found",
                ) from None
            raise Unavailable(
                f"model {key!r} is not downloaded in LM Studio at {self.server.url} and downloads are off",
                f"Run `lms get {key}`, or allow downloads with --lmstudio-download",
                kind="not-downloaded",
            ) from None
        except errors.DownloadFailed as exc:
            raise Unavailable(
                f"model {key!r} failed to download in LM Studio at {self.server.url}: {_said(exc)}",
                f"Try `lms get {key}` to see LM Studio's full message",
                kind="download-failed",
            ) from None
        except (errors.LoadFailed, errors.BadRequest, errors.ServerError) as exc:
            raise Unavailable(
                f"model {key!r} failed to load in LM Studio at {self.server.url}: {_said(exc)}",
                f"Try `lms load {key}` to see LM Studio's full message",
                kind="load-failed",
            ) from None
        except errors.WrongEndpoint:
            raise Unavailable(
                f"LM Studio at {self.server.url} does not serve the native REST API v1 (LM Studio 0.4+), "
                f"which the plugin uses to load {key!r}",
                f"Upgrade LM Studio, or load the model yourself (`lms load {key}`) before the run",
                kind="unsupported",
            ) from None
        except errors.LMStudioTimeout as exc:
            raise Unavailable(
                f"preparing model {key!r} in LM Studio at {self.server.url} timed out: {exc}",
                f"Download or load it before the run (`lms get {key}`, `lms load {key}`), "
                "or raise --lmstudio-timeout",
                kind="timeout",
            ) from None
        except errors.LMStudioError as exc:
            raise Unavailable(
                f"LM Studio at {self.server.url} failed while preparing model {key!r}: {exc}",
                "Check that LM Studio is running and healthy",
                kind="not-reachable",
            ) from None
        return LMStudioModel(
            key=key,
            identifier=report.instance_id,
            loaded_by_run=report.loaded,
            downloaded_by_run=report.downloaded,
            load_seconds=round(time.monotonic() - started, 3) if report.loaded else 0.0,
            added_to_fake=added,
        )

    def _ready(
        self, client: Any, key: str, ttl: int, identifier: str, resumed: bool, *, allow_download: bool = False
    ) -> Any:
        """``ensure_ready``, loading under ``identifier``. A load LM Studio refuses while an instance
        of that name has appeared meanwhile lost a race with a load already under way: the one a dead
        process started (``resumed``: the run's), or another run's (not the run's to unload)."""
        from pytest_lmstudio import errors
        from pytest_lmstudio.client.results import ReadyReport

        allow = allow_download or self.allow_download
        try:
            report = client.ensure_ready(key, allow_download=allow, ttl=ttl, identifier=identifier)
        except errors.LoadFailed:
            if not _has_instance(client, identifier):
                raise
            return ReadyReport(key, identifier, ("loaded",) if resumed else ())
        return report

    def _add_to_fake(self, key: str) -> None:
        from fake_lms.scripting.remote import ControlClient, ControlError

        try:
            ControlClient(self.server.url, timeout=self.settings.timeout).add_model(key)
        except ControlError as exc:
            raise Unavailable(
                f"model {key!r} is not in the bundled fake's catalog and could not be added: {exc}",
                "Name a model key, or give the fake a catalog (docs/scripting.md, 'Your own model names')",
                kind="model-not-found",
            ) from None


def loaded_by_run(run: RunDir) -> list[LMStudioModel]:
    ledger: dict[str, Any] = run.read(LEDGER, {})
    out = []
    for entry in ledger.values():
        if entry.get("status") == "ready":
            model = LMStudioModel(**entry["model"])
            if model.loaded_by_run:
                out.append(model)
    return out


def added_to_fake(run: RunDir) -> list[str]:
    """Models the run's tests named that the bundled fake did not know, added by the run."""
    ledger: dict[str, Any] = run.read(LEDGER, {})
    return [
        key for key, e in ledger.items() if e.get("status") == "ready" and e["model"].get("added_to_fake")
    ]


def failures(run: RunDir) -> dict[str, dict[str, str]]:
    ledger: dict[str, Any] = run.read(LEDGER, {})
    return {key: e["error"] for key, e in ledger.items() if e.get("status") == "unavailable"}


def run_loads(run: RunDir) -> list[tuple[str, str]]:
    """``(identifier, key)`` of every instance the run loaded, and of every load a process began and
    died in, with nobody left to finish it (LM Studio may have finished it: it is the run's)."""
    ledger: dict[str, Any] = run.read(LEDGER, {})
    out = [(m.identifier, m.key) for m in loaded_by_run(run)]
    out += [(e["identifier"], key) for key, e in ledger.items() if e.get("status") == PREPARING]
    return out


def unload_run_models(server: LMStudioServer, settings: Settings, run: RunDir) -> EndOfRun:
    """At the end, once (controller side): unload what the run loaded, unless another run on this
    machine still uses it (leases.py), the run keeps models loaded, or LM Studio is on another
    machine, whose other runs no lease here can see (then its idle TTL frees them)."""
    from pytest_lmstudio import errors
    from pytest_lmstudio.client import LMStudioClient

    with run.locked():
        if run.read(UNLOADED) is not None:
            return EndOfRun()
        own = run_loads(run)
        where = leases.scope(server.url, server.is_fake)
        with LMStudioClient(server.url, api_key=settings.api_key, timeout=30) as client:

            def unload(identifier: str) -> bool:
                try:
                    client.unload(identifier)
                except errors.LMStudioError:
                    return False  # already gone (TTL, the user, a restarted server): nothing to free
                return True

            if where == "local":
                share = leases.Leases(server.url, run.path.name, run.controller_pid)
                used = bool(own) or share.holding  # else: nothing to hand over or unload
                result = share.end(own, keep=settings.keep_loaded, unload=unload) if used else EndOfRun()
            elif settings.keep_loaded:
                result = EndOfRun(kept=[identifier for identifier, _ in own])
            elif where == "remote":
                result = EndOfRun(left_to_ttl=[identifier for identifier, _ in own])
            else:
                result = EndOfRun(unloaded=[identifier for identifier, _ in own if unload(identifier)])
        run.write(UNLOADED, result.unloaded)
        return result
