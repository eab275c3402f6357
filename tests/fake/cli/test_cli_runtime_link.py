# ruff: noqa: F811  (pytest fixtures imported from test_cli_support)
"""`lms runtime ls` and `lms link status [--json]` (issue 14): the fake's one engine, and LM Link
disabled, as lms src/subcommands/runtime/list.ts and link/status.ts print them."""

from __future__ import annotations

import json
import socket

from test_cli_support import Lms, free_port, home, lms  # noqa: F401  (fixtures)

ENGINES = (
    "LLM ENGINE                            SELECTED    MODEL FORMAT\n"
    "llama.cpp-linux-x86_64-avx2@1.52.0       ✓            GGUF    \n"
)


def test_runtime_ls(lms: Lms) -> None:
    result = lms.run("runtime", "ls")
    assert (result.code, result.stdout, result.stderr) == (0, ENGINES, "")


def test_runtime_ls_has_no_json_option(lms: Lms) -> None:
    result = lms.run("runtime", "ls", "--json")
    assert (result.code, result.stdout, result.stderr) == (1, "", "error: unknown option '--json'\n")


def test_runtime_unimplemented_subcommands_and_unknown_ones(lms: Lms) -> None:
    result = lms.run("runtime", "select", "llama.cpp")
    assert result.code == 1 and "`lms runtime select` is not supported by the fake lms" in result.stderr
    result = lms.run("runtime", "lss")
    assert result.code == 1 and result.stderr.startswith("error: unknown command 'lss'")


def test_runtime_ls_with_an_unreachable_port(lms: Lms) -> None:
    port = free_port()
    result = lms.run("runtime", "ls", "--port", str(port))
    assert (result.code, result.stdout) == (1, "")
    assert result.stderr.startswith(f"Error: The server does not appear to be running at 127.0.0.1:{port}.")


def test_link_status_text(lms: Lms) -> None:
    result = lms.run("link", "status")
    assert (result.code, result.stdout, result.stderr) == (
        0,
        "",
        "You have disabled LM Link. To re-enable it, run lms link enable.\n",
    )


def test_link_status_json(lms: Lms) -> None:
    result = lms.run("link", "status", "--json")
    assert result.code == 0 and result.stderr == ""
    assert result.stdout.startswith('{"status":"offline","issues":["deviceDisabled"],"peers":[],')
    assert json.loads(result.stdout) == {
        "status": "offline",
        "issues": ["deviceDisabled"],
        "peers": [],
        "deviceIdentifier": None,
        "deviceName": socket.gethostname(),
    }


def test_link_other_subcommands(lms: Lms) -> None:
    result = lms.run("link", "enable")
    assert result.code == 1 and "`lms link enable` is not supported by the fake lms" in result.stderr
    assert lms.run("link", "status", "--bogus").stderr == "error: unknown option '--bogus'\n"
