"""``--lmstudio-timeout`` is a deadline for each whole request, streams included (issue 16): a
server trickling one byte every 2 s kept a run going past 120 s with the timeout at 5 s, since the
timeout bounded each read. A pytester run (a real subprocess) against a real trickling server on
loopback (tests/_trickle.py, trickling for 90 s at most) must end, well within the generous bound,
with each test failing on the deadline and naming the option.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import _trickle
import pytest

pytest_plugins = ["pytester"]

SETTINGS_ENV = [
    "LMSTUDIO_MODE",
    "LMSTUDIO_URL",
    "LMSTUDIO_BASE_URL",
    "LM_STUDIO_API_BASE",
    "LMSTUDIO_TIMEOUT",
    "LMSTUDIO_API_KEY",
    "LM_API_TOKEN",
    "LM_STUDIO_API_KEY",
]
RUN_BOUND = 60.0  # seconds: the run must end, not a speed target (three requests of a 5 s deadline)


@pytest.fixture
def trickle(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    for name in SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTEST_LMSTUDIO_LEASE_DIR", str(tmp_path / "leases"))
    proc, url = _trickle.start(interval=2.0, limit=90)
    yield url
    proc.terminate()
    proc.wait(10)


def test_timeout_is_a_deadline_for_the_whole_request(pytester: pytest.Pytester, trickle: str) -> None:
    pytester.makepyfile("""
        import pytest

        def test_chat(lmstudio_client):
            lmstudio_client.chat("hi")

        def test_stream(lmstudio_client):
            for _ in lmstudio_client.stream("hi"):
                pass

        @pytest.mark.asyncio
        async def test_async_stream(lmstudio_async_client):
            async for _ in lmstudio_async_client.stream("hi"):
                pass
    """)
    started = time.monotonic()
    result = pytester.runpytest_subprocess(
        f"--lmstudio-url={trickle}", "--no-lmstudio-start", "--lmstudio-timeout=5", timeout=RUN_BOUND * 2
    )
    seconds = time.monotonic() - started
    result.assert_outcomes(failed=3)
    deadline = (
        f"*LMStudioTimeout: LM Studio at {trickle} did not finish POST /v1/chat/completions within 5 s:"
        " the deadline for the whole request, streamed answers included (set with timeout=..., or"
        " --lmstudio-timeout in a pytest run), was hit.*"
    )
    result.stdout.fnmatch_lines([deadline])
    assert result.stdout.str().count("within 5 s: the deadline for the whole request") >= 3  # each test
    assert seconds < RUN_BOUND
