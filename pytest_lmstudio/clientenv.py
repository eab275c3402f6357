"""The environment variables common LM Studio clients read, and their values for one server."""

from __future__ import annotations

ENV_VARIABLES = (
    "LMSTUDIO_URL",
    "LMSTUDIO_BASE_URL",
    "LM_STUDIO_API_BASE",
    "LM_STUDIO_API_KEY",
    "LM_API_TOKEN",
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
)


def client_env(root: str, v1: str, key: str) -> dict[str, str]:
    """The values of :data:`ENV_VARIABLES` for a server at ``root`` (``v1``: its ``/v1`` URL)."""
    return {
        "LMSTUDIO_URL": root,
        "LMSTUDIO_BASE_URL": v1,
        "LM_STUDIO_API_BASE": v1,
        "LM_STUDIO_API_KEY": key,
        "LM_API_TOKEN": key,
        "OPENAI_BASE_URL": v1,
        "OPENAI_API_KEY": key,
    }
