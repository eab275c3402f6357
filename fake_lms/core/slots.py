"""Prediction slots: each loaded instance runs at most ``parallel`` predictions at once (LM Studio's
"Max Concurrent Predictions", ``lms load --parallel``); the requests beyond it wait their turn,
first come first served. What each instance is doing is what ``lms ps`` and the SDK's
``getInstanceProcessingState`` report (spec §4.3 ``lms ps --json``, ws-protocol §6.2):
``status`` ``idle`` | ``processingPrompt`` | ``generating`` | ``computingEmbedding``, and
``queued``, the requests on the instance, the running ones included.

A dialect names the slot its answer needs (a :class:`Claim`, on the ``Reply``); the *transport*
takes it when it starts sending and gives it back when it is done, in a ``finally``: a client
that disconnects, a scripted fault, or an error frees the slot, and a request that failed
before its answer was sent never queued. The HTTP transport waits in its request thread (the
server already runs each request in its own); the websocket transport polls
(:meth:`Ticket.ready`) so that one connection's other channels go on meanwhile.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

Status = Literal["idle", "processingPrompt", "generating", "computingEmbedding"]
Phase = Literal["waiting", "prompt", "generating", "done"]


@dataclass(eq=False)
class _Line:
    """The requests on one instance: those running (at most ``parallel``) and those waiting."""

    parallel: int | None  # None: no limit (embedding models)
    running: list[Ticket] = field(default_factory=list)
    waiting: deque[Ticket] = field(default_factory=deque)


class Slots:
    """Every instance's slots, for one fake server (all its transports share it)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._lines: dict[str, _Line] = {}

    def enter(self, identifier: str, parallel: int | None, *, embedding: bool = False) -> Ticket:
        """Join ``identifier``'s line (the ticket runs at once if a slot is free and nobody waits)."""
        ticket = Ticket(self, identifier, embedding)
        with self._cond:
            line = self._lines.get(identifier)
            if line is None:
                line = self._lines[identifier] = _Line(parallel)
            line.parallel = parallel  # the instance's current setting (a reload may change it)
            line.waiting.append(ticket)
            self._advance(line)
        return ticket

    def _advance(self, line: _Line) -> None:
        """Start waiting tickets while slots are free (caller holds the condition)."""
        started = False
        while line.waiting and (line.parallel is None or len(line.running) < line.parallel):
            ticket = line.waiting.popleft()
            ticket.phase = "prompt"
            line.running.append(ticket)
            started = True
        if started:
            self._cond.notify_all()

    def _leave(self, ticket: Ticket) -> None:
        with self._cond:
            line = self._lines.get(ticket.identifier)
            if line is None:
                return
            if ticket in line.running:
                line.running.remove(ticket)
            elif ticket in line.waiting:
                line.waiting.remove(ticket)
            ticket.phase = "done"
            self._advance(line)
            if not line.running and not line.waiting:
                del self._lines[ticket.identifier]
            self._cond.notify_all()

    def _wait(self, ticket: Ticket, timeout: float | None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: ticket.phase != "waiting", timeout)

    def state(self, identifier: str) -> dict[str, str | int]:
        """``{"status", "queued"}`` of one instance, as ``getInstanceProcessingState`` answers."""
        with self._cond:
            line = self._lines.get(identifier)
            if line is None:
                return {"status": "idle", "queued": 0}
            status: Status = "idle"
            if any(t.phase == "generating" for t in line.running):
                status = "generating"
            elif line.running:
                status = "computingEmbedding" if line.running[0].embedding else "processingPrompt"
            return {"status": status, "queued": len(line.running) + len(line.waiting)}

    def states(self) -> dict[str, dict[str, str | int]]:
        """:meth:`state` of every instance that has requests (the others are idle)."""
        with self._cond:
            names = list(self._lines)
        return {name: self.state(name) for name in names}


class Ticket:
    """One request's place in an instance's line. :meth:`release` is safe to call more than once."""

    __slots__ = ("embedding", "identifier", "phase", "slots")

    def __init__(self, slots: Slots, identifier: str, embedding: bool) -> None:
        self.slots = slots
        self.identifier = identifier
        self.embedding = embedding
        self.phase: Phase = "waiting"

    def ready(self) -> bool:
        """Whether the request holds a slot now (never blocks)."""
        return self.phase != "waiting"

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the request holds a slot (``False``: ``timeout`` passed first)."""
        return self.phase != "waiting" or self.slots._wait(self, timeout)

    def generating(self) -> None:
        """The first token is out: the prompt is processed."""
        if self.phase == "prompt":
            self.phase = "generating"

    def release(self) -> None:
        if self.phase != "done":
            self.slots._leave(self)


@dataclass(frozen=True, slots=True)
class Claim:
    """The slot an answer needs, named by the dialect and taken by the transport."""

    slots: Slots
    identifier: str
    parallel: int | None
    embedding: bool = False

    def enter(self) -> Ticket:
        return self.slots.enter(self.identifier, self.parallel, embedding=self.embedding)
