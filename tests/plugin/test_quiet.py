"""A run whose tests use neither the marker nor a plugin fixture: no header, no probe, no run directory."""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_lmstudio.plugin import PLUGIN_FIXTURES

UNUSED = """
import pytest

@pytest.mark.parametrize("i", [1, 2])
def test_plain(i, tmp_path):
    assert i

def test_skipped():
    pytest.skip("nothing to do with LM Studio")

def test_no_run_directory_while_the_run_lasts():
    import glob, os, tempfile
    assert not glob.glob(os.path.join(tempfile.gettempdir(), "pytest-lmstudio-*"))
"""


@contextlib.contextmanager
def never_probed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Points LMSTUDIO_URL at a listener, and checks on leaving that nothing connected to it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    monkeypatch.setenv("LMSTUDIO_URL", f"http://127.0.0.1:{listener.getsockname()[1]}")
    try:
        yield
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing probed the configured LM Studio URL
    finally:
        listener.close()


def _normalized(result: pytest.RunResult) -> list[str]:
    """The output, but for pytest's list of loaded plugins (it names this one) and the durations."""
    lines = [line for line in result.outlines if not line.startswith("plugins: ")]
    return [re.sub(r" in [0-9.]+s", " in <t>s", line) for line in lines]


def test_an_unused_plugin_changes_nothing_in_the_output(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_unused=UNUSED)
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    with never_probed(monkeypatch):
        with_plugin = pytester.runpytest_subprocess("-rs")
        without = pytester.runpytest_subprocess("-rs", "-p", "no:lmstudio")
    with_plugin.assert_outcomes(passed=3, skipped=1)
    assert _normalized(with_plugin) == _normalized(without)
    assert not list(private_tmp.glob("pytest-lmstudio-*"))  # no run directory


def test_an_unused_plugin_under_xdist_probes_nothing_and_makes_no_run_directory(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_unused=UNUSED)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    with never_probed(monkeypatch):
        result = pytester.runpytest_subprocess("-p", "xdist", "-n", "2")
    result.assert_outcomes(passed=3, skipped=1)
    shown = [line.lower() for line in result.outlines if not line.startswith("plugins: ")]
    assert not [line for line in shown if "lmstudio" in line or "lm studio" in line]
    assert not list(tmp_path.glob("pytest-lmstudio-*"))


def test_a_run_that_uses_lmstudio_still_gets_its_header(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the run directory appears only once a test needs it
    pytester.makepyfile(UNUSED + "\ndef test_uses(lmstudio_base_url):\n    assert lmstudio_base_url.root\n")
    result = pytester.runpytest_subprocess("--lmstudio-mode=fake")
    result.assert_outcomes(passed=4, skipped=1)
    result.stdout.fnmatch_lines(["collected 5 items", "lmstudio: mode=fake (bundled fake LM Studio *"])


def test_every_plugin_fixture_counts_as_using_lmstudio(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--fixtures")
    listed = set(re.findall(r"^(lmstudio_\w+)", result.stdout.str(), re.M))
    assert listed == PLUGIN_FIXTURES


def test_a_run_using_only_in_process_fakes_says_so_and_probes_nothing(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``lmstudio_fake`` needs no LM Studio: the header must not talk of `lms server start`, and the
    configured URL is never probed."""
    pytester.makepyfile(
        "def test_fake(lmstudio_fake):\n    assert lmstudio_fake.base_url\n"
        "def test_env(lmstudio_fake_env):\n    assert lmstudio_fake_env['OPENAI_BASE_URL']\n"
    )
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    with never_probed(monkeypatch):
        result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["collected 2 items", "lmstudio: in-process fakes only (lmstudio_fake)*"])
    assert "lms server start" not in result.stdout.str()
    assert not list(tmp_path.glob("pytest-lmstudio-*"))
