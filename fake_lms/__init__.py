"""A fake LM Studio: an HTTP server speaking LM Studio's APIs, and a fake ``lms`` command.

Exports are resolved lazily so that the fake ``lms`` command starts without importing the HTTP
engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fake_lms.model.identity import LMSTUDIO_VERSION

if TYPE_CHECKING:
    from fake_lms.model.catalog import Catalog, CatalogError, ModelSpec
    from fake_lms.model.home import Home, Settings
    from fake_lms.scripting.remote import ControlClient, ScopedControl
    from fake_lms.server.fake import FakeLMStudio

__all__ = [
    "LMSTUDIO_VERSION",
    "Catalog",
    "CatalogError",
    "ControlClient",
    "FakeLMStudio",
    "Home",
    "ModelSpec",
    "ScopedControl",
    "Settings",
]
__version__ = "0.1.0"

_EXPORTS = {
    "Catalog": "fake_lms.model.catalog",
    "CatalogError": "fake_lms.model.catalog",
    "ModelSpec": "fake_lms.model.catalog",
    "FakeLMStudio": "fake_lms.server.fake",
    "ControlClient": "fake_lms.scripting.remote",
    "ScopedControl": "fake_lms.scripting.remote",
    "Home": "fake_lms.model.home",
    "Settings": "fake_lms.model.home",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fake_lms' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
