"""The HTTP client for LM Studio, usable without pytest.

- :mod:`~pytest_lmstudio.client.clients`: :class:`LMStudioClient` and :class:`AsyncLMStudioClient`,
  the sync and async drivers (the only modules here that import httpx);
- :mod:`~pytest_lmstudio.client.flows`: what each operation sends and how it reads the answer,
  sans-IO, written once for both drivers;
- :mod:`~pytest_lmstudio.client.sse`: server-sent events into deltas and a final result;
- :mod:`~pytest_lmstudio.client.results`: the typed results;
- :mod:`~pytest_lmstudio.client.config`: the client's settings (arguments, then the environment);
- :mod:`~pytest_lmstudio.client.urls`: base-URL normalisation.

The two clients are imported on first use, so that importing the light modules here (the plugin's
settings read :mod:`~pytest_lmstudio.client.config` at start-up) never loads httpx.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_lmstudio.client.clients import AsyncLMStudioClient, LMStudioClient

__all__ = ["AsyncLMStudioClient", "LMStudioClient"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        value = getattr(importlib.import_module("pytest_lmstudio.client.clients"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
