"""What the client fixtures share for a whole session, so that a fresh client per test costs ~nothing.

Building an httpx (or openai) client loads the system's CA certificates into a new
``ssl.SSLContext``: ~20 ms, even for LM Studio's plain-http loopback URL, once per test. Here that
context is built once per session, and so is one connection pool (transport) per HTTP library for
the sync clients. Each test still gets client objects of its own (headers, cookies, options, base
URL), built over these in microseconds; a test that closes its client closes only its client, since
the shared pool ignores ``close()`` and is closed when the session ends.

Async clients share only the SSL context: their connections belong to the event loop of the test
that opened them, and pytest-asyncio gives each test its own loop.
"""

from __future__ import annotations

import importlib
import ssl
from types import ModuleType
from typing import Any


class KeepOpen:
    """A transport that forwards requests to a shared one and leaves it open when closed."""

    def __init__(self, transport: Any) -> None:
        self.shared = transport

    def handle_request(self, request: Any) -> Any:
        return self.shared.handle_request(request)

    def close(self) -> None:
        """A test's client is done; the pool stays open for the next test."""

    def __enter__(self) -> KeepOpen:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class SharedHTTP:
    """One SSL context and one connection pool per HTTP library (httpx, httpx2), made on first use."""

    def __init__(self) -> None:
        self._ssl_context: ssl.SSLContext | None = None
        self._pools: dict[str, Any] = {}

    def ssl_context(self) -> ssl.SSLContext:
        """The context every fixture client verifies with (the costly certificate load, done once)."""
        if self._ssl_context is None:
            import httpx

            self._ssl_context = httpx.create_ssl_context(trust_env=False)
        return self._ssl_context

    def transport(self, library: ModuleType | str = "httpx") -> KeepOpen:
        """A new handle on the session's connection pool for ``library``'s clients (``httpx``, or
        ``httpx2`` which recent openai releases use); closing the handle leaves the pool open."""
        lib = importlib.import_module(library) if isinstance(library, str) else library
        pool = self._pools.get(lib.__name__)
        if pool is None:
            pool = self._pools[lib.__name__] = lib.HTTPTransport(verify=self.ssl_context())
        return KeepOpen(pool)

    def close(self) -> None:
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.close()


def http_library(client_class: type) -> ModuleType:
    """The HTTP library a client class is built on: ``httpx``, or ``httpx2`` for openai >= 3."""
    for cls in client_class.__mro__:
        top = cls.__module__.split(".")[0]
        if top in ("httpx", "httpx2"):
            return importlib.import_module(top)
    raise TypeError(f"{client_class.__qualname__} is not an httpx client class")
