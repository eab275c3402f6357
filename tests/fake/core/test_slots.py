"""Prediction slots (fake_lms/core/slots.py): at most ``parallel`` requests run on an instance,
the rest wait first come first served, and the instance's status and queue follow them.

Sources: ``queued`` counts the running request too and ``status`` is one of idle,
processingPrompt, generating, computingEmbedding (spec §4.3 ``lms ps --json``; ws-protocol §6.2
``getInstanceProcessingState``); a request goes processingPrompt → generating → idle (observed on
0.4.24, vinzdg/codenotch docs/plans/2026-09-10-lm-studio-provider-plan.md)."""

from __future__ import annotations

from fake_lms.core.slots import Claim, Slots


def test_requests_beyond_parallel_wait_in_arrival_order() -> None:
    slots = Slots()
    a, b, c = (slots.enter("m", 1) for _ in range(3))
    assert (a.ready(), b.ready(), c.ready()) == (True, False, False)
    assert slots.state("m") == {"status": "processingPrompt", "queued": 3}
    a.generating()
    assert slots.state("m") == {"status": "generating", "queued": 3}
    assert b.wait(timeout=0.01) is False  # still a's turn
    a.release()
    assert (b.ready(), c.ready()) == (True, False)
    assert slots.state("m") == {"status": "processingPrompt", "queued": 2}
    b.release()
    c.release()
    assert slots.state("m") == {"status": "idle", "queued": 0}
    assert slots.states() == {}


def test_a_waiting_request_that_leaves_gives_its_place_up() -> None:
    slots = Slots()
    a, b, c = (slots.enter("m", 1) for _ in range(3))
    b.release()  # a client gone while queued
    b.release()  # releasing twice is harmless
    a.release()
    assert c.ready() and slots.state("m")["queued"] == 1


def test_instances_are_independent_and_parallel_follows_the_instance() -> None:
    slots = Slots()
    first = [slots.enter("m", 2) for _ in range(3)]
    other = slots.enter("n", 1)
    assert [t.ready() for t in first] == [True, True, False] and other.ready()
    assert slots.states() == {
        "m": {"status": "processingPrompt", "queued": 3},
        "n": {"status": "processingPrompt", "queued": 1},
    }


def test_embeddings_have_no_limit_and_compute() -> None:
    slots = Slots()
    claim = Claim(slots, "e", None, embedding=True)
    tickets = [claim.enter() for _ in range(10)]
    assert all(t.ready() for t in tickets)
    assert slots.state("e") == {"status": "computingEmbedding", "queued": 10}
