"""The pytest plugin, exercised in real pytest subprocess runs (pytester)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from _waiting import wait_for

from fake_lms.model.identity import LMSTUDIO_VERSION

pytest_plugins = ["pytester"]

ENV_NAMES = [
    "LMSTUDIO_MODE",
    "LMSTUDIO_URL",
    "LMSTUDIO_BASE_URL",
    "LM_STUDIO_API_BASE",
    "LMSTUDIO_API_KEY",
    "LM_API_TOKEN",
    "LM_STUDIO_API_KEY",
    "LMSTUDIO_START",
    "LMSTUDIO_DOWNLOAD",
    "LMSTUDIO_MODEL",
    "LMSTUDIO_TTL",
    "LMSTUDIO_TIMEOUT",
    "LMSTUDIO_KEEP_LOADED",
    "LMSTUDIO_REQUIRE",
    "LMS_FAKE_HOME",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No LM Studio settings, no real `lms` and no real LM Studio home leak into the inner runs."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "user-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv(
        "PATH",
        os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "lms").exists()),
    )


@pytest.fixture
def external_fake(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A fake LM Studio started outside the inner run (as a user's running LM Studio would be)."""
    home = tmp_path / "external-home"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fake_lms", "serve", "--port", "0", "--home", str(home)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    yield url, home
    proc.terminate()
    proc.wait(10)


def request_log(home: Path) -> list[dict]:
    path = home / "server-logs" / "requests.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


MARKED = """
import pytest
from fake_lms.model.identity import LMSTUDIO_VERSION

@pytest.mark.lmstudio
def test_needs_lmstudio(lmstudio_server):
    assert lmstudio_server.url

def test_plain():
    assert True
"""


def test_live_mode_without_server_skips_with_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(MARKED)
    url = f"http://127.0.0.1:{free_port()}"
    result = pytester.runpytest_subprocess("--lmstudio-url", url, "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            f"*lmstudio: mode=live url={url} (not running; will try `lms server start`)*",
            "*server: none: LM Studio is not reachable at*`lms` was not found*",  # words, not codes
            "*skipped because LM Studio was unavailable:*",
            f"*LM Studio: LM Studio is not reachable at {url}*and `lms` was not found*"
            "so it could not be started — fix: Install LM Studio and run `lms server start`, "
            "or run with --lmstudio-mode=fake",
        ]
    )


