# ruff: noqa: F811  (pytest fixtures imported from test_cli_support)
"""`lms get` (issue 4): the flow codex and VT Code use, every argument form, and the state it leaves."""

from __future__ import annotations

import re

import pytest
from test_cli_support import Lms, home, http_json, lms, server  # noqa: F401  (fixtures)

from fake_lms.model.home import Home

GPT_OSS_PLAN = (
    "\n"
    "   ⠴ openai/gpt-oss-20b - Resolving...\n"
    "\n"
    "⠋ Resolving download plan...\n"
    "\n"
    "   ↓ To download: gpt-oss 20B MXFP4 [GGUF] - 12.11 GB\n"
    "\n"
)


def progress_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line[:1] in "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏" and "%" in line]


def test_get_yes_downloads_and_the_model_appears_in_v1_models(lms: Lms, home: Home, server) -> None:
    ids = [m["id"] for m in http_json(server.base_url + "/models")["data"]]
    assert "openai/gpt-oss-20b" not in ids
    result = lms.run("get", "--yes", "openai/gpt-oss-20b")
    assert result.code == 0
    assert result.stdout.startswith(GPT_OSS_PLAN + "Resolution completed. Downloading 12.11 GB...\n")
    bars = progress_lines(result.stdout)
    assert len(bars) == 10
    assert bars[0] == "⠋ [██▎                   ] 10.00% | 1.21 GB / 12.11 GB | 242.19 GB/s | ETA 00:00"
    assert bars[-1].startswith("⠏ [██████████████████████] 100.00% | 12.11 GB / 12.11 GB | ")
    assert result.stderr == "Finalizing download...\nDownload completed.\n"
    assert home.is_downloaded("openai/gpt-oss-20b")
    ids = [m["id"] for m in http_json(server.base_url + "/models")["data"]]
    assert "openai/gpt-oss-20b" in ids
    assert "openai/gpt-oss-20b" in [m["modelKey"] for m in lms.json("ls", "--json")]
    runs = [r for r in home.lms_invocations() if r["argv"] == ["get", "--yes", "openai/gpt-oss-20b"]]
    assert len(runs) == 1 and runs[0]["exit_code"] == 0


def test_get_with_a_server_downloads_through_it(lms: Lms, home: Home, server) -> None:
    """While the home's server runs, LM Studio (the server) downloads: one job of its own."""
    home.update_settings(download_seconds=0.3)
    result = lms.run("get", "-y", "qwen/qwen2.5-vl-7b")
    assert (result.code, result.stderr) == (0, "Finalizing download...\nDownload completed.\n")
    assert len(progress_lines(result.stdout)) == 10
    posts = [r for r in server.requests if r.path == "/api/v1/models/download"]
    assert [(r.operation, r.json, r.status) for r in posts] == [
        ("download", {"model": "qwen/qwen2.5-vl-7b"}, 200)
    ]
    assert home.is_downloaded("qwen/qwen2.5-vl-7b")


def test_get_reports_a_scripted_download_failure(lms: Lms, home: Home, server) -> None:
    home.update_settings(download_seconds=0.5)
    server.fault("download_failed", model="openai/gpt-oss-20b", after=0.22, message="Disk is full")
    result = lms.run("get", "-y", "openai/gpt-oss-20b")
    assert (result.code, result.stderr) == (1, "Error: Disk is full\n")
    assert result.stdout.startswith(GPT_OSS_PLAN + "Resolution completed. Downloading 12.11 GB...\n")
    bars = progress_lines(result.stdout)
    assert [b.split("] ")[1].split(" |")[0] for b in bars] == ["10.00%", "20.00%", "30.00%", "40.00%"]
    assert not home.is_downloaded("openai/gpt-oss-20b")
    runs = [r for r in home.lms_invocations() if r["command"] == "get"]
    assert runs[-1]["exit_code"] == 1
    # the fault acted once: the next lms get downloads
    assert lms.run("get", "-y", "openai/gpt-oss-20b").code == 0
    assert home.is_downloaded("openai/gpt-oss-20b")


def test_get_reports_a_scripted_pause(lms: Lms, home: Home, server) -> None:
    server.fault("download_paused")
    result = lms.run("get", "-y", "qwen/qwen2.5-vl-7b")
    assert (result.code, progress_lines(result.stdout)) == (1, [])
    assert result.stderr == (
        "Error: The download was paused in LM Studio. Resume it there, or run lms get again to restart it.\n"
    )
    assert not home.is_downloaded("qwen/qwen2.5-vl-7b")


