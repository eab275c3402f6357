"""``timeout`` is a deadline for each whole request, streamed answers included (issue 16): a server
trickling one byte at a time, each byte well inside the timeout, still cannot keep a request going.

The server is real (tests/_trickle.py, a process of its own on loopback). It trickles for 20 s at
most: a client that only bounded each read would run that long and then fail otherwise, so the
generous bound below tells a deadline from a per-read timeout without a tight timing assertion.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import _trickle
import pytest

from pytest_lmstudio import AsyncLMStudioClient, LMStudioClient, LMStudioTimeout
from pytest_lmstudio.client.sse import LineSplitter

TIMEOUT = 1.0
TRICKLE_FOR = 20.0
BOUND = 10.0  # well under TRICKLE_FOR, well over TIMEOUT


@pytest.fixture(scope="module")
def trickle() -> Iterator[str]:
    proc, url = _trickle.start(interval=0.2, limit=TRICKLE_FOR)
    yield url
    proc.terminate()
    proc.wait(10)


def check(error: LMStudioTimeout, started: float, own: bool = False) -> None:
    assert time.monotonic() - started < BOUND
    message = str(error)
    assert f"within {TIMEOUT:g} s" in message
    assert "the deadline for the whole request, streamed answers included" in message
    assert ("this call's own deadline" if own else "--lmstudio-timeout") in message
    assert isinstance(error, TimeoutError)


def test_sync_request_ends_at_the_deadline(trickle: str) -> None:
    started = time.monotonic()
    with LMStudioClient(trickle, timeout=TIMEOUT) as lms, pytest.raises(LMStudioTimeout) as info:
        lms.chat("hi")
    check(info.value, started)


def test_sync_stream_ends_at_the_deadline(trickle: str) -> None:
    started = time.monotonic()
    with LMStudioClient(trickle, timeout=TIMEOUT) as lms, pytest.raises(LMStudioTimeout) as info:
        for _ in lms.stream("hi"):
            pass
    check(info.value, started)


def test_a_call_with_its_own_timeout_says_so(trickle: str) -> None:
    started = time.monotonic()
    with LMStudioClient(trickle, timeout=60) as lms, pytest.raises(LMStudioTimeout) as info:
        lms.load("google/gemma-3-1b", timeout=TIMEOUT)  # a load's own deadline, not the client's
    check(info.value, started, own=True)


async def test_async_request_ends_at_the_deadline(trickle: str) -> None:
    started = time.monotonic()
    async with AsyncLMStudioClient(trickle, timeout=TIMEOUT) as lms:
        with pytest.raises(LMStudioTimeout) as info:
            await lms.chat("hi")
    check(info.value, started)


async def test_async_stream_ends_at_the_deadline(trickle: str) -> None:
    started = time.monotonic()
    async with AsyncLMStudioClient(trickle, timeout=TIMEOUT) as lms:
        with pytest.raises(LMStudioTimeout) as info:
            async for _ in lms.stream("hi"):
                pass
    check(info.value, started)


def test_probes_still_answer_at_once(trickle: str) -> None:
    """The deadline ends slow requests only: a quick answer is read as before."""
    with LMStudioClient(trickle, timeout=TIMEOUT) as lms:
        assert lms.greeting() == {"lmstudio": True}
        assert lms.version() is not None


@pytest.mark.parametrize(
    ("chunks", "lines", "rest"),
    [
        ([b"a\nb\n"], ["a", "b"], []),
        ([b"a\r", b"\nb\r\n"], ["a", "b"], []),  # a CRLF cut in two is one line end
        ([b"a\r", b"b\n"], ["a", "b"], []),  # a lone CR ends a line too
        ([b"da", b"ta: x", b"\n\n"], ["data: x", ""], []),
        ([b"caf\xc3", b"\xa9\n"], ["caf\u00e9"], []),  # a character cut in two
        (["a\u2028b\n".encode()], ["a\u2028b"], []),  # not a line end in SSE (str.splitlines'd split)
        ([b"last"], [], ["last"]),  # no line end: given at the end
    ],
)
def test_line_splitter(chunks: list[bytes], lines: list[str], rest: list[str]) -> None:
    splitter = LineSplitter()
    got = [line for chunk in chunks for line in splitter.feed(chunk)]
    assert (got, splitter.flush()) == (lines, rest)
