"""Finding `lms` (PATH, LM Studio home, fallbacks) and running it, with fake `lms` scripts."""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path

import pytest

from pytest_lmstudio.errors import (
    BadResponse,
    DownloadFailed,
    LmsCommandFailed,
    LmsNotFound,
    LMStudioTimeout,
    LoadFailed,
    ModelNotFound,
)
from pytest_lmstudio.lms import Lms, find_lms, lms_candidates, lmstudio_home, parse_json_output

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fake lms scripts are POSIX shell scripts")

PS_JSON = [
    {
        "type": "llm",
        "modelKey": "qwen/qwen3-4b",
        "format": "gguf",
        "displayName": "Qwen3 4B",
        "publisher": "qwen",
        "path": "qwen/qwen3-4b",
        "sizeBytes": 2497280256,
        "indexedModelIdentifier": "qwen/qwen3-4b",
        "deviceIdentifier": None,
        "paramsString": "4B",
        "architecture": "qwen3",
        "quantization": {"name": "Q4_K_M", "bits": 4},
        "identifier": "qwen/qwen3-4b",
        "ttlMs": 3600000,
        "lastUsedTime": 1786252670392,
        "vision": False,
        "trainedForToolUse": True,
        "maxContextLength": 40960,
        "contextLength": 4096,
        "status": "idle",
        "queued": 0,
        "parallel": 4,
    }
]
LS_JSON = [
    {"type": "llm", "modelKey": "qwen/qwen3-4b", "format": "gguf", "maxContextLength": 40960},
    {
        "type": "embedding",
        "modelKey": "text-embedding-nomic-embed-text-v1.5",
        "format": "gguf",
        "maxContextLength": 2048,
    },
]

FAKE_LMS = """#!/bin/sh
printf '%s\\n' "$*" >> "$LMS_TEST_LOG"
case "$*" in
  "ps --json") echo '__PS__' ;;
  "ls --json") echo '__LS__' ;;
  "ls --llm --json") echo '__LS_LLM__' ;;
  "server status --json")
    echo "The server is running on port 1234." >&2
    printf '\\033[0m{"running":true,"port":1234}\\n' ;;
  "server start --port 4321") echo "Success! Server is now running on port 4321" >&2 ;;
  "server stop") echo "Error: The server is not running." >&2; exit 1 ;;
  "version --json") echo '{"version":"8f3c2ab"}' ;;
  "get qwen/qwen3-4b --yes") echo "Model already downloaded. To use, run: lms load qwen/qwen3-4b" >&2 ;;
  "get nope/nope --yes") echo "Error: No staff picks found with the specified search criteria." >&2; exit 1 ;;
  "load qwen/qwen3-4b --identifier q --ttl 60 --context-length 8192 --yes")
    echo "Model loaded successfully in 1.20s." >&2
    echo 'To use the model in the API/SDK, use the identifier "q".' >&2 ;;
  "load nope/nope --yes")
    printf 'Model not found\\n\\nNo model found that matches model key "nope/nope".\\n' >&2; exit 1 ;;
  "load big/model --yes") echo "Error: Failed to load model: out of memory" >&2; exit 1 ;;
  "unload --all") echo "Unloaded 1 model." >&2 ;;
  "unload q") echo 'Model "q" unloaded.' >&2 ;;
  "read-stdin") cat; echo "stdin-closed" ;;
  "sleep") sleep 5; echo late ;;
  "env") echo "$LMS_TEST_MARKER" ;;
  *) echo "error: unknown command '$1'" >&2; exit 1 ;;
esac
"""


def _script() -> str:
    return (
        FAKE_LMS.replace("__PS__", json.dumps(PS_JSON, separators=(",", ":")))
        .replace("__LS__", json.dumps(LS_JSON, separators=(",", ":")))
        .replace("__LS_LLM__", json.dumps(LS_JSON[:1], separators=(",", ":")))
    )


