"""What a namespace module provides: its RPC and channel endpoints, and what a handler receives.

An RPC handler takes an :class:`RpcCall` and returns the result (``None``: a void result).
A channel handler is a generator function taking a :class:`Channel`; it yields the channel's
messages (dicts, wrapped in ``channelSend`` by the session) and ``Wait``/``Close``/``SendRaw``
actions, checks ``channel.cancelled`` between steps, and returns to close the channel or raises
``SdkError`` to fail it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fake_lms.sdk.backend import Backend, Specifier
from fake_lms.sdk.protocol import bad_parameter


@dataclass
class RpcCall:
    backend: Backend
    namespace: str
    endpoint: str
    parameter: Any

    def param(self) -> Mapping[str, Any]:
        """The parameter object (an omitted parameter is an empty one)."""
        return _object(self.endpoint, self.parameter)


@dataclass
class Channel:
    backend: Backend
    namespace: str
    endpoint: str
    parameter: Any
    id: int
    cancelled: bool = False
    inbox: list[Any] = field(default_factory=list)

    def param(self) -> Mapping[str, Any]:
        return _object(self.endpoint, self.parameter)


RpcHandler = Callable[[RpcCall], Any]
ChannelHandler = Callable[[Channel], Iterator[Any]]


@dataclass(frozen=True)
class Endpoints:
    rpcs: Mapping[str, RpcHandler] = field(default_factory=dict)
    channels: Mapping[str, ChannelHandler] = field(default_factory=dict)


def _object(endpoint: str, value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise bad_parameter(endpoint, "expected an object")
    return value


def string(endpoint: str, param: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = param.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise bad_parameter(endpoint, f"'{name}' must be a string")
    return value


def specifier(endpoint: str, value: Any) -> Specifier:
    """Parse a model specifier (spec §5.2)."""
    if not isinstance(value, Mapping):
        raise bad_parameter(endpoint, "the model specifier must be an object")
    kind = value.get("type")
    if kind == "instanceReference":
        ref = value.get("instanceReference")
        if not isinstance(ref, str):
            raise bad_parameter(endpoint, "'instanceReference' must be a string")
        return Specifier(instance_reference=ref)
    if kind == "query":
        query = value.get("query")
        if query is None:
            query = {}
        if not isinstance(query, Mapping):
            raise bad_parameter(endpoint, "'query' must be an object")
        return Specifier(query=dict(query))
    raise bad_parameter(endpoint, "the model specifier type must be 'query' or 'instanceReference'")
