"""The ``repository`` namespace: ``lmLinkStatus``, which the real ``lms`` calls before ``ls``,
``ps``, ``load`` and ``unload`` and hangs without (spec §6.6). Downloads are not served yet."""

from __future__ import annotations

from typing import Any

from fake_lms.sdk.registry import Endpoints, RpcCall


def lm_link_status(call: RpcCall) -> Any:
    return call.backend.lm_link_status()


ENDPOINTS = Endpoints(rpcs={"lmLinkStatus": lm_link_status})
