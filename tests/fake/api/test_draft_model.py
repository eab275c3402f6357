"""Speculative decoding's stats (issue 14 item 7): with a draft model, LM Studio's v0 ``stats``
carry ``draft_model`` and the ``*_draft_tokens_count`` counters, and the SDK's prediction stats
``usedDraftModelKey`` and the ``*DraftTokensCount`` counters.

Sources: API changelog 0.3.10 (``draft_model`` on /api/v0 and the five stats fields; spec §2.1,
fidelity-review row 33); lmstudio-js ``LLMPredictionStats`` (``usedDraftModelKey``,
``totalDraftTokensCount``, ``accepted…``, ``rejected…``, ``ignored…``; ws-protocol §5 "draft
counts"); the SDKs' ``draftModel`` prediction option is the KV field
``llm.prediction.speculativeDecoding.draftModel`` (lmstudio-js config schematics); the Python
docs' example prints ``stats.accepted_draft_tokens_count`` (docs python/llm-prediction/
speculative-decoding)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fake_lms import FakeLMStudio
from fake_lms.model import engine

MAIN, DRAFT = "qwen/qwen3-4b", "google/gemma-3-1b"
MESSAGES = [{"role": "user", "content": "What are the prime numbers between 0 and 100?"}]
DRAFT_FIELDS = [
    "draft_model",
    "total_draft_tokens_count",
    "accepted_draft_tokens_count",
    "rejected_draft_tokens_count",
    "ignored_draft_tokens_count",
]


def check_counts(stats: dict[str, Any], predicted: int) -> None:
    total, accepted = stats["total_draft_tokens_count"], stats["accepted_draft_tokens_count"]
    rejected, ignored = stats["rejected_draft_tokens_count"], stats["ignored_draft_tokens_count"]
    assert total == accepted + rejected + ignored
    assert 0 < accepted <= predicted and rejected >= 0 and ignored >= 0


@pytest.mark.parametrize("path", ["/api/v0/chat/completions", "/api/v0/completions"])
def test_v0_stats_carry_the_draft_model_and_its_counts(fake: FakeLMStudio, path: str) -> None:
    fake.home.load(MAIN)
    body: dict[str, Any] = {"model": MAIN, "draft_model": DRAFT}
    if "chat" in path:
        body["messages"] = MESSAGES
    else:
        body["prompt"] = "The primes below 100 are"
    answer = httpx.post(fake.url + path, json=body).json()
    stats = answer["stats"]
    base = ["tokens_per_second", "time_to_first_token", "generation_time", "stop_reason"]
    assert list(stats) == [*base, *DRAFT_FIELDS]
    assert stats["draft_model"] == DRAFT
    check_counts(stats, answer["usage"]["completion_tokens"])


def test_without_a_draft_model_there_are_no_draft_fields(fake: FakeLMStudio) -> None:
    fake.home.load(MAIN)
    stats = httpx.post(
        fake.url + "/api/v0/chat/completions", json={"model": MAIN, "messages": MESSAGES}
    ).json()["stats"]
    assert not set(DRAFT_FIELDS) & set(stats)


def test_a_model_loaded_with_a_draft_model_reports_it(fake: FakeLMStudio) -> None:
    # what lms load --speculative-draft-simple --speculative-draft-model <m> stores
    fake.home.load(MAIN, config={"speculative_draft_simple": True, "speculative_draft_model": DRAFT})
    stats = httpx.post(
        fake.url + "/api/v0/chat/completions", json={"model": MAIN, "messages": MESSAGES}
    ).json()["stats"]
    assert stats["draft_model"] == DRAFT


def test_the_openai_endpoint_keeps_its_empty_stats(fake: FakeLMStudio) -> None:
    # /v1/chat/completions answers "stats": {} (spec §1; the draft counters are a v0 block)
    fake.home.load(MAIN)
    answer = httpx.post(
        fake.url + "/v1/chat/completions", json={"model": MAIN, "messages": MESSAGES, "draft_model": DRAFT}
    ).json()
    assert answer["stats"] == {}


def test_the_counts_always_add_up() -> None:
    for predicted in (0, 1, 2, 7, 100, 4096):
        counts = engine.draft_counts(predicted)
        assert counts.total == counts.accepted + counts.rejected + counts.ignored
        assert 0 <= counts.accepted <= predicted


def test_the_python_sdk_reports_accepted_draft_tokens(fake: FakeLMStudio) -> None:
    lms = pytest.importorskip("lmstudio")
    fake.home.load(MAIN)
    with lms.Client(fake.api_host) as client:
        result = client.llm.model(MAIN).respond(MESSAGES[0]["content"], config={"draftModel": DRAFT})
        stats = result.stats
        assert stats.used_draft_model_key == DRAFT
        assert stats.total_draft_tokens_count == (
            stats.accepted_draft_tokens_count
            + stats.rejected_draft_tokens_count
            + stats.ignored_draft_tokens_count
        )
        assert 0 < stats.accepted_draft_tokens_count <= stats.predicted_tokens_count
        plain = client.llm.model(MAIN).respond("hi")
        assert plain.stats.used_draft_model_key is None
