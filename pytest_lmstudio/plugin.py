"""pytest-lmstudio: the pytest plugin (options, fixtures, markers, report)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "lmstudio(models=None): the test needs LM Studio (real or fake); optionally the models it uses",
    )
