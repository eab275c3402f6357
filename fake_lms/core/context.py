"""What protocol handlers share: the home, in-memory stores, and model resolution.

Resolution follows LM Studio (spec §3, §3.1, §5): a request may name an instance identifier, a model
key or a variant key; JIT loading loads a downloaded model on demand (auto-evicting the previous
JIT-loaded model); with JIT off only loaded models answer, and when exactly one model is loaded it
answers for any name.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from fake_lms.core.downloads import DownloadJobs
from fake_lms.core.errors import (
    InvalidField,
    InvalidModel,
    NoEmbeddingModelLoaded,
    NoModelsLoaded,
    NotEmbeddingModel,
    WrongModelType,
)
from fake_lms.core.stores import ConversationStore, Stats
from fake_lms.model.catalog import ModelSpec
from fake_lms.model.home import Home, Instance, ModelNotDownloaded, ModelNotInCatalog

Kind = Literal["llm", "embedding"]


@dataclass(slots=True)
class Resolved:
    """The instance that serves a request."""

    instance: Instance
    spec: ModelSpec
    jit_loaded: bool = False
    load_seconds: float = 0.0
    evicted: tuple[str, ...] = ()  # instances a JIT load's auto-evict unloaded

    @property
    def identifier(self) -> str:
        return self.instance.identifier

    def notes(self) -> dict[str, Any] | None:
        """What the request log says of a JIT load this resolution did (``None``: none)."""
        if not self.jit_loaded:
            return None
        notes: dict[str, Any] = {
            "action": "jit_load",
            "model_key": self.spec.key,
            "instance_id": self.identifier,
        }
        if self.evicted:
            notes["evicted"] = list(self.evicted)
        return notes


@dataclass(frozen=True)
class PendingLoad:
    """A JIT load that resolution decided on (every check passed) but has not performed yet."""

    spec: ModelSpec
    ttl_seconds: float | None = None
    context_length: int | None = None


class Context:
    """Shared by every handler of one fake server."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self.conversations = ConversationStore()
        self.stats = Stats()
        self.scripts: Any = None  # fake_lms.scripting.rules.Script, attached by the server
        self._jit_lock = threading.Lock()
        self.downloads = DownloadJobs(home)

    @property
    def version(self) -> str:
        """The LM Studio version this server reports (the home's ``lmstudio_version`` setting)."""
        return self.home.settings.lmstudio_version

    def reset_stores(self) -> None:
        """Forget what requests left in memory: conversations, counters, download jobs (a pending
        download must not complete into the next test)."""
        self.downloads.clear()
        self.conversations = ConversationStore()
        self.stats = Stats()

    # ------------------------------------------------------------------------------------------
    def known_keys(self, kind: Kind | None = None) -> list[str]:
        specs = self.home.downloaded_specs()
        return [s.key for s in specs if kind is None or s.type == kind]

    def _match_instance(self, name: str, instances: list[Instance]) -> Instance | None:
        for inst in instances:
            if inst.identifier == name:
                return inst
        spec = self.home.catalog.find(name)
        if spec is not None:
            for inst in instances:
                if inst.model_key == spec.key:
                    return inst
        return None

    def resolve(
        self,
        name: Any,
        kind: Kind,
        *,
        ttl: Any = None,
        wanted: str = "chat completions",
        context_length: int | None = None,
    ) -> Resolved:
        """Find or JIT-load the instance that answers a request naming ``name``."""
        found = self.plan(name, kind, ttl=ttl, wanted=wanted, context_length=context_length)
        return self.load_pending(found) if isinstance(found, PendingLoad) else found

    def plan(
        self,
        name: Any,
        kind: Kind,
        *,
        ttl: Any = None,
        wanted: str = "chat completions",
        context_length: int | None = None,
    ) -> Resolved | PendingLoad:
        """Like :meth:`resolve`, but a needed JIT load is returned (validated) instead of performed,
        so that a handler can announce it (``/api/v1/chat`` streams ``model_load.*`` events)."""
        if name is not None and not isinstance(name, str):
            raise InvalidField("'model' must be a string", param="model")
        state = self.home.snapshot()
        settings = state.settings
        instances = state.live_instances()
        if name is None or name == "":
            if name == "" or not instances:
                if not instances:
                    raise NoModelsLoaded()
                raise InvalidModel(name or "", self.known_keys(kind))
            inst = next((i for i in instances if self._spec(i).type == kind), instances[0])
            return self._checked(Resolved(inst, self._spec(inst)), kind, wanted)
        matched = self._match_instance(name, instances)
        if matched is not None:
            return self._checked(Resolved(matched, self._spec(matched)), kind, wanted)
        # LM Studio quirk, JIT on or off: with exactly one LLM loaded, a name it cannot resolve is
        # served by that LLM (bug-tracker #619, #1217; 2026 conformance reports; review row 39)
        llms = [i for i in instances if self._spec(i).type == "llm"]
        only_llm = Resolved(llms[0], self._spec(llms[0])) if kind == "llm" and len(llms) == 1 else None
        if settings.jit:
            spec = self.home.catalog.find(name)
            if spec is None or spec.key not in state.downloaded:
                if only_llm is not None:
                    return only_llm
                raise InvalidModel(name, self.known_keys())
            self._checked(None, kind, wanted, spec=spec, name=name)
            return PendingLoad(spec, self._ttl_seconds(ttl), context_length)
        # JIT off: only loaded models answer
        if not instances:
            raise NoModelsLoaded()
        if only_llm is not None:
            return only_llm
        if len(instances) == 1:  # the single loaded model answers for any name (or says its kind)
            only = instances[0]
            return self._checked(Resolved(only, self._spec(only)), kind, wanted)
        raise InvalidModel(name, [i.identifier for i in instances])

    def _spec(self, inst: Instance) -> ModelSpec:
        spec = self.home.catalog.get(inst.model_key)
        if spec is None:  # catalog replaced under a loaded model
            spec = ModelSpec(key=inst.model_key)
        return spec

    @staticmethod
    def _checked(
        res: Resolved | None,
        kind: Kind,
        wanted: str,
        *,
        spec: ModelSpec | None = None,
        name: str | None = None,
    ) -> Resolved:
        spec = spec or (res.spec if res else None)
        assert spec is not None
        if kind == "embedding" and spec.type == "llm":  # LM Studio's two answers (review row 14)
            raise NoEmbeddingModelLoaded() if res is not None else NotEmbeddingModel(spec.variant_key)
        if spec.type != kind:
            shown = name or (res.identifier if res else spec.key)
            raise WrongModelType(shown, "embedding" if spec.is_embedding else "LLM", wanted)
        return res  # type: ignore[return-value]

    @staticmethod
    def _ttl_seconds(ttl: Any) -> float | None:
        if ttl is None:
            return None
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 0 < ttl < math.inf:
            raise InvalidField("'ttl' must be a positive number of seconds", param="ttl")
        return float(min(ttl, 1e15))  # huge JSON integers do not fit a float

    def load_pending(self, pending: PendingLoad) -> Resolved:
        """Perform a JIT load decided by :meth:`plan` (once, however many requests wait for it)."""
        spec = pending.spec
        with self._jit_lock:  # concurrent requests for one unloaded model load it once
            for inst in self.home.instances():
                if inst.model_key == spec.key:
                    return Resolved(inst, spec)
            try:
                result = self.home.load(
                    spec.key, ttl_seconds=pending.ttl_seconds, jit=True, context_length=pending.context_length
                )
            except (ModelNotDownloaded, ModelNotInCatalog):
                raise InvalidModel(spec.key, self.known_keys()) from None
        self.stats.jit_loads += 1
        self.stats.load_seconds += result.load_seconds
        evicted = tuple(i.identifier for i in result.evicted)
        return Resolved(result.instance, spec, True, result.load_seconds, evicted)

    def touch(self, res: Resolved) -> None:
        self.home.touch(res.identifier, time.time(), known=res.instance)
