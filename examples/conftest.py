"""The example suite's only fixture: the application, wired to the LM Studio the plugin provides."""

from __future__ import annotations

import openai
import pytest
from trip_assistant import TripAssistant


@pytest.fixture
def assistant(lmstudio_openai: openai.OpenAI) -> TripAssistant:
    return TripAssistant(lmstudio_openai)
