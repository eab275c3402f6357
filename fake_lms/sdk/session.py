"""One websocket connection of the LM Studio SDK protocol, sans IO (in the style of h11/wsproto).

Text messages go in (:meth:`Session.receive`); *tasks* come out: iterators of
:mod:`~fake_lms.sdk.protocol` actions (send, wait, close) that the transport performs. A task
that waits lets the transport read the socket meanwhile, so a ``cancel`` sent during a streamed
prediction reaches the channel before its next fragment. Nothing here touches a socket, a thread
or the clock.

The protocol (``spec/ws-protocol.md`` §3-§4): the first message is the authentication packet;
then ``rpcCall`` → ``rpcResult``/``rpcError``, ``channelCreate`` → ``channelSend``* →
``channelClose``/``channelError``, ``channelSend{cancel}`` from the client, ``keepAlive`` →
``keepAliveAck``. RPC and channel ids live in separate maps and may start at 0 (the JS client
shares one counter). Protocol errors are answered with ``communicationWarning`` as LM Studio's
server library does and — unless ``fail_fast`` is off — also with ``rpcError``/``channelError``,
so that a test fails at once instead of waiting for a reply that never comes.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard

from fake_lms.sdk import diagnostics, embedding, files, llm, repository, system
from fake_lms.sdk.backend import Backend
from fake_lms.sdk.protocol import Action, Close, Delayed, Disconnect, SdkError, Send, SendRaw, Task, Wait
from fake_lms.sdk.registry import Channel, Endpoints, RpcCall

NAMESPACES: dict[str, Endpoints] = {
    "system": system.ENDPOINTS,
    "llm": llm.ENDPOINTS,
    "embedding": embedding.ENDPOINTS,
    "repository": repository.ENDPOINTS,
    "diagnostics": diagnostics.ENDPOINTS,
    "files": files.ENDPOINTS,
    # namespaces the clients open but the fake serves no endpoint of (spec §1): every call is
    # answered as an unknown endpoint
    "plugins": Endpoints(),
    "runtime": Endpoints(),
}
HANDSHAKE_TIMEOUT = 10.0  # seconds, as LM Studio's server library (the transport enforces it)
MAX_ID_LENGTH = 256
AuthErrorShape = Literal["string", "object"]


class UnknownNamespace(ValueError):
    """The websocket path names no namespace of LM Studio's."""


