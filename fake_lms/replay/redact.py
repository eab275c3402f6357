"""What never reaches a cassette: credentials in headers, secret body fields, and their values.

Headers named ``Authorization``, ``Proxy-Authorization``, ``x-api-key``, ``Cookie``,
``Set-Cookie``, any header whose name contains ``token``, ``secret``, ``api-key`` or ``session``,
and every header the user lists are dropped. Body fields the user lists (by key, at any depth) and
request fields named like credentials (``api_key``, ``apiKey``, ``access_token``, ``password``,
``secret``, ``clientPasskey``...) have their value replaced by ``<redacted>`` (in responses only
the listed fields: ``token`` is a logprobs field there). Every value removed is
remembered, so the writer can scrub it from the whole file if a server echoed it somewhere else
(in an error message, for instance).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "<redacted>"
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie"}
)
SECRET_HEADER_PARTS = ("token", "secret", "api-key", "apikey", "session", "passkey", "password")
# not worth a line in a cassette: transport details that differ on every run
NOISE_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "accept-encoding",
        "content-encoding",
        "date",
        "etag",
        "x-lmstudio-cassette",
    }
)
SECRET_FIELD = re.compile(
    r"^(api[_-]?key|apikey|access[_-]?token|auth[_-]?token|password|passkey|secret|"
    r"client[_-]?passkey|client[_-]?secret|authorization)$",
    re.IGNORECASE,
)


class Redactor:
    """Drops secret headers and masks secret fields; ``secrets`` collects what it removed."""

    def __init__(self, headers: Iterable[str] = (), fields: Iterable[str] = ()) -> None:
        self.extra_headers = frozenset(h.strip().lower() for h in headers if h.strip())
        self.extra_fields = frozenset(f.strip() for f in fields if f.strip())
        self.secrets: set[str] = set()

    def is_secret_header(self, name: str) -> bool:
        low = name.lower()
        return (
            low in SECRET_HEADERS
            or low in self.extra_headers
            or any(part in low for part in SECRET_HEADER_PARTS)
        )

    def remember(self, value: str) -> None:
        value = value.strip()
        if not value:
            return
        self.secrets.add(value)
        scheme, _, credential = value.partition(" ")
        if credential.strip() and scheme.lower() in ("bearer", "basic", "token"):
            self.secrets.add(credential.strip())
        for part in re.split(r"[;,]\s*", value):  # cookies: name=value pairs
            _name, sep, item = part.partition("=")
            if sep and len(item) >= 4:
                self.secrets.add(item)

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """The headers worth keeping, secrets dropped (and remembered), names lower-cased."""
        kept: dict[str, str] = {}
        for name, value in headers.items():
            low = name.lower()
            if self.is_secret_header(low):
                self.remember(str(value))
                continue
            if low in NOISE_HEADERS:
                continue
            kept[low] = str(value)
        return kept

    def is_secret_field(self, key: str, *, request: bool = True) -> bool:
        return key in self.extra_fields or (request and bool(SECRET_FIELD.match(key)))

    def body(self, value: Any, *, request: bool = True) -> Any:
        """``value`` with every secret field's value replaced by ``<redacted>`` (a copy)."""
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                if self.is_secret_field(str(key), request=request) and item not in (None, "", REDACTED):
                    if isinstance(item, str):
                        self.remember(item)
                    out[key] = REDACTED
                else:
                    out[key] = self.body(item, request=request)
            return out
        if isinstance(value, list):
            return [self.body(item, request=request) for item in value]
        return value

    def scrub_text(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            if len(secret) >= 4:
                text = text.replace(secret, REDACTED)
        return text
