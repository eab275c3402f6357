"""Base-URL normalisation: accept what people actually type, produce the two URLs LM Studio needs.

LM Studio serves its OpenAI-compatible API under ``<root>/v1`` and its native REST API under
``<root>/api/v0`` and ``<root>/api/v1``. Users configure either form, with or without a trailing
slash, sometimes without a scheme. :func:`normalize_base_url` maps all of them to one
:class:`ServerURLs` whose ``root`` never ends in ``/`` or ``/v1`` and whose ``openai`` is ``root/v1``,
so joined paths can never become ``/v1/v1/models`` or ``/v1//models``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from pytest_lmstudio.errors import InvalidBaseURL

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_PORT", "ServerURLs", "normalize_base_url"]

DEFAULT_PORT = 1234
DEFAULT_BASE_URL = f"http://127.0.0.1:{DEFAULT_PORT}"

# trailing API prefixes people paste as "the base URL"; stripped (repeatedly) to find the root
_API_SUFFIXES = ("/api/v0", "/api/v1", "/v1")  # longest first
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


@dataclass(frozen=True)
class ServerURLs:
    """The URLs of one LM Studio server. ``root`` has no trailing slash and no ``/v1``."""

    root: str

    @property
    def openai(self) -> str:
        """Base URL for OpenAI-compatible clients: ``<root>/v1``."""
        return self.root + "/v1"

    @property
    def native_v0(self) -> str:
        return self.root + "/api/v0"

    @property
    def native_v1(self) -> str:
        return self.root + "/api/v1"

    def join(self, path: str) -> str:
        """``root`` + ``path``; ``path`` is an absolute route such as ``/v1/models``."""
        if not path.startswith("/"):
            path = "/" + path
        return self.root + re.sub(r"/{2,}", "/", path)

    def __str__(self) -> str:
        return self.root


def normalize_base_url(url: str) -> ServerURLs:
    """Normalise a user-supplied LM Studio URL.

    Accepted: ``http://localhost:1234``, ``http://localhost:1234/``, ``http://localhost:1234/v1``,
    ``http://localhost:1234/v1/``, ``localhost:1234``, ``127.0.0.1:1234``, ``[::1]:1234``, a URL
    ending in ``/api/v0`` or ``/api/v1``, a reverse-proxy prefix (``https://host/lmstudio/v1``), and
    repeated or doubled slashes. A missing scheme means ``http``. The port is never guessed.

    Raises :class:`~pytest_lmstudio.errors.InvalidBaseURL` for an empty value, a scheme other than
    http/https (``ws://`` is the SDK's WebSocket URL, not the REST API), a missing host, a bad port,
    or a query string / fragment / credentials in the URL.
    """
    if not isinstance(url, str):
        raise InvalidBaseURL(f"the LM Studio base URL must be a string, not {type(url).__name__}")
    raw = url.strip()
    if not raw:
        raise InvalidBaseURL(f"the LM Studio base URL is empty: use the server root, e.g. {DEFAULT_BASE_URL}")
    match = _SCHEME_RE.match(raw)
    if match is None:
        raw = "http:" + raw if raw.startswith("//") else "http://" + raw
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        extra = (
            " (ws:// is the LM Studio SDK's WebSocket URL; the REST API on the same port uses http://)"
            if scheme in ("ws", "wss")
            else ""
        )
        raise InvalidBaseURL(
            f"LM Studio base URL {url!r} has scheme {parts.scheme!r}: only http:// and https:// are"
            f" supported{extra}. Use e.g. {DEFAULT_BASE_URL}."
        )
    if parts.query or parts.fragment:
        raise InvalidBaseURL(
            f"LM Studio base URL {url!r} has a query string or fragment: give only the server root,"
            f" e.g. {DEFAULT_BASE_URL}"
        )
    if "@" in parts.netloc:
        raise InvalidBaseURL(
            "the LM Studio base URL must not contain credentials (user:password@): pass the API token"
            " as api_key or set LM_API_TOKEN instead"
        )
    try:
        host = parts.hostname
        _ = parts.port  # validates the port
    except ValueError as exc:
        raise InvalidBaseURL(f"LM Studio base URL {url!r} has an invalid port: {exc}") from None
    if not host:
        raise InvalidBaseURL(f"LM Studio base URL {url!r} has no host: use e.g. {DEFAULT_BASE_URL}")
    netloc = parts.netloc.lower()
    path = re.sub(r"/{2,}", "/", parts.path)
    path = path.rstrip("/")
    stripped = True
    while stripped:
        stripped = False
        for suffix in _API_SUFFIXES:
            if path.lower().endswith(suffix):
                path = path[: -len(suffix)].rstrip("/")
                stripped = True
                break
    return ServerURLs(urlunsplit((scheme, netloc, path, "", "")))
