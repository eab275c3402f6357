"""pytest-lmstudio: test applications built on LM Studio.

The pytest plugin itself (options, fixtures, the ``lmstudio`` marker) is loaded by pytest through
its entry point; nothing here is needed to use it. This module is the public face of the library
parts usable without pytest::

    from pytest_lmstudio import LMStudioClient, ChatResult, ModelNotFound

Every name is imported on first use, so that importing the plugin costs no httpx (see
``benchmarks/bench_plugin.py``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_lmstudio.client.clients import AsyncLMStudioClient, LMStudioClient
    from pytest_lmstudio.client.config import ClientConfig
    from pytest_lmstudio.client.results import (
        ChatResult,
        CompletionResult,
        DownloadStatus,
        LoadedInstance,
        LoadResult,
        ModelInfo,
        ReadyReport,
        ReasoningDelta,
        ResponseResult,
        ServerVersion,
        StreamEvent,
        TextDelta,
        ToolCall,
        ToolCallDelta,
        Usage,
    )
    from pytest_lmstudio.errors import (
        BadRequest,
        BadResponse,
        DownloadFailed,
        InvalidBaseURL,
        LmsCommandFailed,
        LmsNotFound,
        LMStudioError,
        LMStudioTimeout,
        LoadFailed,
        ModelNotFound,
        ModelNotLoaded,
        ServerError,
        ServerNotRunning,
        StreamError,
        Unauthorized,
        WrongEndpoint,
    )
    from pytest_lmstudio.lms import Lms, LmsResult, find_lms
    from pytest_lmstudio.models import LMStudioModel
    from pytest_lmstudio.plugin import LMStudioURLs
    from pytest_lmstudio.server import LMStudioServer
    from pytest_lmstudio.settings import Settings as LMStudioSettings

# public name -> the module that defines it
_HOMES: dict[str, str] = {
    **dict.fromkeys(("AsyncLMStudioClient", "LMStudioClient"), "pytest_lmstudio.client.clients"),
    "ClientConfig": "pytest_lmstudio.client.config",
    **dict.fromkeys(
        (
            "ChatResult",
            "CompletionResult",
            "DownloadStatus",
            "LoadResult",
            "LoadedInstance",
            "ModelInfo",
            "ReadyReport",
            "ReasoningDelta",
            "ResponseResult",
            "ServerVersion",
            "StreamEvent",
            "TextDelta",
            "ToolCall",
            "ToolCallDelta",
            "Usage",
        ),
        "pytest_lmstudio.client.results",
    ),
    **dict.fromkeys(
        (
            "BadRequest",
            "BadResponse",
            "DownloadFailed",
            "InvalidBaseURL",
            "LMStudioError",
            "LMStudioTimeout",
            "LmsCommandFailed",
            "LmsNotFound",
            "LoadFailed",
            "ModelNotFound",
            "ModelNotLoaded",
            "ServerError",
            "ServerNotRunning",
            "StreamError",
            "Unauthorized",
            "WrongEndpoint",
        ),
        "pytest_lmstudio.errors",
    ),
    **dict.fromkeys(("Lms", "LmsResult", "find_lms"), "pytest_lmstudio.lms"),
    "LMStudioModel": "pytest_lmstudio.models",
    "LMStudioURLs": "pytest_lmstudio.plugin",
    "LMStudioServer": "pytest_lmstudio.server",
    "LMStudioSettings": "pytest_lmstudio.settings:Settings",  # the fixtures' types, for hints
}

__all__ = [
    "AsyncLMStudioClient",
    "BadRequest",
    "BadResponse",
    "ChatResult",
    "ClientConfig",
    "CompletionResult",
    "DownloadFailed",
    "DownloadStatus",
    "InvalidBaseURL",
    "LMStudioClient",
    "LMStudioError",
    "LMStudioModel",
    "LMStudioServer",
    "LMStudioSettings",
    "LMStudioTimeout",
    "LMStudioURLs",
    "Lms",
    "LmsCommandFailed",
    "LmsNotFound",
    "LmsResult",
    "LoadFailed",
    "LoadResult",
    "LoadedInstance",
    "ModelInfo",
    "ModelNotFound",
    "ModelNotLoaded",
    "ReadyReport",
    "ReasoningDelta",
    "ResponseResult",
    "ServerError",
    "ServerNotRunning",
    "ServerVersion",
    "StreamError",
    "StreamEvent",
    "TextDelta",
    "ToolCall",
    "ToolCallDelta",
    "Unauthorized",
    "Usage",
    "WrongEndpoint",
    "find_lms",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, _, attribute = home.partition(":")
    value = getattr(importlib.import_module(module), attribute or name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
