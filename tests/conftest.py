from __future__ import annotations

from collections.abc import Iterator

import pytest

from fake_lms import FakeLMStudio


@pytest.fixture
def fake() -> Iterator[FakeLMStudio]:
    """A fresh in-process fake LM Studio with the default catalog."""
    with FakeLMStudio() as server:
        yield server