@dataclass
class Session:
    """The protocol state of one connection to ``ws://host:port/<namespace>``.

    ``auth_error_shape``: how a refused handshake reports its reason. ``"string"`` (the default)
    is what LM Studio's server library sends and the JS SDK expects; the Python SDK 1.5 then fails
    with a ``ValueError`` (a client bug, spec §3). ``"object"`` (``{"title": ...}``) gives the
    Python SDK its ``LMStudioServerError`` and makes the JS SDK report a parse error.
    """

    namespace: str
    backend: Backend
    fail_fast: bool = True
    auth_error_shape: AuthErrorShape = "string"
    state: Literal["handshake", "open", "closed"] = "handshake"
    client_identifier: str | None = None
    errors: list[BaseException] = field(default_factory=list)  # bugs in handlers, for the test
    _channels: dict[int, Channel] = field(default_factory=dict)
    _endpoints: Endpoints = field(init=False)

    def __post_init__(self) -> None:
        endpoints = NAMESPACES.get(self.namespace)
        if endpoints is None:
            raise UnknownNamespace(self.namespace)
        self._endpoints = endpoints

    # -- input -----------------------------------------------------------------------------------
    def receive(self, text: str | bytes) -> list[Task]:
        """Take one incoming message; return the work it causes, in order."""
        if self.state == "closed":
            return []
        try:
            if isinstance(text, bytes):
                text = text.decode("utf-8")
            message = json.loads(text)
        except (ValueError, UnicodeDecodeError, RecursionError):
            if self.state == "handshake":
                return [self._refuse("Invalid authentication packet")]
            return [_once(self._warning("Received a message that is not valid JSON", "invalidMessage"))]
        try:
            if self.state == "handshake":
                return [self._handshake(message)]
            return self._dispatch(message)
        except Exception as exc:  # a bug in the fake: report it, keep the connection
            self._report(exc)
            return [_once(self._warning(f"Internal error in the fake LM Studio: {exc}", "internalError"))]

    def connection_lost(self) -> None:
        """The transport lost the connection: stop every channel."""
        self.state = "closed"
        for channel in self._channels.values():
            channel.cancelled = True
        self._channels.clear()

    @property
    def open_channels(self) -> list[int]:
        return sorted(self._channels)

    # -- handshake -------------------------------------------------------------------------------
    def _handshake(self, message: Any) -> Task:
        if not isinstance(message, Mapping) or message.get("authVersion") != 1:
            return self._refuse("Invalid authentication packet")
        identifier, passkey = message.get("clientIdentifier"), message.get("clientPasskey")
        if not isinstance(identifier, str) or not isinstance(passkey, str):
            return self._refuse("Invalid authentication packet")
        if len(identifier) > MAX_ID_LENGTH or len(passkey) > MAX_ID_LENGTH:
            return self._refuse("Invalid authentication packet")
        reason = self.backend.authenticate(identifier, passkey)
        if reason is not None:
            return self._refuse(reason)
        self.state = "open"
        self.client_identifier = identifier
        return _once(Send({"success": True}))

    def _refuse(self, reason: str) -> Task:
        self.state = "closed"
        error: Any = reason if self.auth_error_shape == "string" else {"title": reason, "rootTitle": reason}
        return iter((Send({"success": False, "error": error}), Close(1000, "authentication failed")))

    # -- messages after the handshake ------------------------------------------------------------
    def _dispatch(self, message: Any) -> list[Task]:
        if not isinstance(message, Mapping):
            return [_once(self._warning("Received a message that is not an object", "invalidMessage"))]
        kind = message.get("type")
        if kind == "rpcCall":
            return [self._rpc(message)]
        if kind == "channelCreate":
            return [self._channel_create(message)]
        if kind == "channelSend":
            return self._channel_send(message)
        if kind == "channelAck":
            return []
        if kind == "keepAlive":
            return [_once(Send({"type": "keepAliveAck"}))]
        if kind == "communicationWarning":
            return []  # the client's complaint about one of our messages: nothing to answer
        if kind in ("signalSubscribe", "writableSignalSubscribe"):
            return [self._signal_subscribe(kind, message)]
        if kind in ("signalUnsubscribe", "writableSignalUnsubscribe", "writableSignalUpdate"):
            return []
        return [_once(self._warning(f"Received a message of unknown type {kind!r}", "unknownMessageType"))]

    def _rpc(self, message: Mapping[str, Any]) -> Task:
        call_id, endpoint = message.get("callId"), message.get("endpoint")
        if not _is_id(call_id) or not isinstance(endpoint, str):
            return _once(
                self._warning("Received an rpcCall without a valid callId or endpoint", "invalidRpcCall")
            )
        handler = self._endpoints.rpcs.get(endpoint)
        if handler is None:
            warning = f"Received rpcCall for unknown endpoint {endpoint!r} in namespace {self.namespace!r}"
            actions: list[Action] = [self._warning(warning, "rpcEndpointUnknown")]
            if self.fail_fast:
                error = SdkError(f"Unknown RPC endpoint {endpoint!r} in namespace {self.namespace!r}")
                actions.append(Send({"type": "rpcError", "callId": call_id, "error": error.to_wire()}))
            return iter(actions)
        call = RpcCall(self.backend, self.namespace, endpoint, message.get("parameter"))
        try:
            result = handler(call)
        except SdkError as exc:
            return _once(Send({"type": "rpcError", "callId": call_id, "error": exc.to_wire()}))
        except Disconnect:
            self.state = "closed"
            return _once(Close(abrupt=True))
        except Exception as exc:
            self._report(exc)
            error = SdkError(f"Internal error in the fake LM Studio: {type(exc).__name__}: {exc}")
            return _once(Send({"type": "rpcError", "callId": call_id, "error": error.to_wire()}))
        delay = 0.0
        if isinstance(result, Delayed):
            result, delay = result.result, result.seconds
        reply: dict[str, Any] = {"type": "rpcResult", "callId": call_id}
        if result is not None:  # a void result has no "result" key (spec §4)
            reply["result"] = result
        if delay > 0:
            return iter((Wait(delay), Send(reply)))
        return _once(Send(reply))

    def _channel_create(self, message: Mapping[str, Any]) -> Task:
        channel_id, endpoint = message.get("channelId"), message.get("endpoint")
        if not _is_id(channel_id) or not isinstance(endpoint, str):
            return _once(
                self._warning(
                    "Received a channelCreate without a valid channelId or endpoint", "invalidChannel"
                )
            )
        if channel_id in self._channels:
            return _once(self._warning(f"Channel id {channel_id} is already in use", "channelIdDuplicate"))
        handler = self._endpoints.channels.get(endpoint)
        if handler is None:
            warning = (
                f"Received channelCreate for unknown endpoint {endpoint!r} in namespace {self.namespace!r}"
            )
            actions: list[Action] = [self._warning(warning, "channelEndpointUnknown")]
            if self.fail_fast:
                error = SdkError(f"Unknown channel endpoint {endpoint!r} in namespace {self.namespace!r}")
                actions.append(
                    Send({"type": "channelError", "channelId": channel_id, "error": error.to_wire()})
                )
            return iter(actions)
        channel = Channel(
            self.backend, self.namespace, endpoint, message.get("creationParameter"), channel_id
        )
        self._channels[channel_id] = channel
        return self._run_channel(channel, handler(channel))

    def _run_channel(self, channel: Channel, body: Iterator[Any]) -> Task:
        """Wrap a channel handler's messages in ``channelSend``; close or fail the channel at the end."""
        cid = channel.id
        try:
            try:
                for item in body:
                    if self.state == "closed":
                        return
                    if isinstance(item, (Wait, SendRaw)):
                        yield item
                    elif isinstance(item, Close):
                        self.state = "closed"
                        yield item
                        return
                    else:
                        yield Send({"type": "channelSend", "channelId": cid, "message": item})
            except SdkError as exc:
                if self.state != "closed":
                    yield Send({"type": "channelError", "channelId": cid, "error": exc.to_wire()})
                return
            except Disconnect:
                self.state = "closed"
                yield Close(abrupt=True)
                return
            except Exception as exc:
                self._report(exc)
                error = SdkError(f"Internal error in the fake LM Studio: {type(exc).__name__}: {exc}")
                yield Send({"type": "channelError", "channelId": cid, "error": error.to_wire()})
                return
            if self.state != "closed":
                yield Send({"type": "channelClose", "channelId": cid})
        finally:
            if self._channels.get(cid) is channel:
                del self._channels[cid]

    def _channel_send(self, message: Mapping[str, Any]) -> list[Task]:
        channel_id = message.get("channelId")
        channel = self._channels.get(channel_id) if _is_id(channel_id) else None
        if channel is None:
            return []  # a message for a channel that has ended (or never was): clients race us
        inner = message.get("message")
        if isinstance(inner, Mapping) and inner.get("type") in ("cancel", "stop"):
            channel.cancelled = True
        elif inner is not None:
            channel.inbox.append(inner)
        ack = message.get("ackId")
        if _is_id(ack):
            return [_once(Send({"type": "channelAck", "channelId": channel_id, "ackId": ack}))]
        return []

    def _signal_subscribe(self, kind: str, message: Mapping[str, Any]) -> Task:
        subscribe_id, endpoint = message.get("subscribeId"), message.get("endpoint")
        prefix = "writableSignal" if kind == "writableSignalSubscribe" else "signal"
        warning = self._warning(
            f"Received {kind} for unknown endpoint {endpoint!r} in namespace {self.namespace!r}",
            f"{prefix}EndpointUnknown",
        )
        if not _is_id(subscribe_id) or not self.fail_fast:
            return _once(warning)
        error = SdkError(f"Unknown signal endpoint {endpoint!r} in namespace {self.namespace!r}")
        return iter(
            (warning, Send({"type": f"{prefix}Error", "subscribeId": subscribe_id, "error": error.to_wire()}))
        )

    # -- helpers ---------------------------------------------------------------------------------
    @staticmethod
    def _warning(text: str, kind: str) -> Send:
        return Send({"type": "communicationWarning", "warning": text, "kind": kind})

    def _report(self, exc: BaseException) -> None:
        self.errors.append(exc)
        print(
            f"fake LM Studio: error in the SDK websocket ({self.namespace}):\n{traceback.format_exc()}",
            file=sys.stderr,
        )


def _is_id(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _once(action: Action) -> Task:
    return iter((action,))


def run_to_completion(tasks: list[Task]) -> list[Action]:
    """Every action of ``tasks``, in order, waits included (for tests and simple transports)."""
    out: list[Action] = []
    for task in tasks:
        out.extend(task)
    return out


SessionFactory = Callable[[str], Session]
