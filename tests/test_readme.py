"""The README's examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def block_after(marker: str, language: str = "python") -> str:
    """The first fenced code block after the line containing ``marker``."""
    start = README.index(marker)
    match = re.compile(rf"```{language}\n(.*?)```", re.S).search(README, start)
    assert match, f"no {language} block after {marker!r}"
    return match.group(1)


def test_plugin_example_runs_against_the_fake(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_readme_example=block_after("registers the\nplugin with pytest"))
    result = pytester.runpytest_subprocess("--lmstudio-mode=fake")
    result.assert_outcomes(passed=3)


def test_in_process_fake_example_runs() -> None:
    exec(compile(block_after("### In-process, in your tests"), "README", "exec"), {})


def test_catalog_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = block_after("Your own catalog, as Python objects or a file")
    toml = block_after("Your own catalog, as Python objects or a file", "toml")
    (tmp_path / "models.toml").write_text(toml)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README", "exec"), {})
    from fake_lms import Catalog

    catalog = Catalog.load(tmp_path / "models.toml")
    assert catalog.get("acme/embed").downloaded is False


def test_the_async_example_runs_verbatim(pytester) -> None:
    """The README's async example, as a user would paste it (issue 15 item 3)."""
    import re

    start = README.index("The async client in a test")
    code = re.compile(r"```python\n(.*?)```", re.S).search(README, start)
    assert code
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(test_async_example=code.group(1))
    pytester.runpytest_subprocess("--lmstudio-mode=fake").assert_outcomes(passed=1)


def test_the_scripted_reply_example_runs_as_a_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_my_app=block_after("## Scripted replies, faults and request assertions"))
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
