"""Applications configured by the environment, tested against the scriptable in-process fake
(issue 15 item 2): ``lmstudio_fake_env`` points the usual variables, the fake ``lms`` and the SDK's
default client at ``lmstudio_fake`` for one test, and restores them after it."""

from __future__ import annotations

import pytest


def test_an_env_configured_app_is_scripted_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        app="""
        import os
        import subprocess

        import lmstudio
        import openai

        def answer(question):
            client = openai.OpenAI()  # OPENAI_BASE_URL and OPENAI_API_KEY from the environment
            r = client.chat.completions.create(
                model="llama-3.2-3b-instruct", messages=[{"role": "user", "content": question}]
            )
            return r.choices[0].message.content

        def loaded():
            return subprocess.run(["lms", "ps", "--json"], capture_output=True, text=True, check=True).stdout

        def sdk_answer(question):
            return lmstudio.llm("llama-3.2-3b-instruct").respond(question).content
        """
    )
    pytester.makepyfile(
        test_app="""
        import json
        import os

        import app

        def test_scripted(lmstudio_fake, lmstudio_fake_env):
            lmstudio_fake.add_model("llama-3.2-3b-instruct")
            lmstudio_fake.reply("Paris.", match="capital")
            assert app.answer("capital of France?") == "Paris."
            lmstudio_fake.assert_called_with(model="llama-3.2-3b-instruct")
            assert [m["identifier"] for m in json.loads(app.loaded())] == ["llama-3.2-3b-instruct"]
            assert os.environ["LMSTUDIO_URL"] == lmstudio_fake.url

        def test_fault(lmstudio_fake, lmstudio_fake_env):
            import openai
            import pytest

            lmstudio_fake.add_model("llama-3.2-3b-instruct")
            lmstudio_fake.fail(400, message="nope", times=None)
            with pytest.raises(openai.BadRequestError):
                app.answer("anything")

        def test_sdk(lmstudio_fake, lmstudio_fake_env):
            lmstudio_fake.add_model("llama-3.2-3b-instruct")
            lmstudio_fake.reply("from the SDK")
            assert app.sdk_answer("hi") == "from the SDK"
        """
    )
    result = pytester.runpytest_subprocess("-p", "xdist", "-n", "2")
    result.assert_outcomes(passed=3)


def test_the_environment_is_restored_after_the_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OPENAI_BASE_URL", "LMSTUDIO_URL", "LMS_FAKE_HOME"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(
        test_order="""
        import os

        import lmstudio

        def test_1_uses_the_fake(lmstudio_fake, lmstudio_fake_env):
            assert os.environ["OPENAI_BASE_URL"] == lmstudio_fake.base_url
            assert os.environ["PATH"].split(os.pathsep)[0].endswith("lmstudio-fake-bin0")
            assert lmstudio.get_default_client().api_host == lmstudio_fake.api_host

        def test_2_after_it():
            for name in ("OPENAI_BASE_URL", "LMSTUDIO_URL", "LMS_FAKE_HOME"):
                assert name not in os.environ
            assert "lmstudio-fake-bin" not in os.environ["PATH"]
            assert lmstudio.sync_api._default_client is None
        """
    )
    pytester.runpytest_subprocess("-p", "no:randomly").assert_outcomes(passed=2)
