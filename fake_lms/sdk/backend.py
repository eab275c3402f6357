"""The narrow interface the SDK dialect needs from a fake LM Studio.

The namespaces (``system``, ``llm``, ``embedding``, ``repository``, ``diagnostics``) only talk to a
:class:`Backend`. The fake's real one (:mod:`fake_lms.sdk.state_backend`) works on the shared home,
context and engine; tests of the session use an in-memory one. Model and instance records cross
this interface already in the wire shape (``spec/ws-protocol.md`` §5.1), because that shape *is*
LM Studio's model record. Backends report problems by raising
:class:`~fake_lms.sdk.protocol.SdkError` (sent as ``rpcError`` / ``channelError``) or
:class:`~fake_lms.sdk.protocol.Disconnect`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Domain = Literal["llm", "embedding"]
ReasoningType = Literal["none", "reasoning", "reasoningStartTag", "reasoningEndTag"]


@dataclass(frozen=True)
class Specifier:
    """A model specifier: ``{"type":"query","query":{...}}`` or ``{"type":"instanceReference"}``.
    ``query`` empty means "any loaded model of the domain"."""

    query: Mapping[str, Any] = field(default_factory=dict)
    instance_reference: str | None = None

    def describe(self) -> str:
        if self.instance_reference is not None:
            return self.instance_reference
        return str(self.query.get("identifier") or self.query.get("path") or "(any)")


@dataclass(frozen=True)
class PendingLoad:
    """A load the backend decided on but has not performed: the session announces it, waits
    ``seconds`` sending progress, then asks the backend to :meth:`Backend.finish_load` it."""

    model_info: dict[str, Any]
    seconds: float
    token: Any  # the backend's own description of the load


@dataclass(frozen=True)
class LoadRequest:
    domain: Domain
    model_key: str
    identifier: str | None = None
    ttl_seconds: float | None = None
    context_length: int | None = None
    config: Mapping[str, Any] = field(default_factory=dict)  # the flattened load config stack


@dataclass(frozen=True)
class PredictRequest:
    """A ``predict`` (chat history) or ``completeRawText`` (``raw_prompt``) channel."""

    specifier: Specifier
    messages: list[dict[str, Any]]  # OpenAI-style: role, content (str), tool_calls, tool_call_id
    config: Mapping[str, Any]  # the flattened prediction config stack (``llm.prediction.*``)
    raw_prompt: str | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)  # OpenAI-style function tools
    endpoint: str = "predict"  # or "completeRawText"


@dataclass(frozen=True)
class Fragment:
    content: str
    tokens_count: int = 1
    reasoning_type: ReasoningType = "none"


Shaper = Callable[[Iterator[Any]], Iterator[Any]]


def unshaped(events: Iterator[Any]) -> Iterator[Any]:
    return events


@dataclass
class Prediction:
    """What a prediction produces, and how the fake should deliver it.

    ``shape`` wraps the stream of the prediction's events (fragments, tool-call messages, and a
    last ``success`` event; each event's ``token`` attribute says whether it carries generated
    text) and may put the session's actions between them: ``Wait`` (pacing, stalls), ``Close``
    (a dropped connection), ``SendRaw`` (a frame that is not JSON), or raise ``SdkError`` (a
    mid-stream failure). That is how the test's stream faults reach the SDK."""

    fragments: list[Fragment]
    stop_reason: str
    prompt_tokens: int
    predicted_tokens: int
    model_info: dict[str, Any]  # the instance that answered
    load_config: dict[str, Any]  # KV
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # wire toolCallRequest objects
    shape: Shaper = unshaped


@dataclass(frozen=True)
class DownloadState:
    downloaded_bytes: int
    total_bytes: int
    bytes_per_second: float
    done: bool
    default_identifier: str  # what to load once it is done


class Backend(Protocol):
    """What the SDK dialect asks of a fake LM Studio. Every method may raise ``SdkError``."""

    # -- the server ------------------------------------------------------------------------------
    def authenticate(self, client_identifier: str, client_passkey: str) -> str | None:
        """``None`` when the pair may connect, else the reason (sent to the client as is)."""
        ...

    def version(self) -> dict[str, Any]:
        """``{"version": "0.3.x", "build": int}``."""
        ...

    def info(self) -> dict[str, Any]:
        """``{"pid": int, "isDaemon": bool, "version": str}``."""
        ...

    # -- models ----------------------------------------------------------------------------------
    def list_downloaded(self) -> list[dict[str, Any]]: ...

    def list_variants(self, model_key: str) -> list[dict[str, Any]]: ...

    def list_loaded(self, domain: Domain) -> list[dict[str, Any]]: ...

    def find_loaded(self, domain: Domain, specifier: Specifier) -> dict[str, Any] | None:
        """The loaded instance a specifier names (``None``: none)."""
        ...

    def get_or_load(
        self, domain: Domain, identifier: str, ttl_seconds: float | None, config: Mapping[str, Any]
    ) -> dict[str, Any] | PendingLoad:
        """The loaded instance ``identifier`` names, or the JIT load that will provide one."""
        ...

    def plan_load(self, request: LoadRequest) -> PendingLoad: ...

    def finish_load(self, pending: PendingLoad) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Perform a planned load: the new (or reused) instance and the instances it evicted."""
        ...

    def unload(self, domain: Domain, identifier: str) -> None: ...

    def load_config(self, domain: Domain, specifier: Specifier) -> dict[str, Any]:
        """KV config of a loaded instance (holds ``<domain>.load.contextLength``)."""
        ...

    def processing_state(self, domain: Domain, specifier: Specifier) -> dict[str, Any] | None: ...

    # -- generation ------------------------------------------------------------------------------
    def predict(self, request: PredictRequest) -> Prediction: ...

    def embed(self, specifier: Specifier, text: str) -> tuple[list[float], float]:
        """The embedding, and the seconds to wait before answering (a scripted ``slow``)."""
        ...

    def tokenize(self, domain: Domain, specifier: Specifier, text: str) -> list[int]: ...

    def count_tokens(self, domain: Domain, specifier: Specifier, text: str) -> int: ...

    def apply_prompt_template(self, specifier: Specifier, messages: list[dict[str, Any]]) -> str: ...

    # -- the model repository --------------------------------------------------------------------
    def search_models(self, term: str | None, limit: int | None) -> list[dict[str, Any]]:
        """Search results (``{name, identifier:{type, identifier}, exact?, staffPick?}``)."""
        ...

    def download_options(self, identifier: str) -> list[dict[str, Any]]:
        """The files a search result can be downloaded as (``downloadIdentifier``, size, ...)."""
        ...

    def start_download(self, download_identifier: str) -> Any:
        """Start (or join) a download; returns what :meth:`download_state` takes."""
        ...

    def download_state(self, download: Any) -> DownloadState: ...

    # -- diagnostics and the link ----------------------------------------------------------------
    def logs_since(self, cursor: Any) -> tuple[list[dict[str, Any]], Any]:
        """Log events (``{timestamp, data}``) after ``cursor`` (``None``: start from now) and the
        new cursor (the backend's own value)."""
        ...

    def log_prediction(self, model_identifier: str, model_path: str, prompt: str, output: str) -> None: ...

    def lm_link_status(self) -> dict[str, Any]: ...