def make_exe(path: Path, text: str | None = None, *, executable: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_script() if text is None else text)
    mode = path.stat().st_mode
    path.chmod(mode | stat.S_IXUSR if executable else mode & ~(stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HOME, an empty PATH directory, no USERPROFILE."""
    home = tmp_path / "home"
    home.mkdir()
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PATH", str(empty_bin))
    monkeypatch.delenv("USERPROFILE", raising=False)
    return home.resolve()


@pytest.fixture
def lms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lms:
    log = tmp_path / "lms-calls.log"
    monkeypatch.setenv("LMS_TEST_LOG", str(log))
    return Lms(make_exe(tmp_path / "fakebin" / "lms"), timeout=10)


def calls(tmp_path: Path) -> list[str]:
    return (tmp_path / "lms-calls.log").read_text().splitlines()


# -- discovery ----------------------------------------------------------------------------------------


def test_path_wins(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on_path = make_exe(tmp_path / "path-bin" / "lms")
    make_exe(home / ".lmstudio" / "bin" / "lms")
    monkeypatch.setenv("PATH", f"{tmp_path / 'empty-bin'}{os.pathsep}{on_path.parent}")
    assert find_lms() == on_path


def test_default_home(home: Path) -> None:
    exe = make_exe(home / ".lmstudio" / "bin" / "lms")
    assert lmstudio_home() == home / ".lmstudio"
    assert find_lms() == exe


def test_legacy_cache_home(home: Path) -> None:
    exe = make_exe(home / ".cache" / "lm-studio" / "bin" / "lms")
    assert lmstudio_home() == home / ".cache" / "lm-studio"
    assert find_lms() == exe


def test_home_pointer_file_wins_over_legacy(home: Path, tmp_path: Path) -> None:
    custom = tmp_path / "elsewhere" / "lmstudio"
    exe = make_exe(custom / "bin" / "lms")
    make_exe(home / ".cache" / "lm-studio" / "bin" / "lms")
    (home / ".lmstudio-home-pointer").write_text(f"  {custom}\n")
    assert lmstudio_home() == custom
    assert find_lms() == exe


def test_pointer_without_binary_falls_back_to_dot_lmstudio(home: Path, tmp_path: Path) -> None:
    (home / ".lmstudio-home-pointer").write_text(str(tmp_path / "empty-home"))
    exe = make_exe(home / ".lmstudio" / "bin" / "lms")
    assert find_lms() == exe


def test_windows_userprofile_location(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profile = tmp_path / "winprofile"
    exe = make_exe(profile / ".lmstudio" / "bin" / "lms.exe")
    monkeypatch.setenv("USERPROFILE", str(profile))
    assert find_lms() == exe
    assert lms_candidates()[-1] == exe


def test_not_found_lists_every_place(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USERPROFILE", str(tmp_path / "winprofile"))
    make_exe(home / ".lmstudio" / "bin" / "lms", executable=False)
    with pytest.raises(LmsNotFound) as info:
        find_lms()
    err = info.value
    assert err.searched == [
        f"PATH ({tmp_path / 'empty-bin'})",
        f"{home / '.lmstudio' / 'bin' / 'lms'} (exists but is not executable)",
        str(tmp_path / "winprofile" / ".lmstudio" / "bin" / "lms.exe"),
    ]
    for place in err.searched:
        assert place in str(err)
    assert "https://lmstudio.ai/download" in str(err)
    assert isinstance(err, FileNotFoundError)


def test_explicit_environ_mapping(tmp_path: Path) -> None:
    home = tmp_path / "h2"
    exe = make_exe(home / ".lmstudio" / "bin" / "lms")
    assert find_lms({"HOME": str(home), "PATH": ""}) == exe.resolve()
    with pytest.raises(LmsNotFound, match=r"PATH \(empty\)"):
        find_lms({"HOME": str(tmp_path / "nobody"), "PATH": ""})


def test_lms_constructor_discovers(home: Path) -> None:
    exe = make_exe(home / ".lmstudio" / "bin" / "lms")
    assert Lms().path == exe
    assert "Lms(path=" in repr(Lms())


# -- running and parsing ------------------------------------------------------------------------------


def test_ps_ls_parse_json(lms: Lms, tmp_path: Path) -> None:
    assert lms.ps() == PS_JSON
    assert lms.ls() == LS_JSON
    assert lms.ls(llm=True) == LS_JSON[:1]
    assert calls(tmp_path) == ["ps --json", "ls --json", "ls --llm --json"]


def test_server_status_ignores_stderr_and_ansi(lms: Lms) -> None:
    assert lms.server_status() == {"running": True, "port": 1234}


def test_version_json(lms: Lms) -> None:
    assert lms.version() == "8f3c2ab"


def test_version_falls_back_to_dash_dash_version(tmp_path: Path) -> None:
    old = make_exe(
        tmp_path / "old" / "lms",
        '#!/bin/sh\nif [ "$1" = "--version" ]; then echo "CLI commit: 0a1b2c3"; exit 0; fi\n'
        'echo "error: unknown command" >&2; exit 1\n',
    )
    assert Lms(old).version() == "0a1b2c3"


def test_server_start_stop(lms: Lms, tmp_path: Path) -> None:
    result = lms.server_start(port=4321)
    assert result.ok and result.returncode == 0
    assert result.stderr.strip() == "Success! Server is now running on port 4321"
    assert result.stdout == ""
    with pytest.raises(LmsCommandFailed) as info:
        lms.server_stop()
    err = info.value
    assert (err.returncode, err.stderr.strip()) == (1, "Error: The server is not running.")
    assert "`lms server stop` failed with exit code 1: Error: The server is not running." in str(err)
    assert calls(tmp_path) == ["server start --port 4321", "server stop"]


def test_get(lms: Lms) -> None:
    assert lms.get("qwen/qwen3-4b").ok
    with pytest.raises(DownloadFailed, match="No staff picks found"):
        lms.get("nope/nope")


def test_load_and_unload(lms: Lms, tmp_path: Path) -> None:
    result = lms.load("qwen/qwen3-4b", identifier="q", ttl=60, context_length=8192)
    assert 'use the identifier "q"' in result.stderr
    with pytest.raises(ModelNotFound, match="`lms get nope/nope`"):
        lms.load("nope/nope")
    with pytest.raises(LoadFailed, match="out of memory"):
        lms.load("big/model")
    assert lms.unload("q").ok
    assert lms.unload(all=True).stderr.strip() == "Unloaded 1 model."
    with pytest.raises(ValueError):
        lms.unload("q", all=True)
    assert calls(tmp_path)[-2:] == ["unload q", "unload --all"]


def test_run_unchecked_and_result_fields(lms: Lms) -> None:
    result = lms.run("bogus", check=False)
    assert result.returncode == 1 and not result.ok
    assert result.stderr.strip() == "error: unknown command 'bogus'"
    assert result.args == [str(lms.path), "bogus"]
    assert result.command.endswith("lms bogus")


def test_stdin_is_devnull(lms: Lms) -> None:
    # `cat` would block forever on an inherited terminal / pipe; with /dev/null it ends at once
    assert lms.run("read-stdin", timeout=5).stdout.strip() == "stdin-closed"


def test_timeout_kills_the_whole_process_group(lms: Lms) -> None:
    started = time.monotonic()
    with pytest.raises(LMStudioTimeout, match=r"did not finish within 0.3 s"):
        lms.run("sleep", timeout=0.3)
    assert time.monotonic() - started < 2.0


def test_env_is_passed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "log"
    exe = make_exe(tmp_path / "b" / "lms")
    runner = Lms(exe, env={"LMS_TEST_MARKER": "hello", "LMS_TEST_LOG": str(log), "PATH": os.defpath})
    assert runner.run("env").stdout.strip() == "hello"


def test_missing_executable_path_raises_lms_not_found(tmp_path: Path) -> None:
    with pytest.raises(LmsNotFound, match="Could not run"):
        Lms(tmp_path / "nope" / "lms").run("ps")


def test_json_parsing_rules() -> None:
    assert parse_json_output('[{"a":1}]\n') == [{"a": 1}]
    assert parse_json_output('Waking up LM Studio service...\n{"running":false}\n') == {"running": False}
    with pytest.raises(BadResponse, match="printed no JSON"):
        parse_json_output("The server is running on port 1234.")
    with pytest.raises(BadResponse):
        parse_json_output("")


def test_non_list_json_is_rejected(tmp_path: Path) -> None:
    exe = make_exe(tmp_path / "c" / "lms", '#!/bin/sh\necho \'{"not":"a list"}\'\n')
    with pytest.raises(BadResponse, match="expected a JSON array"):
        Lms(exe).ps()
    with pytest.raises(BadResponse, match="expected"):
        Lms(make_exe(tmp_path / "d" / "lms", "#!/bin/sh\necho '[]'\n")).server_status()
