"""Client settings from arguments and environment variables, with one documented precedence.

Base URL: explicit argument > ``LMSTUDIO_URL`` > ``LMSTUDIO_BASE_URL`` > ``LM_STUDIO_API_BASE`` >
``http://127.0.0.1:1234``. API key: explicit argument > ``LMSTUDIO_API_KEY`` > ``LM_API_TOKEN`` >
``LM_STUDIO_API_KEY`` > none. Empty or blank variables count as unset. Any of the accepted URL forms
(root or ``.../v1``, with or without scheme) may be used; see :mod:`pytest_lmstudio.client.urls`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from pytest_lmstudio.client.urls import DEFAULT_BASE_URL, ServerURLs, normalize_base_url
from pytest_lmstudio.errors import InvalidBaseURL

__all__ = [
    "API_KEY_ENV_VARS",
    "BASE_URL_ENV_VARS",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "JSON_TYPE",
    "ClientConfig",
]

BASE_URL_ENV_VARS: tuple[str, ...] = ("LMSTUDIO_URL", "LMSTUDIO_BASE_URL", "LM_STUDIO_API_BASE")
API_KEY_ENV_VARS: tuple[str, ...] = ("LMSTUDIO_API_KEY", "LM_API_TOKEN", "LM_STUDIO_API_KEY")
DEFAULT_TIMEOUT = 120.0  # seconds to wait for an answer (local generation can be slow)
DEFAULT_CONNECT_TIMEOUT = 5.0
JSON_TYPE = "application/json"  # what the client asks for (Accept) and sends


def _first_set(environ: Mapping[str, str], names: tuple[str, ...]) -> tuple[str | None, str | None]:
    for name in names:
        value = environ.get(name)
        if value is not None and value.strip():
            return value.strip(), name
    return None, None


@dataclass(frozen=True)
class ClientConfig:
    """Resolved client settings. ``base_url_source`` / ``api_key_source`` name where each came from
    (``"argument"``, an environment variable name, ``"default"`` or ``None``). The API key is never
    shown in ``repr``."""

    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = field(default=None, repr=False)
    default_model: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    base_url_source: str = "default"
    api_key_source: str | None = None

    def __post_init__(self) -> None:
        # normalise (and validate) once; keep the root form
        object.__setattr__(self, "base_url", normalize_base_url(self.base_url).root)
        if self.api_key is not None and not self.api_key.strip():
            object.__setattr__(self, "api_key", None)
            object.__setattr__(self, "api_key_source", None)

    @property
    def urls(self) -> ServerURLs:
        return ServerURLs(self.base_url)

    @property
    def openai_base_url(self) -> str:
        """``<root>/v1``, what OpenAI-compatible clients need."""
        return self.urls.openai

    def __repr__(self) -> str:
        key = "None" if self.api_key is None else "'***'"
        return (
            f"ClientConfig(base_url={self.base_url!r}, api_key={key}, default_model={self.default_model!r},"
            f" timeout={self.timeout!r}, connect_timeout={self.connect_timeout!r},"
            f" base_url_source={self.base_url_source!r}, api_key_source={self.api_key_source!r})"
        )

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        default_model: str | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> ClientConfig:
        """Resolve settings: explicit (non-``None``) arguments beat ``environ`` (default ``os.environ``)."""
        env = os.environ if environ is None else environ
        if base_url is not None:
            url, url_source = base_url, "argument"
        else:
            found, name = _first_set(env, BASE_URL_ENV_VARS)
            url, url_source = (
                (found, name)
                if found is not None and name is not None
                else (
                    DEFAULT_BASE_URL,
                    "default",
                )
            )
        if api_key is not None:
            key: str | None = api_key
            key_source: str | None = "argument"
        else:
            key, key_source = _first_set(env, API_KEY_ENV_VARS)
        if url_source not in ("argument", "default"):
            try:
                normalize_base_url(url)
            except InvalidBaseURL as exc:
                raise InvalidBaseURL(f"{exc} (the value comes from the environment variable {url_source})")
        return cls(
            base_url=url,
            api_key=key,
            default_model=default_model,
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
            connect_timeout=DEFAULT_CONNECT_TIMEOUT if connect_timeout is None else connect_timeout,
            base_url_source=url_source,
            api_key_source=key_source,
        )
