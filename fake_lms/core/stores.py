"""What a server keeps in memory across requests: conversation threads and the run's counters."""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


class ConversationStore:
    """``previous_response_id`` threads for /v1/responses and /api/v1/chat (bounded, thread-safe)."""

    def __init__(self, limit: int = 2000) -> None:
        self._items: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        self._limit = limit

    @staticmethod
    def new_id() -> str:
        return "resp_" + secrets.token_hex(24)

    def put(self, response_id: str, messages: list[dict[str, Any]]) -> None:
        with self._lock:
            self._items[response_id] = messages
            self._items.move_to_end(response_id)
            while len(self._items) > self._limit:
                self._items.popitem(last=False)

    def get(self, response_id: str) -> list[dict[str, Any]] | None:
        with self._lock:
            found = self._items.get(response_id)
            return list(found) if found is not None else None


@dataclass
class Stats:
    """Counters for the run report."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    jit_loads: int = 0
    load_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_tokens(self, prompt: int, completion: int) -> None:
        with self._lock:
            self.prompt_tokens += prompt
            self.completion_tokens += completion

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "jit_loads": self.jit_loads,
            "load_seconds": round(self.load_seconds, 6),
        }


class BoundedList(list[T]):
    """A list that keeps its last ``limit`` items (the oldest dropped, counted in :attr:`dropped`).
    Still a list: it compares, slices and clears as one."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.dropped = 0

    def append(self, item: T) -> None:
        super().append(item)
        excess = len(self) - self.limit
        if excess > 0:
            del self[:excess]
            self.dropped += excess


class KeptErrors(BoundedList[BaseException]):
    """Errors raised inside the fake's handlers, kept for ``check_handler_errors`` to re-raise:
    at most ``limit``, since each holds its traceback and, through it, its request's body."""

    def __init__(self, limit: int = 20) -> None:
        super().__init__(limit)
