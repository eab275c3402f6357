"""What the websocket session says to its transport, and the protocol's shared shapes.

The session never touches a socket or the clock: it answers every incoming text message with
*tasks*, iterators of :data:`Action`s that the transport performs in order — send a message, wait
some seconds (while still reading the socket, so that a cancel can arrive), close the connection,
or send a frame that is deliberately not JSON. Shapes follow ``spec/ws-protocol.md`` §4-§5.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

# the Python SDK (httpx-ws defaults) refuses incoming messages larger than this
CLIENT_MESSAGE_LIMIT = 65_536


@dataclass(frozen=True, slots=True)
class Send:
    """Send one JSON text message."""

    message: Mapping[str, Any]

    def text(self) -> str:
        return dumps(self.message)


@dataclass(frozen=True, slots=True)
class SendRaw:
    """Send one text frame as is (a deliberately malformed or oversized message: a fault)."""

    text: str


@dataclass(frozen=True, slots=True)
class Wait:
    """Wait this many seconds before the task goes on (the connection keeps being read)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Close:
    """End the connection: a close frame with ``code`` or, ``abrupt``, a dropped TCP connection."""

    code: int = 1000
    reason: str = ""
    abrupt: bool = False


@dataclass(frozen=True, slots=True)
class Delayed:
    """An RPC result that is sent only after ``seconds`` (a scripted ``slow`` on a call that does
    not stream)."""

    result: Any
    seconds: float


Action = Send | SendRaw | Wait | Close
Task = Iterator[Action]


def dumps(message: Any) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


# --------------------------------------------------------------------------------------------
# errors


@dataclass
class SdkError(Exception):
    """An error the server reports to the client (``rpcError`` / ``channelError``), in LM Studio's
    serialized-error shape (``{title, rootTitle, cause?, suggestion?, displayData?}``)."""

    title: str
    cause: str | None = None
    suggestion: str | None = None
    display_data: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.title)

    def to_wire(self) -> dict[str, Any]:
        error: dict[str, Any] = {"title": self.title, "rootTitle": self.title}
        if self.cause:
            error["cause"] = self.cause
        if self.suggestion:
            error["suggestion"] = self.suggestion
        if self.display_data is not None:
            error["displayData"] = self.display_data
        error.update(self.extra)
        return error


class Disconnect(Exception):
    """Raised by a backend: drop the connection now (a ``connection_reset`` fault)."""


def no_model_matching_query(query: Mapping[str, Any], loaded: list[str]) -> SdkError:
    shown = query.get("identifier") or query.get("path") or "(any)"
    return SdkError(
        f'No model found that matches the query "{shown}".',
        display_data={
            "code": "generic.noModelMatchingQuery",
            "query": dict(query),
            "loadedModelsSample": loaded[:10],
            "totalLoadedModels": len(loaded),
        },
    )


def path_not_found(path: str, available: list[str]) -> SdkError:
    return SdkError(
        f'Cannot find a model with path "{path}".',
        display_data={
            "code": "generic.pathNotFound",
            "path": path,
            "availablePathsSample": available[:10],
            "totalModels": len(available),
        },
    )


def identifier_not_found(identifier: str, loaded: list[str]) -> SdkError:
    return SdkError(
        f'Cannot find a model with the identifier "{identifier}".',
        display_data={
            "code": "generic.identifierNotFound",
            "identifier": identifier,
            "loadedModelsSample": loaded[:10],
            "totalLoadedModels": len(loaded),
        },
    )


def bad_parameter(endpoint: str, detail: str) -> SdkError:
    return SdkError(f"Invalid parameter for {endpoint}: {detail}")


# --------------------------------------------------------------------------------------------
# KV configs and stacks: {"fields": [{"key", "value"}]}, {"layers": [{"layerName", "config"}]}


def kv(fields: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> dict[str, Any]:
    items = fields.items() if isinstance(fields, Mapping) else fields
    return {"fields": [{"key": k, "value": v} for k, v in items]}


def kv_fields(config: Any) -> dict[str, Any]:
    """The fields of one KV config (malformed entries are skipped)."""
    out: dict[str, Any] = {}
    if isinstance(config, Mapping) and isinstance(config.get("fields"), list):
        for entry in config["fields"]:
            if isinstance(entry, Mapping) and isinstance(entry.get("key"), str):
                out[entry["key"]] = entry.get("value")
    return out


def stack_fields(stack: Any) -> dict[str, Any]:
    """A KV stack flattened, later layers overriding earlier ones (as LM Studio merges them)."""
    out: dict[str, Any] = {}
    if isinstance(stack, Mapping) and isinstance(stack.get("layers"), list):
        for layer in stack["layers"]:
            if isinstance(layer, Mapping):
                out.update(kv_fields(layer.get("config")))
    return out


def stack_layer_names(stack: Any) -> list[str]:
    if not isinstance(stack, Mapping) or not isinstance(stack.get("layers"), list):
        return []
    return [
        str(layer.get("layerName"))
        for layer in stack["layers"]
        if isinstance(layer, Mapping) and layer.get("layerName") is not None
    ]


def checked_number(value: Any) -> float | None:
    """``{checked, value}`` (or a bare number) → the number when it is switched on."""
    if isinstance(value, Mapping):
        if not value.get("checked"):
            return None
        value = value.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value
