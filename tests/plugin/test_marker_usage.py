"""A typo in the ``lmstudio`` marker is a usage error naming the marker, the test and the accepted
arguments (issue 15 item 4): ``lmstudio(model=...)`` used to ensure nothing and say nothing."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("marker", "problem"),
    [
        ('lmstudio(model="qwen/qwen3-4b")', "unknown argument 'model'"),
        ('lmstudio("a", "b")', "more than one positional argument"),
        ('lmstudio("a", models=["b"])', "models given twice"),
        ("lmstudio(cassette=3)", "cassette must be True, False or a name"),
        ("lmstudio(models=3)", "takes model keys"),
    ],
)
def test_a_marker_typo_is_a_usage_error(pytester: pytest.Pytester, marker: str, problem: str) -> None:
    pytester.makepyfile(f"""
        import pytest

        @pytest.mark.{marker}
        def test_app():
            pass
    """)
    result = pytester.runpytest_subprocess("--lmstudio-mode=fake")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = result.stderr.str() + result.stdout.str()
    assert "test_a_marker_typo_is_a_usage_error.py::test_app" in text and problem in text
    if "unknown argument" in problem:
        assert "Accepted arguments: models:" in text


def test_good_markers_pass(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.lmstudio("qwen/qwen3-4b")
        def test_positional(lmstudio_base_url):
            pass

        @pytest.mark.lmstudio(models=["qwen/qwen3-4b"], cassette=False)
        def test_keywords(lmstudio_base_url):
            pass

        @pytest.mark.lmstudio
        def test_bare(lmstudio_base_url):
            pass
    """)
    pytester.runpytest_subprocess("--lmstudio-mode=fake").assert_outcomes(passed=3)
