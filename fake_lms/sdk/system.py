"""The ``system`` namespace (spec §6.1): downloaded models, version and info.

``startHttpServer`` / ``stopHttpServer`` are answered but change nothing: the fake serves the
websocket and REST on one port, so stopping "the HTTP server" would also cut the SDK off, which
real LM Studio (whose SDK port stays up) never does (``docs/fidelity.md``).
"""

from __future__ import annotations

from typing import Any

from fake_lms.sdk.registry import Endpoints, RpcCall, string


def list_downloaded(call: RpcCall) -> Any:
    return call.backend.list_downloaded()


def list_variants(call: RpcCall) -> Any:
    key = string(call.endpoint, call.param(), "modelKey")
    assert key is not None
    return call.backend.list_variants(key)


def version(call: RpcCall) -> Any:
    return call.backend.version()


def info(call: RpcCall) -> Any:
    return call.backend.info()


def void(call: RpcCall) -> Any:
    call.param()  # the parameter must still be an object when given
    return None


ENDPOINTS = Endpoints(
    rpcs={
        "listDownloadedModels": list_downloaded,
        "listDownloadedModelVariants": list_variants,
        "version": version,
        "info": info,
        "startHttpServer": void,
        "stopHttpServer": void,
        "notify": void,
    }
)
