"""The LM Studio version the shared fake reports is configurable (issue 14 item 10): an app's
version check can be tested against an older or newer LM Studio than the fake's default."""

from __future__ import annotations

import pytest


def test_the_shared_fake_reports_the_configured_version(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import httpx
        import pytest

        @pytest.mark.lmstudio
        def test_app(lmstudio_server, lmstudio_lms):
            status = httpx.get(lmstudio_server.url + "/lms-status").json()
            assert status == {"package": "lmstudio", "version": "0.4.26+1"}
            assert lmstudio_server.version == "0.4.26+1"
            daemon = lmstudio_lms.run("daemon", "status")
            assert "llmster v0.4.26+1 is running" in daemon.stdout
    """)
    result = pytester.runpytest_subprocess("--lmstudio-mode=fake", "--lmstudio-fake-version=0.4.26+1")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*bundled fake LM Studio 0.4.26+1; it starts when a test needs it*"])


def test_a_malformed_version_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("--lmstudio-fake-version=latest")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*fake-version must look like 0.4.24+1, not 'latest'*"])
