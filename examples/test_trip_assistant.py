"""The example application's tests: they run against LM Studio (the bundled fake by default)."""

from __future__ import annotations

import openai
from trip_assistant import Itinerary, TripAssistant


def test_weather_question_uses_the_tool(client: openai.OpenAI) -> None:
    seen: list[str] = []
    assistant = TripAssistant(client, weather=lambda city: seen.append(city) or f"rainy in {city}")
    answer = assistant.ask("What's the weather in Lisbon today?")
    assert seen == ["Lisbon"]
    assert "rainy in Lisbon" in answer


def test_small_talk_needs_no_tool(client: openai.OpenAI) -> None:
    assistant = TripAssistant(client, weather=lambda city: (_ for _ in ()).throw(AssertionError("no tool")))
    assert assistant.ask("Hello there!")


def test_plan_returns_a_typed_itinerary(client: openai.OpenAI) -> None:
    plan = TripAssistant(client).plan("Three days in Kyoto, please")
    assert isinstance(plan, Itinerary)
    assert plan.days >= 1 and plan.activities


def test_streamed_tip_arrives_in_pieces(client: openai.OpenAI) -> None:
    pieces = list(TripAssistant(client).stream_tip("Porto"))
    assert len(pieces) > 3
    assert "Porto" in "".join(pieces)


def test_best_note_uses_embeddings(client: openai.OpenAI) -> None:
    notes = ["pack an umbrella for rainy days", "museum tickets are cheaper online", "try the local bakery"]
    assert TripAssistant(client).best_note(notes, "rainy weather umbrella") == notes[0]