def test_live_mode_no_start_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(MARKED)
    url = f"http://127.0.0.1:{free_port()}"
    result = pytester.runpytest_subprocess("--lmstudio-url", url, "--no-lmstudio-start", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*starting it is turned off (--no-lmstudio-start)*fix: Start LM Studio*"])


def test_require_turns_skips_into_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(MARKED)
    result = pytester.runpytest_subprocess(
        "--lmstudio-url", f"http://127.0.0.1:{free_port()}", "--lmstudio-require"
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*--lmstudio-require turns this skip into a failure*"])
    assert result.ret == 1


def test_mode_off_skips(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(MARKED)
    result = pytester.runpytest_subprocess("--lmstudio-mode=off", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*turned off (--lmstudio-mode=off)*"])


def test_unmarked_run_never_touches_lmstudio(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    assert True\n")
    result = pytester.runpytest_subprocess("--lmstudio-mode=fake")
    result.assert_outcomes(passed=1)
    assert "bundled fake LM Studio (pid" not in result.stdout.str()


def test_live_mode_against_external_server(
    pytester: pytest.Pytester, external_fake: tuple[str, Path]
) -> None:
    url, home = external_fake
    pytester.makepyfile("""
        import pytest

        @pytest.mark.lmstudio(models=["google/gemma-3-1b"])
        def test_chat(lmstudio_client, lmstudio_server):
            assert lmstudio_server.mode == "live"
            assert lmstudio_server.how == "found running"
            reply = lmstudio_client.chat("ping")
            assert reply.model == "google/gemma-3-1b"
    """)
    result = pytester.runpytest_subprocess("--lmstudio-url", url + "/v1/")  # any URL form is accepted
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            f"*lmstudio: mode=live url={url} (LM Studio {LMSTUDIO_VERSION} running)*",
            "*models loaded by this run: google/gemma-3-1b*",
        ]
    )
    loads = [r for r in request_log(home) if r["path"] == "/api/v1/models/load"]
    unloads = [r for r in request_log(home) if r["path"] == "/api/v1/models/unload"]
    assert [r["model"] for r in loads] == ["google/gemma-3-1b"]
    assert [r["model"] for r in unloads] == ["google/gemma-3-1b"]


def test_already_loaded_model_costs_nothing_and_stays(
    pytester: pytest.Pytester, external_fake: tuple[str, Path]
) -> None:
    url, home = external_fake
    import httpx

    httpx.post(url + "/api/v1/models/load", json={"model": "google/gemma-3-1b"}).raise_for_status()
    pytester.makepyfile("""
        import pytest

        @pytest.mark.lmstudio(models=["google/gemma-3-1b"])
        def test_chat(lmstudio_client):
            assert lmstudio_client.chat("ping").text
    """)
    result = pytester.runpytest_subprocess("--lmstudio-url", url)
    result.assert_outcomes(passed=1)
    log = request_log(home)
    assert sum(r["path"] == "/api/v1/models/load" for r in log) == 1  # only ours, before the run
    assert not any(r["path"] == "/api/v1/models/unload" for r in log)


def test_not_downloaded_model_skips_when_downloads_are_off(
    pytester: pytest.Pytester, external_fake: tuple[str, Path]
) -> None:
    url, _ = external_fake
    pytester.makepyfile("""
        import pytest

        @pytest.mark.lmstudio(models=["openai/gpt-oss-20b"])
        def test_a():
            pass

        @pytest.mark.lmstudio(models=["openai/gpt-oss-20b"])
        def test_b():
            pass
    """)
    result = pytester.runpytest_subprocess("--lmstudio-url", url, "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(
        [
            "*model openai/gpt-oss-20b: unavailable: model 'openai/gpt-oss-20b' is not downloaded*",
            "*2 tests: model 'openai/gpt-oss-20b' is not downloaded*",
            "*model 'openai/gpt-oss-20b' is not downloaded in LM Studio at*downloads are off*"
            "fix: Run `lms get openai/gpt-oss-20b`, or allow downloads with --lmstudio-download*",
        ]
    )


def test_download_when_allowed(pytester: pytest.Pytester, external_fake: tuple[str, Path]) -> None:
    url, home = external_fake
    pytester.makepyfile("""
        import pytest

        @pytest.mark.lmstudio(models=["openai/gpt-oss-20b"])
        def test_a(lmstudio_client):
            assert lmstudio_client.default_model == "openai/gpt-oss-20b"
            assert lmstudio_client.chat("hi").text
    """)
    result = pytester.runpytest_subprocess("--lmstudio-url", url, "--lmstudio-download")
    result.assert_outcomes(passed=1)
    assert sum(r["path"] == "/api/v1/models/download" for r in request_log(home)) == 1


def test_fake_mode_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import os, shutil, subprocess
        import pytest

        @pytest.mark.lmstudio(models=["qwen/qwen3-4b"])
        def test_everything(
            lmstudio_server, lmstudio_client, lmstudio_openai, lmstudio_base_url, lmstudio_env
        ):
            assert lmstudio_server.mode == "fake" and lmstudio_server.is_fake
            assert str(lmstudio_base_url) == lmstudio_base_url.v1 == lmstudio_server.url + "/v1"
            assert lmstudio_client.chat("hello").text
            reply = lmstudio_openai.chat.completions.create(
                model="qwen/qwen3-4b", messages=[{"role": "user", "content": "hi"}])
            assert reply.model == "qwen/qwen3-4b"
            for name in ("LMSTUDIO_URL", "LMSTUDIO_BASE_URL", "LM_STUDIO_API_BASE", "LM_STUDIO_API_KEY",
                         "LM_API_TOKEN", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
                assert os.environ[name] == lmstudio_env[name]
            assert os.environ["LMSTUDIO_URL"] == lmstudio_server.url
            assert os.environ["OPENAI_BASE_URL"] == lmstudio_server.url + "/v1"
            # the fake `lms` is first on PATH, for the application's subprocesses too
            lms = shutil.which("lms")
            assert lms and lms.startswith(lmstudio_server.bin_dir)

        def test_env_is_restored_after_lmstudio_env():
            assert os.environ.get("OPENAI_BASE_URL") is None

        def test_model_factory(lmstudio_model):
            model = lmstudio_model("google/gemma-3-1b", ttl=300)
            assert model.key == "google/gemma-3-1b" and model.identifier == "google/gemma-3-1b"
            assert lmstudio_model("google/gemma-3-1b") is model  # once per run
    """)
    # -W error: the fake's process handle or a socket reported as leaked would fail the run
    result = pytester.runpytest_subprocess(
        "--lmstudio-mode=fake",
        "-W",
        "error::ResourceWarning",
        "-W",
        "error::pytest.PytestUnraisableExceptionWarning",
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            f"*lmstudio: mode=fake (bundled fake LM Studio {LMSTUDIO_VERSION}; it starts when a test needs*",
            "*lmstudio: models for this run: qwen/qwen3-4b (loaded once, when first needed)*",
            f"*server: http://127.0.0.1:* (bundled fake LM Studio (pid *), LM Studio {LMSTUDIO_VERSION})*",
            "*models loaded by this run: qwen/qwen3-4b (*), google/gemma-3-1b (*)*",
            "*unloaded at the end: qwen/qwen3-4b, google/gemma-3-1b*",
            "*stopped the bundled fake LM Studio (pid *)*",
        ]
    )


def test_auto_mode_falls_back_to_fake(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.lmstudio
        def test_x(lmstudio_server):
            assert lmstudio_server.mode == "fake"
    """)
    result = pytester.runpytest_subprocess(
        "--lmstudio-mode=auto", "--lmstudio-url", f"http://127.0.0.1:{free_port()}"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*(not running: the bundled fake will be used)*"])


def test_auto_mode_prefers_live(pytester: pytest.Pytester, external_fake: tuple[str, Path]) -> None:
    url, _ = external_fake
    pytester.makepyfile("""
        import pytest

        @pytest.mark.lmstudio
        def test_x(lmstudio_server):
            assert lmstudio_server.mode == "live"
    """)
    result = pytester.runpytest_subprocess("--lmstudio-mode=auto", "--lmstudio-url", url)
    result.assert_outcomes(passed=1)


def test_xdist_three_workers_three_models_loaded_and_unloaded_once(
    pytester: pytest.Pytester, external_fake: tuple[str, Path]
) -> None:
    url, home = external_fake
    models = ["qwen/qwen3-4b", "google/gemma-3-1b", "text-embedding-nomic-embed-text-v1.5"]
    tests = []
    for i in range(12):
        model = models[i % 3]
        kind = "embed(['x'])" if "embedding" in model else "chat('hi')"
        tests.append(f"""
@pytest.mark.lmstudio(models=["{model}"])
def test_{i}(lmstudio_client):
    assert lmstudio_client.{kind}
""")
    pytester.makepyfile("import pytest\n" + "\n".join(tests))
    result = pytester.runpytest_subprocess("-p", "xdist", "-n", "3", "--lmstudio-url", url)
    result.assert_outcomes(passed=12)
    log = request_log(home)
    loads = Counter(r["model"] for r in log if r["path"] == "/api/v1/models/load")
    unloads = Counter(r["model"] for r in log if r["path"] == "/api/v1/models/unload")
    assert loads == Counter(models)
    assert unloads == Counter(models)
    last_load = max(i for i, r in enumerate(log) if r["path"] == "/api/v1/models/load")
    first_unload = min(i for i, r in enumerate(log) if r["path"] == "/api/v1/models/unload")
    assert first_unload > last_load


def test_xdist_fake_mode_shares_one_server(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import os
        import pytest

        @pytest.mark.parametrize("i", range(6))
        @pytest.mark.lmstudio(models=["google/gemma-3-1b"])
        def test_x(i, lmstudio_server, lmstudio_client, tmp_path_factory):
            out = tmp_path_factory.getbasetemp().parent / f"seen-{os.getpid()}-{i}"
            out.write_text(lmstudio_server.url + " " + str(lmstudio_server.pid))
            assert lmstudio_client.chat("hi").model == "google/gemma-3-1b"
    """)
    result = pytester.runpytest_subprocess(
        "-p", "xdist", "-n", "2", "--lmstudio-mode=fake", f"--basetemp={pytester.path / 'bt'}"
    )
    result.assert_outcomes(passed=6)
    seen = {p.read_text() for p in pytester.path.glob("seen-*")} | {
        p.read_text() for p in (pytester.path).rglob("seen-*")
    }
    assert len(seen) == 1
    pid = int(next(iter(seen)).split()[1])
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_keyboard_interrupt_leaves_no_fake_process(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.lmstudio
        def test_x(lmstudio_server):
            with open("fake.pid", "w") as fh:
                fh.write(str(lmstudio_server.pid))
            raise KeyboardInterrupt
    """)
    result = pytester.runpytest_subprocess("--lmstudio-mode=fake")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    pid = int((pytester.path / "fake.pid").read_text())
    assert wait_for(lambda: not _alive(pid), interval=0.05)


def test_killed_run_fake_exits_with_its_controller(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import os, signal, time
        import pytest

        @pytest.mark.lmstudio
        def test_x(lmstudio_server):
            with open("fake.pid", "w") as fh:
                fh.write(str(lmstudio_server.pid))
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    pytester.runpytest_subprocess("--lmstudio-mode=fake")
    pid = int((pytester.path / "fake.pid").read_text())
    assert wait_for(lambda: not _alive(pid), interval=0.05)


def test_strict_markers_know_lmstudio(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(MARKED)
    result = pytester.runpytest_subprocess("--strict-markers", "--lmstudio-mode=off")
    result.assert_outcomes(passed=1, skipped=1)


def test_bad_marker_argument_is_a_usage_error(
    pytester: pytest.Pytester, external_fake: tuple[str, Path]
) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.lmstudio(models=[1, 2])
        def test_x():
            pass
    """)
    result = pytester.runpytest_subprocess("--lmstudio-url", external_fake[0])
    # checked after collection since issue 15: a usage error (pytest prints those on stderr)
    result.stderr.fnmatch_lines(["*lmstudio(models=...) takes model keys*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_settings_precedence_cli_ini_env(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeini("[pytest]\nlmstudio_ttl = 111\nlmstudio_model = from-ini\nlmstudio_keep_loaded = yes\n")
    monkeypatch.setenv("LMSTUDIO_TTL", "222")
    monkeypatch.setenv("LMSTUDIO_TIMEOUT", "33")
    monkeypatch.setenv("LMSTUDIO_MODEL", "from-env")
    monkeypatch.setenv("LM_API_TOKEN", "sk-lm-abcdefgh:abcdefghijabcdefghij")
    pytester.makepyfile("""
        def test_settings(lmstudio_settings):
            s = lmstudio_settings
            assert s.ttl == 111            # ini beats env
            assert s.timeout == 33.0       # env beats default
            assert s.model == "from-cli"   # CLI beats ini and env
            assert s.keep_loaded is False  # --no-lmstudio-keep-loaded beats ini
            assert s.api_key == "sk-lm-abcdefgh:abcdefghijabcdefghij"  # client fallback variable
            assert s.download is False and s.mode == "live"
            assert "abcdefghij" not in repr(s)
    """)
    result = pytester.runpytest_subprocess(
        "--lmstudio-model=from-cli",
        "--no-lmstudio-keep-loaded",
        "--lmstudio-mode=live",
        "--lmstudio-url",
        "localhost:9",
    )
    result.assert_outcomes(passed=1)
    assert "abcdefghij" not in result.stdout.str()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--lmstudio-mode=sometimes"], {}, "*invalid choice: 'sometimes'*"),
        (
            [],
            {"LMSTUDIO_MODE": "sometimes"},
            "*env LMSTUDIO_MODE: lmstudio mode must be one of live, fake, auto, off*",
        ),
        ([], {"LMSTUDIO_REQUIRE": "maybe"}, "*env LMSTUDIO_REQUIRE: 'maybe' is not a boolean*"),
        ([], {"LMSTUDIO_TTL": "-5"}, "*lmstudio ttl must be positive*"),
        (["--lmstudio-url=ws://localhost:1234"], {}, "*--lmstudio-url*"),
    ],
)
def test_bad_settings_are_usage_errors(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_unauthorized_skip_reason(pytester: pytest.Pytester, tmp_path: Path) -> None:
    home = tmp_path / "auth-home"
    token = "sk-lm-abcdefgh:abcdefghijabcdefghij"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fake_lms",
            "serve",
            "--port",
            "0",
            "--home",
            str(home),
            "--require-auth",
            "--api-token",
            token,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    url = proc.stdout.readline().strip()
    try:
        pytester.makepyfile("""
            import pytest

            @pytest.mark.lmstudio(models=["google/gemma-3-1b"])
            def test_x(lmstudio_client):
                assert lmstudio_client.chat("hi").text
        """)
        result = pytester.runpytest_subprocess("--lmstudio-url", url, "-rs")
        result.assert_outcomes(skipped=1)
        result.stdout.fnmatch_lines(["*unauthorized*fix: Pass the API token with --lmstudio-api-key*"])
        result = pytester.runpytest_subprocess("--lmstudio-url", url, f"--lmstudio-api-key={token}")
        result.assert_outcomes(passed=1)
        assert token not in result.stdout.str()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def test_live_mode_starts_server_with_lms_and_stops_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from fake_lms.cli.launcher import install_lms

    home = tmp_path / "lms-home"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    install_lms(bin_dir)
    monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + os.environ["PATH"])
    monkeypatch.setenv("LMS_FAKE_HOME", str(home))
    port = free_port()
    pytester.makepyfile("""
        import pytest

        @pytest.mark.lmstudio(models=["google/gemma-3-1b"])
        def test_x(lmstudio_server, lmstudio_client):
            assert lmstudio_server.mode == "live" and lmstudio_server.started_by_run
            assert "server start --port" in lmstudio_server.how
            assert lmstudio_client.chat("hi").text
    """)
    result = pytester.runpytest_subprocess("--lmstudio-url", f"http://127.0.0.1:{port}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*(not running; will try `lms server start`)*",
            "*stopped LM Studio's server (`lms server stop`), which this run had started*",
        ]
    )
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    invocations = [
        json.loads(line)["argv"]
        for line in (home / "server-logs" / "lms-invocations.jsonl").read_text().splitlines()
    ]
    assert invocations == [["server", "start", "--port", str(port)], ["server", "stop"]]


def test_async_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import asyncio
        import pytest

        @pytest.mark.lmstudio(models=["qwen/qwen3-4b"])
        def test_async_client(lmstudio_async_client):
            result = asyncio.run(lmstudio_async_client.chat("async hello"))
            assert "async hello" in result.text

        @pytest.mark.asyncio
        @pytest.mark.lmstudio(models=["qwen/qwen3-4b"])
        async def test_async_client_in_the_tests_loop(lmstudio_async_client):
            assert (await lmstudio_async_client.chat("in loop")).text

        @pytest.mark.lmstudio(models=["qwen/qwen3-4b"])
        def test_async_openai(lmstudio_async_openai):
            async def go():
                reply = await lmstudio_async_openai.chat.completions.create(
                    model="qwen/qwen3-4b", messages=[{"role": "user", "content": "hi"}])
                return reply.choices[0].message.content
            assert asyncio.run(go())
    """)
    # a leaked socket or an unclosed transport would be an error here
    result = pytester.runpytest_subprocess(
        "--lmstudio-mode=fake",
        "-W",
        "error::ResourceWarning",
        "-W",
        "error::pytest.PytestUnraisableExceptionWarning",
    )
    result.assert_outcomes(passed=3)


def test_clients_ignore_proxy_variables(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{free_port()}")
    pytester.makepyfile("""
        import pytest

        @pytest.mark.lmstudio(models=["qwen/qwen3-4b"])
        def test_x(lmstudio_openai, lmstudio_client):
            assert lmstudio_openai.models.list().data
            assert lmstudio_client.chat("hi").text
    """)
    result = pytester.runpytest_subprocess("--lmstudio-mode=fake")
    result.assert_outcomes(passed=1)


def test_lmstudio_lms_fixture_uses_the_fake_lms(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        def test_lms(lmstudio_lms, lmstudio_server):
            lmstudio_lms.load("google/gemma-3-1b", identifier="g1")
            assert [m["identifier"] for m in lmstudio_lms.ps()] == ["g1"]
            port = int(lmstudio_server.url.rsplit(":", 1)[1])
            assert lmstudio_lms.server_status() == {"running": True, "port": port}
            lmstudio_lms.unload("g1")
            assert lmstudio_lms.ps() == []
    """)
    result = pytester.runpytest_subprocess("--lmstudio-mode=fake")
    result.assert_outcomes(passed=1)


def test_auto_mode_on_the_fake_downloads_missing_models(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.lmstudio(models=["openai/gpt-oss-20b"])
        def test_x(lmstudio_server, lmstudio_settings, lmstudio_model):
            assert lmstudio_server.is_fake and lmstudio_settings.download is None
            assert lmstudio_model("openai/gpt-oss-20b").downloaded_by_run
    """)
    result = pytester.runpytest_subprocess(
        "--lmstudio-mode=auto", "--lmstudio-url", f"http://127.0.0.1:{free_port()}"
    )
    result.assert_outcomes(passed=1)


def test_blank_variables_change_nothing_and_foreign_bad_urls_do_not_stop_the_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LMSTUDIO_DOWNLOAD", "")
    monkeypatch.setenv("LMSTUDIO_START", "")
    monkeypatch.setenv("LM_STUDIO_API_BASE", "ws://localhost:1234")  # another tool's variable
    pytester.makepyfile("""
        def test_x(lmstudio_settings):
            assert lmstudio_settings.download is True and lmstudio_settings.start is True
            assert lmstudio_settings.url == "http://127.0.0.1:1234"
    """)
    result = pytester.runpytest_subprocess("--lmstudio-mode=fake")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*pytest-lmstudio ignores it*LM_STUDIO_API_BASE*"])


def test_run_directories_of_dead_controllers_are_swept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    from pytest_lmstudio import rundir

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = tmp_path / "pytest-lmstudio-stale"
    stale.mkdir()
    (stale / "controller.json").write_text(json.dumps({"pid": int(dead.stdout)}))
    live = tmp_path / "pytest-lmstudio-live"
    live.mkdir()
    (live / "controller.json").write_text(json.dumps({"pid": os.getpid()}))
    old = time.time() - 3600
    for path in (stale, live):
        os.utime(path, (old, old))
    created = rundir.RunDir.create()
    assert not stale.exists() and live.exists() and created.path.exists()
