"""The example application's tests. They run against LM Studio: a real one when it is running,
otherwise the bundled fake (``lmstudio_mode = auto`` in pytest.ini). The assertions hold for a real
model too: they check what the application does, not the exact words a model says."""

from __future__ import annotations

import pytest
from trip_assistant import Itinerary, TripAssistant

pytestmark = pytest.mark.lmstudio(models=["qwen/qwen3-4b", "text-embedding-nomic-embed-text-v1.5"])


def test_weather_question_uses_the_tool(assistant: TripAssistant) -> None:
    seen: list[str] = []

    def weather(city: str) -> str:
        seen.append(city)
        return f"rainy in {city}"

    assistant.weather = weather
    answer = assistant.ask("What's the weather in Lisbon today?")
    assert seen == ["Lisbon"]
    assert answer.strip()


def test_small_talk_needs_no_tool(assistant: TripAssistant) -> None:
    def weather(city: str) -> str:
        raise AssertionError("small talk must not call the weather tool")

    assistant.weather = weather
    assert assistant.ask("Hello there!").strip()


def test_plan_returns_a_typed_itinerary(assistant: TripAssistant) -> None:
    plan = assistant.plan("Three days in Kyoto, please")
    assert isinstance(plan, Itinerary)
    assert plan.days >= 1 and plan.activities


def test_streamed_tip_arrives_in_pieces(assistant: TripAssistant) -> None:
    pieces = list(assistant.stream_tip("Porto"))
    assert len(pieces) > 1
    assert "".join(pieces).strip()


def test_best_note_uses_embeddings(assistant: TripAssistant) -> None:
    notes = ["pack an umbrella for rainy days", "museum tickets are cheaper online", "try the local bakery"]
    assert assistant.best_note(notes, "rainy weather umbrella") == notes[0]
