"""A small application built on LM Studio: a trip assistant.

It uses what LM Studio apps typically use: chat completions with a tool (weather lookup),
structured output (a typed itinerary), streaming, and embeddings (find the most relevant note).
It takes an ``openai.OpenAI`` client, so it runs unchanged against a real LM Studio
(``base_url="http://localhost:1234/v1"``) or the bundled fake.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import openai
from pydantic import BaseModel

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


class Itinerary(BaseModel):
    city: str
    days: int
    activities: list[str]


@dataclass
class TripAssistant:
    client: openai.OpenAI
    model: str = "qwen/qwen3-4b"
    embedding_model: str = "text-embedding-nomic-embed-text-v1.5"
    weather: Callable[[str], str] = lambda city: f"18°C and sunny in {city}"

    def ask(self, question: str) -> str:
        """Answer a question, calling the weather tool when the model asks for it."""
        messages: list[dict] = [
            {"role": "system", "content": "You are a concise travel assistant."},
            {"role": "user", "content": question},
        ]
        for _ in range(3):  # at most three tool rounds
            reply = self.client.chat.completions.create(
                model=self.model, messages=messages, tools=[WEATHER_TOOL]
            )
            message = reply.choices[0].message
            if not message.tool_calls:
                return message.content or ""
            messages.append(message.model_dump(exclude_none=True))
            for call in message.tool_calls:
                args = json.loads(call.function.arguments)
                messages.append(
                    {"role": "tool", "tool_call_id": call.id, "content": self.weather(args["city"])}
                )
        raise RuntimeError("the model kept calling tools")

    def plan(self, request: str) -> Itinerary:
        """A typed itinerary via structured output."""
        result = self.client.chat.completions.parse(
            model=self.model, messages=[{"role": "user", "content": request}], response_format=Itinerary
        )
        parsed = result.choices[0].message.parsed
        if parsed is None:
            raise ValueError("the model did not return an itinerary")
        return parsed

    def stream_tip(self, city: str) -> Iterator[str]:
        """Stream a travel tip, piece by piece."""
        stream = self.client.chat.completions.create(
            model=self.model,
            messages=[{"role": "user", "content": f"One tip for visiting {city}"}],
            stream=True,
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content

    def best_note(self, notes: list[str], query: str) -> str:
        """The note most similar to the query (cosine similarity of embeddings)."""
        vectors = [
            d.embedding
            for d in self.client.embeddings.create(model=self.embedding_model, input=[query, *notes]).data
        ]
        query_vec, note_vecs = vectors[0], vectors[1:]

        def cosine(a: list[float], b: list[float]) -> float:
            dot = sum(x * y for x, y in zip(a, b))
            return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))

        scores = [cosine(query_vec, v) for v in note_vecs]
        return notes[scores.index(max(scores))]