def test_get_does_not_need_the_servers_api_token(lms: Lms, home: Home, server) -> None:
    """Real lms is a privileged client: without LM_API_TOKEN the fake downloads by itself."""
    home.update_settings(require_auth=True)
    server.fault("download_failed")
    result = lms.run("get", "-y", "qwen/qwen2.5-vl-7b")
    assert (result.code, result.stderr) == (0, "Finalizing download...\nDownload completed.\n")
    assert home.is_downloaded("qwen/qwen2.5-vl-7b")
    assert [r for r in server.requests if r.path == "/api/v1/models/download"] == []


def test_get_takes_the_simulated_download_time(lms: Lms, home: Home) -> None:
    home.update_settings(download_seconds=0.6)
    lms.run("get", "-y", "qwen/qwen2.5-vl-7b")
    (record,) = home.lms_invocations()
    assert record["duration_ms"] >= 600


def test_get_already_downloaded(lms: Lms) -> None:
    result = lms.run("get", "--yes", "google/gemma-3-1b")
    assert result.code == 0
    assert result.stdout.endswith("\n   ✓ Satisfied Gemma 3 1B Q4_K_M [GGUF]\n\n")
    assert result.stderr == "Model already downloaded. To use, run: lms load google/gemma-3-1b\n"


def test_get_already_downloaded_with_other_variants_hints_at_select(lms: Lms) -> None:
    result = lms.run("get", "qwen/qwen3-4b")
    assert result.code == 0
    assert result.stderr == (
        "Model already downloaded. To use, run: lms load qwen/qwen3-4b\n"
        "If you wish to download a variant, run: lms get qwen/qwen3-4b --select\n"
    )


def test_get_unknown_artifact_fails_like_lms(lms: Lms, home: Home) -> None:
    result = lms.run("get", "--yes", "Acme/No-Such-Model")
    assert result.code == 1
    assert result.stdout == "\n   ⠴ acme/no-such-model - Resolving...\n\n⠋ Resolving download plan...\n"
    assert result.stderr == (
        'Error: Failed to resolve artifact "acme/no-such-model": The artifact does not exist or you do not '
        "have permission to read it\n"
    )
    (record,) = home.lms_invocations()
    assert record["exit_code"] == 1


def test_get_without_yes_and_without_a_terminal_proceeds(lms: Lms, home: Home) -> None:
    result = lms.run("get", "openai/gpt-oss-20b")
    assert result.code == 0
    assert result.stdout.startswith(GPT_OSS_PLAN + "About to download 12.11 GB.\n⠋ [")
    assert home.is_downloaded("openai/gpt-oss-20b")


def test_get_staff_pick_search(lms: Lms, home: Home) -> None:
    result = lms.run("get", "gpt-oss-20b", "-y")  # exact name match
    assert result.code == 0
    assert result.stderr.startswith("Searching staff picks with the term gpt-oss-20b\n")
    assert home.is_downloaded("openai/gpt-oss-20b")
    result = lms.run("get", "vl", "-y")  # fuzzy, several matches
    assert result.stderr.startswith(
        "Searching staff picks with the term vl\n"
        "Multiple staff picks found. Automatically selecting the first one due to --yes.\n"
    )
    result = lms.run("get", "zzzz", "-y")
    assert (result.code, result.stdout) == (1, "")
    assert result.stderr == (
        "Searching staff picks with the term zzzz\n"
        "Error: No staff picks found with the specified search criteria.\n"
    )


def test_get_variant(lms: Lms, home: Home) -> None:
    home.remove_download("qwen/qwen3-4b")
    result = lms.run("get", "qwen/qwen3-4b@q8_0", "-y")
    assert result.code == 0
    assert "   ↓ To download: Qwen3 4B Q8_0 [GGUF] - 4.99 GB\n" in result.stdout
    assert home.is_downloaded("qwen/qwen3-4b")
    result = lms.run("get", "google/gemma-3-1b@q2_k", "-y")
    assert result.code == 1
    assert result.stderr == "Error: Cannot find variant q2_k.\n"


