"""Kill drills: the run's shared fake LM Studio dies mid-run (issue 16, "honest when things die").

Real processes throughout: a pytester run (also under ``-p xdist -n 2``) whose first test SIGKILLs
the shared fake it was given. The tests after it must be told the fake exited (not to run `lms
server start`), the run must end, and the summary must not claim to have stopped what was dead.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import asdict
from pathlib import Path

import pytest
from _waiting import wait_for

from fake_lms.procs import pid_alive
from pytest_lmstudio import server as server_mod
from pytest_lmstudio.rundir import RunDir

pytest_plugins = ["pytester"]

SETTINGS_ENV = [
    "LMSTUDIO_MODE",
    "LMSTUDIO_URL",
    "LMSTUDIO_BASE_URL",
    "LM_STUDIO_API_BASE",
    "LMSTUDIO_API_KEY",
    "LM_API_TOKEN",
    "LM_STUDIO_API_KEY",
    "LMSTUDIO_TIMEOUT",
    "LMSTUDIO_MODEL",
    "LMSTUDIO_REQUIRE",
    "LMS_FAKE_HOME",
]
RUN_BOUND = 60.0  # seconds: a generous bound on a drill run, to prove it ends, not a speed target


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTEST_LMSTUDIO_LEASE_DIR", str(tmp_path / "leases"))


DRILL = """
import os, signal, time
from dataclasses import asdict
from pathlib import Path
import pytest

def test_0_kill(lmstudio_server, lmstudio_client):
    assert lmstudio_client.chat("hi", model="google/gemma-3-1b").text  # the fake served this test
    Path("fake.pid").write_text(str(lmstudio_server.pid))
    os.kill(lmstudio_server.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # gone, or a zombie nobody reaped yet
        try:
            if Path(f"/proc/{lmstudio_server.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                break
        except OSError:
            break
        time.sleep(0.01)
    Path("killed").write_text("")

@pytest.mark.parametrize("i", range(3))
def test_client_after(i, lmstudio_client):
    lmstudio_client.chat("hi", model="google/gemma-3-1b")

def test_server_after(lmstudio_server):
    pass

@pytest.mark.lmstudio(models=["google/gemma-3-1b"])
def test_marker_after():
    pass
"""

# Under xdist the other worker's tests wait for the kill before their fixtures are set up, so that
# "after" means after (the worker given test_0_kill runs it first: it is the first test collected).
WAIT_FOR_KILL = """
import time
from dataclasses import asdict
from pathlib import Path
import pytest

@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    if item.name != "test_0_kill":
        deadline = time.monotonic() + 30
        while not Path("killed").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
"""

AFTER = 5  # tests after the kill in DRILL


def run_drill(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, float]:
    pytester.makepyfile(test_drill=DRILL)
    pytester.makeconftest(WAIT_FOR_KILL)
    started = time.monotonic()
    result = pytester.runpytest_subprocess("--lmstudio-mode=fake", "-rsf", *args, timeout=RUN_BOUND * 2)
    return result, time.monotonic() - started


def check_summary(result: pytest.RunResult, pid: int) -> None:
    out = result.stdout.str()
    assert "stopped the bundled fake" not in out
    assert f"the bundled fake LM Studio (pid {pid}) had already exited" in out
    # its log's last lines are shown; a SIGKILL leaves nothing after the line saying it serves
    assert "its log ends with:" in out and "fake LM Studio serving http://127.0.0.1:" in out
    assert "lms server start" not in out


def test_killed_fake_skips_the_tests_after_it_and_the_summary_is_honest(pytester: pytest.Pytester) -> None:
    result, seconds = run_drill(pytester)
    pid = int((pytester.path / "fake.pid").read_text())
    result.assert_outcomes(passed=1, skipped=AFTER)  # not "failed: server not running"
    result.stdout.fnmatch_lines(
        [
            "*skipped because LM Studio was unavailable:",
            f"  {AFTER} tests: the bundled fake LM Studio (pid {pid}) exited during the run*"
            "fix: Find what ended it*",
            # "(killed by SIGKILL)" when the process asking has reaped the fake, and only then
            f"*LM Studio: the bundled fake LM Studio (pid {pid}) exited during the run*"
            " and no longer answers at http://127.0.0.1:*;"
            " the last line of its log: 'fake LM Studio serving*",
        ]
    )
    check_summary(result, pid)
    assert seconds < RUN_BOUND


def test_killed_fake_under_xdist_fails_the_tests_after_it_with_require(pytester: pytest.Pytester) -> None:
    result, seconds = run_drill(pytester, "-p", "xdist", "-n", "2", "--lmstudio-require")
    pid = int((pytester.path / "fake.pid").read_text())
    result.assert_outcomes(passed=1, errors=AFTER)  # set-up failures, as for any unavailable LM Studio
    out = result.stdout.str()
    assert out.count(f"the bundled fake LM Studio (pid {pid}) exited during the run") >= AFTER
    assert "(--lmstudio-require turns this skip into a failure)" in out
    check_summary(result, pid)
    assert seconds < RUN_BOUND


def test_release_of_a_fake_that_already_died_says_so(tmp_path: Path) -> None:
    """The end of a run, alone: a fake found dead is reported as exited, with how and its log."""
    run = RunDir.create(tmp_path / "run")
    server = server_mod.start_fake(run)
    assert server.pid is not None
    run.write(server_mod.SERVER_FILE, {"status": "ok", "server": asdict(server)})
    assert server_mod.fake_exit(server, run) is None  # still serving: nothing recorded
    os.kill(server.pid, signal.SIGKILL)
    assert wait_for(lambda: not pid_alive(server.pid), timeout=10)
    lines = server_mod.release(run)
    assert lines[0] == (
        f"the bundled fake LM Studio (pid {server.pid}) had already exited (killed by SIGKILL): nothing to "
        "stop; its log ends with:"
    )
    assert lines[-1].startswith("  fake LM Studio serving http://127.0.0.1:")
    assert server_mod.release(run) == lines  # said the same way however often it is asked


def test_release_of_a_running_fake_stops_it(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "run")
    server = server_mod.start_fake(run)
    assert server.pid is not None
    run.write(server_mod.SERVER_FILE, {"status": "ok", "server": asdict(server)})
    assert server_mod.release(run) == [f"stopped the bundled fake LM Studio (pid {server.pid})"]
    assert not pid_alive(server.pid)
    assert run.read(server_mod.EXIT_FILE) is None  # stopping it is not dying
