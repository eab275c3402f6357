# ruff: noqa: F811  (pytest fixtures imported from test_cli_support)
"""The fake `lms` as a command (issue 4): the launcher, LMS_FAKE_HOME, commander-style usage errors,
version, help, and the invocation log."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli_support import Lms, home, lms  # noqa: F401  (fixtures)

from fake_lms.cli.launcher import install_lms, launcher_script

REPO = Path(__file__).resolve().parents[3]


# -- the launcher --------------------------------------------------------------------------------


def test_install_lms_writes_an_executable_script_for_this_interpreter(tmp_path: Path) -> None:
    path = install_lms(tmp_path / "bin")
    assert path == tmp_path / "bin" / "lms"
    assert path.stat().st_mode & stat.S_IXUSR
    assert path.read_text().splitlines()[0] == f"#!{sys.executable}"


def test_install_lms_can_bake_a_default_home_for_scrubbed_environments(tmp_path: Path, lms: Lms) -> None:
    path = install_lms(tmp_path / "other-bin", home=lms.home.path)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}  # no LMS_FAKE_HOME at all
    proc = subprocess.run([str(path), "ps", "--json"], env=env, capture_output=True, text=True, timeout=30)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "[]\n", "")


def test_launcher_falls_back_to_sh_for_an_unusable_shebang() -> None:
    script = launcher_script(python="/opt/my python/bin/python3", home="/tmp/h")
    assert script.startswith("#!/bin/sh\n")
    assert "exec '/opt/my python/bin/python3' -c" in script
    assert "LMS_FAKE_HOME:=" in script


def test_checked_in_launcher_is_executable_and_runs(lms: Lms) -> None:
    script = REPO / "fake_lms" / "bin" / "lms"
    assert script.stat().st_mode & stat.S_IXUSR
    assert script.read_text().startswith("#!/usr/bin/env python3\n")
    env = {**lms.env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        [str(script), "version", "--json"], env=env, capture_output=True, text=True, timeout=30
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, '{"version":"fa4e1a5"}\n', "")


def test_python_dash_m_runs_the_same_command(lms: Lms) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "fake_lms", "ps", "--json"],
        env=lms.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "[]\n", "")


# -- LMS_FAKE_HOME ---------------------------------------------------------------------------------


def test_missing_home_is_refused_with_a_clear_message(lms: Lms) -> None:
    result = lms.run("ps", env={"LMS_FAKE_HOME": None})
    assert result.code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: LMS_FAKE_HOME is not set.")
    assert "python -m fake_lms serve --home" in result.stderr


def test_real_lmstudio_home_is_refused(lms: Lms, tmp_path: Path) -> None:
    fake_user = tmp_path / "user"
    (fake_user / ".lmstudio").mkdir(parents=True)
    result = lms.run("ls", env={"HOME": str(fake_user), "LMS_FAKE_HOME": str(fake_user / ".lmstudio")})
    assert result.code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: LMS_FAKE_HOME={fake_user / '.lmstudio'} cannot be used: ")
    assert "it is a real LM Studio home" in result.stderr
    assert not (fake_user / ".lmstudio" / ".internal").exists()


def test_the_home_named_by_the_lmstudio_pointer_is_refused(lms: Lms, tmp_path: Path) -> None:
    fake_user = tmp_path / "user"
    fake_user.mkdir()
    real = tmp_path / "custom-lmstudio"
    (fake_user / ".lmstudio-home-pointer").write_text(f"{real}\n")
    result = lms.run("ps", env={"HOME": str(fake_user), "LMS_FAKE_HOME": str(real)})
    assert (result.code, result.stdout) == (1, "")
    assert "it is a real LM Studio home" in result.stderr


def test_a_new_home_directory_is_initialised(lms: Lms, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    result = lms.run("ls", "--json", env={"LMS_FAKE_HOME": str(fresh)})
    assert result.code == 0
    keys = [m["modelKey"] for m in json.loads(result.stdout)]
    assert keys == ["qwen/qwen3-4b", "google/gemma-3-1b", "text-embedding-nomic-embed-text-v1.5"]


# -- version, banner, help -------------------------------------------------------------------------


def test_version_json(lms: Lms) -> None:
    result = lms.run("version", "--json")
    assert (result.code, result.stdout, result.stderr) == (0, '{"version":"fa4e1a5"}\n', "")


def test_version_text_has_logo_and_links(lms: Lms) -> None:
    result = lms.run("version")
    assert result.code == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == "\x1b[38;5;166m   __   __  ___  ______          ___        _______   ____\x1b[0m"
    assert lines[4:] == [
        "",
        "lms is LM Studio's CLI utility for your models, server, and inference runtime.",
        "CLI commit: fa4e1a5",
        "",
        "Docs: https://lmstudio.ai/docs/developer",
        "Join our Discord: https://discord.gg/lmstudio",
        "Contribute: https://github.com/lmstudio-ai/lms",
    ]


@pytest.mark.parametrize("args", [["-v"], ["--version"], ["ls", "-v"]])
def test_dash_v_prints_the_commit(lms: Lms, args: list[str]) -> None:
    result = lms.run(*args)
    assert (result.code, result.stdout, result.stderr) == (0, "CLI commit: fa4e1a5\n", "")


def test_bare_lms_prints_banner_then_help_on_stderr_and_fails(lms: Lms) -> None:
    result = lms.run()
    assert result.code == 1
    assert result.stdout == (
        "lms is LM Studio's CLI utility for your models, server, and inference runtime.\n"
        "CLI commit: fa4e1a5\n\n"
    )
    assert result.stderr.startswith("Usage: lms [options] [command]\n")
    assert "\nLocal models\n" in result.stderr


def test_help_goes_to_stdout(lms: Lms) -> None:
    result = lms.run("ls", "--help")
    assert result.code == 0 and result.stderr == ""
    assert result.stdout.startswith("Usage: lms ls [options] [modelKey]\n")
    assert "--host" not in result.stdout  # hidden options stay hidden


def test_group_without_subcommand_prints_help_to_stderr(lms: Lms) -> None:
    result = lms.run("server")
    assert result.code == 1 and result.stdout == ""
    assert result.stderr.startswith("Usage: lms server [options] [command]\n")


# -- commander-style usage errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lss"], "error: unknown command 'lss'\n(Did you mean ls?)\n"),
        (["frobnicate"], "error: unknown command 'frobnicate'\n"),
        (["server", "strat"], "error: unknown command 'strat'\n(Did you mean start?)\n"),
        (["ls", "--jsn"], "error: unknown option '--jsn'\n(Did you mean --json?)\n"),
        (["ps", "--bogus"], "error: unknown option '--bogus'\n"),
        (["--json", "ls"], "error: unknown option '--json'\n"),
        (["status", "--json"], "error: unknown option '--json'\n"),
        (["server", "stop", "--port", "1234"], "error: unknown option '--port'\n"),
        (["ps", "extra"], "error: too many arguments for 'ps'. Expected 0 arguments but got 1.\n"),
        (["ls", "a", "b"], "error: too many arguments for 'ls'. Expected 1 argument but got 2.\n"),
        (
            ["load", "x", "-c", "abc"],
            "error: option '-c, --context-length <length>' argument 'abc' is invalid. Not a number\n",
        ),
        (
            ["load", "x", "--ttl", "0"],
            "error: option '--ttl <seconds>' argument '0' is invalid. "
            "Number out of range, must be at least 1\n",
        ),
        (
            ["load", "x", "--gpu", "2"],
            "error: option '--gpu <offload-ratio>' argument '2' is invalid. "
            "Number out of range, must be between 0 and 1\n",
        ),
        (
            ["ls", "--port", "1.5"],
            "error: option '--port <port>' argument '1.5' is invalid. Not an integer\n",
        ),
        (
            ["server", "start", "-p", "70000"],
            "error: option '-p, --port <port>' argument '70000' is invalid. "
            "Number out of range, must be at most 65535\n",
        ),
        (["load", "--identifier"], "error: option '--identifier <identifier>' argument missing\n"),
        (
            ["ps", "--log-level", "loud"],
            "error: option '--log-level <level>' argument 'loud' is invalid. "
            "Allowed choices are debug, info, warn, error, none.\n",
        ),
        (["ps", "--quiet", "--verbose"], "Only one of --logLevel, --verbose, or --quiet can be specified.\n"),
    ],
)
def test_usage_errors(lms: Lms, args: list[str], message: str) -> None:
    result = lms.run(*args)
    assert (result.code, result.stdout, result.stderr) == (1, "", message)


def test_option_forms(lms: Lms) -> None:
    """``--opt=value``, combined short flags and ``--`` work as with commander."""
    assert (
        lms.run("ls", "--port=abc").stderr
        == "error: option '--port <port>' argument 'abc' is invalid. Not a number\n"
    )
    result = lms.run("unload", "-ya")  # load's -y does not exist on unload: -y is unknown
    assert (result.code, result.stderr) == (1, "error: unknown option '-ya'\n")
    result = lms.run("ps", "--", "--json")
    assert result.stderr == "error: too many arguments for 'ps'. Expected 0 arguments but got 1.\n"


def test_commands_the_fake_does_not_implement(lms: Lms) -> None:
    result = lms.run("import", "model.gguf")
    assert result.code == 1 and result.stdout == ""
    assert result.stderr.startswith("Error: `lms import` is not supported by the fake lms")


def test_quiet_suppresses_messages_but_not_data(lms: Lms) -> None:
    result = lms.run("ps", "--quiet")
    assert (result.code, result.stdout, result.stderr) == (0, "", "")
    result = lms.run("ps", "--json", "--quiet")
    assert (result.code, result.stdout, result.stderr) == (0, "[]\n", "")


def test_no_colours_without_a_terminal_but_force_color_works(lms: Lms) -> None:
    assert "\x1b[" not in lms.run("status").stdout
    forced = lms.run("status", env={"FORCE_COLOR": "1"})
    assert "\x1b[31m OFF \x1b[39m" in forced.stdout


# -- the invocation log ----------------------------------------------------------------------------


def test_every_invocation_is_recorded_without_the_environment(lms: Lms) -> None:
    lms.run("ps", "--json", env={"SECRET_TOKEN": "hunter2"})
    lms.run("lss")
    lms.run("unload", "--all")
    records = lms.home.lms_invocations()
    assert [(r["argv"], r["command"], r["exit_code"]) for r in records] == [
        (["ps", "--json"], "ps", 0),
        (["lss"], "", 1),
        (["unload", "--all"], "unload", 0),
    ]
    for record in records:
        assert set(record) == {"time", "argv", "command", "exit_code", "duration_ms", "pid"}
        assert record["duration_ms"] > 0
    assert "hunter2" not in lms.home.lms_log_file.read_text()


def test_failures_are_recorded_with_their_exit_code(lms: Lms) -> None:
    lms.run("load", "--yes", "no-such-model")
    (record,) = lms.home.lms_invocations()
    assert record["argv"] == ["load", "--yes", "no-such-model"]
    assert (record["command"], record["exit_code"]) == ("load", 1)


def test_help_without_a_home_lists_serve_and_the_lms_commands() -> None:
    """``fake-lms --help`` used to say only that LMS_FAKE_HOME is not set (issue 15 item 7)."""
    env = {k: v for k, v in os.environ.items() if k != "LMS_FAKE_HOME"}
    for args in (["--help"], []):
        out = subprocess.run(
            [sys.executable, "-m", "fake_lms", *args], env=env, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        assert "fake-lms serve [options]" in out.stdout and "LMS_FAKE_HOME" in out.stdout
        for command in ("get", "load", "unload", "ls", "ps", "server", "log"):
            assert f"\n  {command} " in out.stdout
    # a command still needs the home, and says so
    out = subprocess.run(
        [sys.executable, "-m", "fake_lms", "ls"], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode != 0 and "LMS_FAKE_HOME is not set" in out.stderr + out.stdout
