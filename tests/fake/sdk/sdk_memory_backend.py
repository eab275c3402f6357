"""An in-memory :class:`fake_lms.sdk.backend.Backend` for testing the session without a server."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fake_lms.sdk.backend import (
    Domain,
    DownloadState,
    Fragment,
    LoadRequest,
    PendingLoad,
    Prediction,
    PredictRequest,
    Shaper,
    Specifier,
    unshaped,
)
from fake_lms.sdk.protocol import SdkError, kv, no_model_matching_query, path_not_found


def model(key: str, domain: Domain = "llm") -> dict[str, Any]:
    info: dict[str, Any] = {
        "type": domain,
        "modelKey": key,
        "format": "gguf",
        "displayName": key,
        "publisher": "test",
        "path": f"test/{key}",
        "sizeBytes": 1000,
        "indexedModelIdentifier": f"test/{key}",
        "deviceIdentifier": None,
        "maxContextLength": 4096,
    }
    if domain == "llm":
        info.update(vision=False, trainedForToolUse=True)
    return info


@dataclass
class MemoryBackend:
    downloaded: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"chat": model("chat"), "embed": model("embed", "embedding")}
    )
    loaded: dict[str, dict[str, Any]] = field(default_factory=dict)
    load_seconds: float = 0.0
    reply: str = "Hello from memory"
    shape: Shaper = unshaped  # pacing and faults, as the real backend's stream shaping gives them
    refuse: str | None = None
    embed_delay: float = 0.0
    predictions: list[PredictRequest] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)

    def authenticate(self, client_identifier: str, client_passkey: str) -> str | None:
        return self.refuse

    def version(self) -> dict[str, Any]:
        return {"version": "0.3.99", "build": 7}

    def info(self) -> dict[str, Any]:
        return {"pid": 1, "isDaemon": False, "version": "0.3.99"}

    def list_downloaded(self) -> list[dict[str, Any]]:
        return list(self.downloaded.values())

    def list_variants(self, model_key: str) -> list[dict[str, Any]]:
        return [self.downloaded[model_key]]

    def list_loaded(self, domain: Domain) -> list[dict[str, Any]]:
        return [m for m in self.loaded.values() if m["type"] == domain]

    def find_loaded(self, domain: Domain, specifier: Specifier) -> dict[str, Any] | None:
        for m in self.list_loaded(domain):
            if specifier.instance_reference is not None:
                if m["instanceReference"] == specifier.instance_reference:
                    return m
            elif not specifier.query or specifier.query.get("identifier") in (m["identifier"], m["modelKey"]):
                return m
        return None

    def _instance(self, key: str, identifier: str | None, context_length: int | None) -> dict[str, Any]:
        ident = identifier or key
        return {
            **self.downloaded[key],
            "identifier": ident,
            "instanceReference": f"ref-{ident}",
            "contextLength": context_length or 2048,
            "ttlMs": None,
            "lastUsedTime": None,
        }

    def get_or_load(
        self, domain: Domain, identifier: str, ttl_seconds: float | None, config: Mapping[str, Any]
    ) -> dict[str, Any] | PendingLoad:
        found = self.find_loaded(domain, Specifier({"identifier": identifier}))
        if found is not None:
            return found
        if identifier not in self.downloaded:
            raise no_model_matching_query({"identifier": identifier}, list(self.loaded))
        return PendingLoad(self.downloaded[identifier], self.load_seconds, (identifier, None, None))

    def plan_load(self, request: LoadRequest) -> PendingLoad:
        if request.model_key not in self.downloaded:
            raise path_not_found(request.model_key, list(self.downloaded))
        token = (request.model_key, request.identifier, request.context_length)
        return PendingLoad(self.downloaded[request.model_key], self.load_seconds, token)

    def finish_load(self, pending: PendingLoad) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        key, identifier, context_length = pending.token
        instance = self._instance(key, identifier, context_length)
        self.loaded[instance["identifier"]] = instance
        return instance, []

    def unload(self, domain: Domain, identifier: str) -> None:
        if self.loaded.pop(identifier, None) is None:
            raise SdkError(f"no {identifier}")

    def load_config(self, domain: Domain, specifier: Specifier) -> dict[str, Any]:
        found = self.find_loaded(domain, specifier)
        assert found is not None
        return kv({f"{domain}.load.contextLength": found["contextLength"]})

    def processing_state(self, domain: Domain, specifier: Specifier) -> dict[str, Any] | None:
        return {"status": "idle", "queued": 0} if self.find_loaded(domain, specifier) else None

    def predict(self, request: PredictRequest) -> Prediction:
        self.predictions.append(request)
        found = self.find_loaded("llm", request.specifier)
        if found is None:
            raise no_model_matching_query(dict(request.specifier.query), list(self.loaded))
        words = [w if i == 0 else " " + w for i, w in enumerate(self.reply.split(" "))]
        prediction = Prediction(
            fragments=[Fragment(w) for w in words],
            stop_reason="toolCalls" if self.tool_calls else "eosFound",
            prompt_tokens=5,
            predicted_tokens=len(words),
            model_info=found,
            load_config=kv({}),
            tool_calls=list(self.tool_calls),
            shape=self.shape,
        )
        return prediction

    def embed(self, specifier: Specifier, text: str) -> tuple[list[float], float]:
        return [float(len(text)), 0.0], self.embed_delay

    def tokenize(self, domain: Domain, specifier: Specifier, text: str) -> list[int]:
        return [len(w) for w in text.split()]

    def count_tokens(self, domain: Domain, specifier: Specifier, text: str) -> int:
        return len(text.split())

    def apply_prompt_template(self, specifier: Specifier, messages: list[dict[str, Any]]) -> str:
        return "|".join(m["content"] for m in messages)

    def logs_since(self, cursor: int | None) -> tuple[list[dict[str, Any]], int]:
        if cursor is None:
            return [], len(self.logs)
        return self.logs[cursor:], len(self.logs)

    def log_prediction(self, model_identifier: str, model_path: str, prompt: str, output: str) -> None:
        self.logs.append({"timestamp": 0, "data": {"type": "llm.prediction.output", "output": output}})

    def search_models(self, term: str | None, limit: int | None) -> list[dict[str, Any]]:
        keys = [k for k in self.downloaded if not term or term in k][:limit]
        return [{"name": k, "identifier": {"type": "catalog", "identifier": k}} for k in keys]

    def download_options(self, identifier: str) -> list[dict[str, Any]]:
        return [{"name": identifier, "sizeBytes": 10, "downloadIdentifier": f"{identifier}@q4"}]

    def start_download(self, download_identifier: str) -> Any:
        return {"key": download_identifier.partition("@")[0], "polls": 0}

    def download_state(self, download: Any) -> DownloadState:
        download["polls"] += 1
        done = download["polls"] >= 3
        return DownloadState(10 if done else 5 * (download["polls"] - 1), 10, 5.0, done, download["key"])

    def lm_link_status(self) -> dict[str, Any]:
        return {"status": "offline", "issues": [], "peers": [], "deviceIdentifier": None, "deviceName": "m"}
