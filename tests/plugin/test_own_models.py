"""Your own model names in fake mode (issue 15 item 1): a model the bundled fake's catalog lacks,
named by the marker, ``lmstudio_model`` or ``--lmstudio-model``, is added with a spec guessed from
its name, and the summary says so; no ``lms get`` advice is given for the fake."""

from __future__ import annotations

import pytest


def test_marker_and_fixture_models_the_fake_lacks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import httpx
        import pytest

        @pytest.mark.lmstudio(models=["llama-3.2-3b-instruct"])
        def test_marked(lmstudio_base_url):
            body = {"model": "llama-3.2-3b-instruct", "messages": [{"role": "user", "content": "hi"}]}
            r = httpx.post(lmstudio_base_url.v1 + "/chat/completions", json=body, timeout=30)
            assert r.status_code == 200 and r.json()["model"] == "llama-3.2-3b-instruct"

        def test_fixture(lmstudio_model, lmstudio_base_url):
            model = lmstudio_model("text-embedding-bge-m3")
            body = {"model": model.identifier, "input": "x"}
            r = httpx.post(lmstudio_base_url.v1 + "/embeddings", json=body, timeout=30)
            assert r.status_code == 200  # recognised as an embedding model by its name
    """)
    result = pytester.runpytest_subprocess("--lmstudio-mode=fake", "-p", "xdist", "-n", "2", "-rs")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*models added to the bundled fake*"])
    assert "llama-3.2-3b-instruct" in result.stdout.str() and "lms get" not in result.stdout.str()
