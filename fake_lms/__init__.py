"""A fake LM Studio: an HTTP server speaking LM Studio's APIs, and a fake ``lms`` command.

Exports are resolved lazily so that the fake ``lms`` command starts without importing the HTTP
engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fake_lms.catalog import Catalog, CatalogError, ModelSpec
    from fake_lms.server import FakeLMStudio
    from fake_lms.state import Home, Settings

__all__ = ["Catalog", "CatalogError", "FakeLMStudio", "Home", "ModelSpec", "Settings"]
__version__ = "0.1.0"
LMSTUDIO_VERSION = "0.4.4+1"  # the LM Studio version the fake reports (/lms-status)

_EXPORTS = {
    "Catalog": "fake_lms.catalog",
    "CatalogError": "fake_lms.catalog",
    "ModelSpec": "fake_lms.catalog",
    "FakeLMStudio": "fake_lms.server",
    "Home": "fake_lms.state",
    "Settings": "fake_lms.state",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fake_lms' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
