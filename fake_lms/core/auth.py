"""LM Studio's API tokens: what a request presents, and whether the home knows it.

A token looks like ``sk-lm-<client id, 8>:<passkey, 20>``; REST clients send it as
``Authorization: Bearer …`` (Anthropic clients as ``x-api-key``), the SDKs as the handshake's
``clientIdentifier`` / ``clientPasskey`` pair. Each dialect renders a refusal in its own shape."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

TOKEN_RE = re.compile(r"^sk-lm-(?P<client>[a-zA-Z0-9]{8}):(?P<passkey>[a-zA-Z0-9]{20})$")

Refusal = Literal["missing", "malformed", "unknown"]


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, ``None`` if there is none."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return None


def check_token(token: str | None, known: Callable[[str], bool]) -> Refusal | None:
    """Why ``token`` is refused (``None``: it is accepted); ``known`` asks the home."""
    if token is None:
        return "missing"
    if not TOKEN_RE.match(token):
        return "malformed"
    if not known(token):
        return "unknown"
    return None


def sdk_token(client_identifier: str, client_passkey: str) -> str:
    """The API token an SDK handshake presents as its identifier/passkey pair."""
    return f"{client_identifier}:{client_passkey}"
