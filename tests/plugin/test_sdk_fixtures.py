"""The ``lmstudio_sdk`` / ``lmstudio_async_sdk`` fixtures, in real pytest subprocess runs (pytester)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
pytest.importorskip("lmstudio")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No LM Studio settings, no real `lms` and no real LM Studio home leak into the inner runs."""
    for name in list(os.environ):
        if name.startswith(("LMSTUDIO_", "LM_STUDIO_", "LMS_")) or name == "LM_API_TOKEN":
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "user-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv(
        "PATH",
        os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "lms").exists()),
    )


def test_sdk_fixtures_against_the_fake(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import asyncio

        def test_sync(lmstudio_sdk, lmstudio_server):
            keys = [m.model_key for m in lmstudio_sdk.list_downloaded_models()]
            assert "qwen/qwen3-4b" in keys
            model = lmstudio_sdk.llm.model("qwen/qwen3-4b")
            assert "hello sdk" in model.respond("hello sdk").content

        def test_async(lmstudio_async_sdk):
            async def main():
                async with lmstudio_async_sdk as client:
                    model = await client.llm.model("google/gemma-3-1b")
                    return (await model.respond("hello async sdk")).content
            assert "hello async sdk" in asyncio.run(main())
    """)
    result = pytester.runpytest_subprocess("--lmstudio-mode=fake", "-p", "no:asyncio")
    result.assert_outcomes(passed=2)


def test_an_app_using_the_module_level_helpers_under_xdist(pytester: pytest.Pytester) -> None:
    """Issue 12's new-user check: an application written as LM Studio's docs teach (``import
    lmstudio as lms; lms.llm(...).respond(...)``) and one with an explicit ``Client``, tested
    unchanged in fake mode under ``-n 2``."""
    pytester.makepyfile(
        app="""
        import lmstudio as lms

        def ask(question):
            return lms.llm("qwen/qwen3-4b").respond(question).content

        def ask_with(client, question):
            # one model for every test: under -n 2, two JIT models would evict each other
            # (LM Studio's "only keep the last JIT-loaded model"), on the fake as on LM Studio
            return client.llm.model("qwen/qwen3-4b").respond(question).content
        """
    )
    pytester.makepyfile(
        test_app="""
        import lmstudio as lms
        import app

        def test_module_level(lmstudio_sdk_default):
            assert "capital" in app.ask("capital of France?")

        def test_module_level_again(lmstudio_sdk_default):
            assert lms.get_default_client() is lmstudio_sdk_default
            assert "second" in app.ask("second question")

        def test_explicit_client(lmstudio_sdk):
            assert "explicit" in app.ask_with(lmstudio_sdk, "explicit client")

        def test_default_client_is_reset_between_tests(lmstudio_sdk_default):
            lms.sync_api._reset_default_client()
        """
    )
    result = pytester.runpytest_subprocess("--lmstudio-mode=fake", "-p", "xdist", "-n", "2")
    result.assert_outcomes(passed=4)


def test_sdk_fixtures_skip_without_the_package(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("import sys\nsys.modules['lmstudio'] = None\n")
    pytester.makepyfile("""
        def test_sync(lmstudio_sdk):
            raise AssertionError("not reached")

        def test_async(lmstudio_async_sdk):
            raise AssertionError("not reached")
    """)
    result = pytester.runpytest_subprocess("--lmstudio-mode=fake", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*lmstudio_sdk needs the lmstudio package*"])


def test_readme_sdk_example_runs() -> None:
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index("### The official `lmstudio` SDK (websocket)")
    match = re.compile(r"```python\n(.*?)```", re.S).search(readme, start)
    assert match
    exec(compile(match.group(1), "README", "exec"), {})
