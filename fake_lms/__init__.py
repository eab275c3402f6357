"""A fake LM Studio: an HTTP server speaking LM Studio's APIs, and a fake ``lms`` command."""

from fake_lms.catalog import Catalog, CatalogError, ModelSpec
from fake_lms.server import FakeLMStudio
from fake_lms.state import Home, Settings

__all__ = ["Catalog", "CatalogError", "FakeLMStudio", "Home", "ModelSpec", "Settings"]
__version__ = "0.1.0"
