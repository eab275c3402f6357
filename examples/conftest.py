"""Fixtures for the example suite: an openai client bound to LM Studio (the bundled fake)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from fake_lms import FakeLMStudio

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def lmstudio() -> Iterator[FakeLMStudio]:
    with FakeLMStudio() as fake:
        yield fake


@pytest.fixture
def client(lmstudio: FakeLMStudio) -> openai.OpenAI:
    return openai.OpenAI(base_url=lmstudio.base_url, api_key="lm-studio", max_retries=0)
