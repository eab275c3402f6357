"""The ``embedding`` namespace: the shared model endpoints plus ``embedString`` (spec §6.4; note
its parameter is ``modelSpecifier`` where the other RPCs say ``specifier``)."""

from __future__ import annotations

from typing import Any

from fake_lms.sdk import models
from fake_lms.sdk.protocol import Delayed
from fake_lms.sdk.registry import Endpoints, RpcCall, specifier, string


def embed_string(call: RpcCall) -> Any:
    param = call.param()
    spec = specifier(call.endpoint, param.get("modelSpecifier"))
    text = string(call.endpoint, param, "inputString")
    assert text is not None
    vector, delay = call.backend.embed(spec, text)
    return Delayed({"embedding": vector}, delay) if delay > 0 else {"embedding": vector}


ENDPOINTS = Endpoints(
    rpcs={**models.rpcs("embedding"), "embedString": embed_string},
    channels=models.channels("embedding"),
)
