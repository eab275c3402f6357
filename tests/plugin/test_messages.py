"""Messages a person reads once (issue 15 item 7): no duplicated --lmstudio-require message, skip
reasons without the whole PATH (the details once in the summary), words instead of internal codes,
and a switched-off run reported as switched off."""

from __future__ import annotations

import pytest


def test_require_prints_its_message_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.lmstudio
        def test_app():
            pass
    """)
    result = pytester.runpytest_subprocess(
        "--lmstudio-url=http://127.0.0.1:9", "--no-lmstudio-start", "--lmstudio-require"
    )
    result.assert_outcomes(errors=1)
    text = result.stdout.str()
    assert "During handling of the above exception" not in text
    # once in the error's report; the short summary may repeat it (untruncated under CI=true)
    report = text.split("short test summary info")[0]
    assert report.count("--lmstudio-require turns this skip into a failure") == 1


def test_the_lms_not_found_skip_leaves_the_path_to_the_summary(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent-a:/nonexistent-b:/usr/bin:/bin")
    monkeypatch.setenv("HOME", str(pytester.path))
    pytester.makepyfile("""
        def test_cli(lmstudio_lms):
            pass
    """)
    from fake_lms import FakeLMStudio

    with FakeLMStudio() as live:  # a running "LM Studio" without an `lms` on this machine
        result = pytester.runpytest_subprocess(f"--lmstudio-url={live.url}", "-rs", "--junitxml=report.xml")
    skips = [line for line in result.stdout.lines if line.startswith("SKIPPED")]
    assert skips and "/nonexistent-a" not in skips[0] and "`lms` was not found" in skips[0]
    assert "/nonexistent-a" not in (pytester.path / "report.xml").read_text()


def test_off_is_reported_as_switched_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.lmstudio
        def test_app():
            pass
    """)
    result = pytester.runpytest_subprocess("--lmstudio-mode=off")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*LM Studio tests are switched off (--lmstudio-mode=off)*"])
