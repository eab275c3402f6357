"""Scripting the shared fake process per test (issue 15 item 2): ``lmstudio_control`` registers
rules that are removed when the test ends, never touches other tests' rules (no global reset), and
sees the requests since the test began; safe under ``-n``."""

from __future__ import annotations

import textwrap

import pytest


def test_per_test_rules_on_the_shared_fake_under_xdist(pytester: pytest.Pytester) -> None:
    tests = "\n".join(
        textwrap.dedent(
            f"""
            def test_{i}(lmstudio_control, lmstudio_env):
                lmstudio_control.reply("answer {i}", match="question {i}")
                assert app.ask("question {i}") == "answer {i}"
                mine = [r for r in lmstudio_control.rules if r["active"] and r["match"] == "question {i}"]
                assert len(mine) == 1  # only this test's rule for its question
                assert any(r.last_user_message == "question {i}" for r in lmstudio_control.requests)
                lmstudio_control.assert_called_with(messages=[{{"role": "user", "content": "question {i}"}}])
            """
        )
        for i in range(6)
    )
    pytester.makepyfile(
        test_shared="import openai\n\n\nclass app:\n"
        "    @staticmethod\n"
        "    def ask(text):\n"
        "        r = openai.OpenAI().chat.completions.create(\n"
        '            model="qwen/qwen3-4b", messages=[{"role": "user", "content": text}]\n'
        "        )\n"
        "        return r.choices[0].message.content\n" + tests
    )
    result = pytester.runpytest_subprocess("--lmstudio-mode=fake", "-p", "xdist", "-n", "2")
    result.assert_outcomes(passed=6)


def test_rules_are_removed_when_the_test_ends(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        def test_1_registers(lmstudio_control):
            lmstudio_control.reply("from test 1", match="only-in-test-1", optional=True)
            lmstudio_control.fail(503, match="only-in-test-1", optional=True)
            assert len([r for r in lmstudio_control.rules if r["active"]]) == 2

        def test_2_sees_none(lmstudio_control):
            assert [r for r in lmstudio_control.rules if r["active"]] == []
            assert lmstudio_control.requests == []  # since this test began

        def test_3_reset_is_this_tests_only(lmstudio_control):
            import pytest

            with pytest.raises(ValueError, match="cannot reset the shared fake"):
                lmstudio_control.reset(state=True)
    """)
    pytester.runpytest_subprocess("--lmstudio-mode=fake", "-p", "no:randomly").assert_outcomes(passed=3)


def test_skips_against_a_real_lm_studio(pytester: pytest.Pytester) -> None:
    from fake_lms import FakeLMStudio

    pytester.makepyfile("""
        def test_x(lmstudio_control):
            pass
    """)
    with FakeLMStudio() as live:  # stands for a real LM Studio: the run does not own it
        result = pytester.runpytest_subprocess(f"--lmstudio-url={live.url}", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*lmstudio_control scripts the bundled fake*"])