def test_get_hugging_face_url(lms: Lms, home: Home) -> None:
    url = "https://huggingface.co/Qwen/Qwen3-Embedding-0.6B-GGUF/blob/main/Qwen3-Embedding-0.6B-Q8_0.gguf"
    result = lms.run("get", url, "-y")
    assert result.code == 0, result
    assert result.stdout.startswith(
        "\n   ⠴ Finding options based on your system... (0/1)\n\n⠋ Resolving download plan...\n\n"
        "   ↓ To download: Qwen3 Embedding 0.6B Q8_0 [GGUF] - 639.15 MB\n"
    )
    assert home.is_downloaded("text-embedding-qwen3-embedding-0.6b")
    result = lms.run("get", url, "-y")
    assert (
        result.stderr
        == "Model already downloaded. To use, run: lms load text-embedding-qwen3-embedding-0.6b\n"
    )


def test_get_lmstudio_url(lms: Lms, home: Home) -> None:
    assert lms.run("get", "https://lmstudio.ai/models/openai/gpt-oss-20b", "-y").code == 0
    assert home.is_downloaded("openai/gpt-oss-20b")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["a@b@c"], "You cannot have more than 2 @'s in the model name argument."),
        (["http://huggingface.co/x/y"], "Only https://huggingface.co URLs are supported."),
        (
            ["https://huggingface.co/x"],
            "Invalid Hugging Face model URL. Expected https://huggingface.co/owner/repo[/*].",
        ),
        (["http://lmstudio.ai/models/a/b"], "Only https://lmstudio.ai URLs are supported."),
        (["--select", "--yes", "x/y"], "The --select flag cannot be used with --yes."),
        (["--select", "x/y"], "The --select flag requires an interactive terminal."),
    ],
)
def test_get_argument_errors(lms: Lms, args: list[str], message: str) -> None:
    result = lms.run("get", *args)
    assert (result.code, result.stdout, result.stderr) == (1, "", f"Error: {message}\n")


def test_get_format_filter(lms: Lms, home: Home) -> None:
    result = lms.run("get", "openai/gpt-oss-20b", "--mlx", "-y")
    assert result.code == 1
    assert (
        result.stderr
        == 'Error: No download options found for "openai/gpt-oss-20b" in the requested format (MLX).\n'
    )
    assert not home.is_downloaded("openai/gpt-oss-20b")
    assert lms.run("get", "openai/gpt-oss-20b", "--gguf", "-y").code == 0


def test_get_then_load_then_chat_sees_it(lms: Lms, home: Home, server) -> None:
    """The chain seed systems run: get -> load -> it is loaded for the HTTP API."""
    assert lms.run("get", "-y", "openai/gpt-oss-20b").code == 0
    assert lms.run("load", "openai/gpt-oss-20b", "-y").code == 0
    states = {m["id"]: m["state"] for m in http_json(server.url + "/api/v0/models")["data"]}
    assert states["openai/gpt-oss-20b"] == "loaded"


def run_in_terminal(lms: Lms, *args: str) -> tuple[int, bytes, bytes]:
    """Run the launcher with stdin/stdout on a pseudo-terminal (stderr stays a pipe)."""
    pty = pytest.importorskip("pty")
    import os
    import subprocess

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        ["lms", *args], env=lms.env, cwd=lms.tmp, stdin=follower, stdout=follower, stderr=subprocess.PIPE
    )
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO once the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert proc.stderr is not None
    err = proc.stderr.read()
    return proc.wait(timeout=30), out, err


def test_get_on_a_terminal_draws_the_real_progress_bar(lms: Lms, home: Home) -> None:
    home.update_settings(download_seconds=0.2)
    code, out, err = run_in_terminal(lms, "get", "-y", "openai/gpt-oss-20b")
    assert code == 0
    assert err == b"Finalizing download...\nDownload completed.\n"
    assert b"\x1b[?25l\x1b[s" in out  # hide cursor, save position: lms's ProgressBar.refresh
    # fields are padded to the longest seen so far, which depends on when the first frames came
    assert re.search(rb"\] 100\.00% \| +12\.11 GB / 12\.11 GB \| ", out)
    assert out.endswith(b"\x1b[2K\x1b[1G\x1b[?25h")  # clearLine, cursorTo(0), show cursor
    assert "\x1b[33m↓ To download:\x1b[39m".encode() in out  # colours on a terminal
    assert home.is_downloaded("openai/gpt-oss-20b")


def test_load_on_a_terminal_draws_the_spinner(lms: Lms, home: Home) -> None:
    home.update_settings(load_seconds=0.3)
    code, out, err = run_in_terminal(lms, "load", "gemma", "-y")
    assert code == 0
    assert "\rLoading google/gemma-3-1b ⠋".encode() in out
    assert out.endswith(b"\r\x1b[K\x1b[?25h")
    assert err.startswith(b"Model loaded successfully in 3")
