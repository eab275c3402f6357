"""Drills with real processes: model loading survives a worker killed mid-load, and several pytest
runs share one LM Studio without unloading each other's models (issue 16).

The LM Studio here is a bundled fake started outside the runs (``python -m fake_lms serve``), as a
user's running LM Studio would be: the runs find it in live mode and do not own it, so what they
leave loaded is visible afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest_plugins = ["pytester"]

MODEL = "google/gemma-3-1b"
SETTINGS_ENV = [
    "LMSTUDIO_MODE",
    "LMSTUDIO_URL",
    "LMSTUDIO_BASE_URL",
    "LM_STUDIO_API_BASE",
    "LMSTUDIO_API_KEY",
    "LM_API_TOKEN",
    "LM_STUDIO_API_KEY",
    "LMSTUDIO_DOWNLOAD",
    "LMSTUDIO_MODEL",
    "LMSTUDIO_TTL",
    "LMSTUDIO_KEEP_LOADED",
    "LMSTUDIO_REQUIRE",
    "LMS_FAKE_HOME",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No LM Studio settings leak into the inner runs; their leases live in this test's folder."""
    for name in SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTEST_LMSTUDIO_LEASE_DIR", str(tmp_path / "leases"))


def serve(home: Path, *flags: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fake_lms", "serve", "--port", "0", "--home", str(home), *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


@pytest.fixture
def slow_loading_fake(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A fake LM Studio process whose loads take 5 s: long enough to kill a process mid-load."""
    home = tmp_path / "lmstudio-home"
    proc, url = serve(home, "--load-seconds", "5")
    yield url, home
    proc.terminate()
    proc.wait(10)


def request_log(home: Path) -> list[dict]:
    path = home / "server-logs" / "requests.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def loaded_instances(url: str) -> list[str]:
    models = httpx.get(url + "/api/v1/models", timeout=10).json()["models"]
    return [inst["id"] for m in models for inst in m.get("loaded_instances") or []]


# Both tests run the same code; the first to claim the role is the victim: it starts a killer process
# that SIGKILLs the victim's xdist worker 1.5 s into its model load (the fake takes 5 s over it) —
# no cleanup, no finally, the model lock freed by the operating system. The other one (on the other
# worker, or on the worker xdist starts in the dead one's place) asks for the same model once the
# victim's load is under way, and must end with the victim's instance, not a second one (`key:2`).
KILL_DRILL = """
import json, os, subprocess, sys, time
from pathlib import Path

import pytest

MODEL = "google/gemma-3-1b"
SIGNALS = Path(__file__).parent
KILLER = "import os, sys, time; time.sleep(1.5); os.kill(int(sys.argv[1]), 9)"


def claim(role):
    try:
        os.close(os.open(SIGNALS / role, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def drill(lmstudio_model):
    if claim("victim"):
        subprocess.Popen([sys.executable, "-c", KILLER, str(os.getpid())])
        lmstudio_model(MODEL)
        pytest.fail("the victim finished its load: it was meant to be killed during it")
    time.sleep(1.0)  # the victim's load is on the fake before this one asks
    model = lmstudio_model(MODEL)
    (SIGNALS / "survivor").write_text(json.dumps([model.identifier, model.loaded_by_run]))


def test_one(lmstudio_model):
    drill(lmstudio_model)


def test_two(lmstudio_model):
    drill(lmstudio_model)
"""


def test_a_worker_killed_while_loading_leaves_one_instance_unloaded_at_the_end(
    pytester: pytest.Pytester, slow_loading_fake: tuple[str, Path]
) -> None:
    url, home = slow_loading_fake
    pytester.makepyfile(test_drill=KILL_DRILL)
    started = time.monotonic()
    result = pytester.runpytest_subprocess(
        "-p", "xdist", "-n", "2", "--lmstudio-url", url, "-p", "no:cacheprovider", timeout=120
    )
    # the victim's worker crashed (xdist reports its test failed); the other test passed
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*crashed while running*"])
    identifier, loaded_by_run = json.loads((pytester.path / "survivor").read_text())
    # it adopted the victim's instance, as a model the run loaded (so the run unloads it)
    assert (identifier, loaded_by_run) == (MODEL, True)
    log = request_log(home)
    made = [r for r in log if r["path"] == "/api/v1/models/load" and r["status"] == 200]
    # exactly one instance ever existed: the victim's load finished on the fake; the survivor's own
    # load under the same identifier was refused (not made `google/gemma-3-1b:2`)
    assert [r.get("instance_id") for r in made] == [MODEL]
    refused = [r for r in log if r["path"] == "/api/v1/models/load" and r["status"] == 400]
    assert len(refused) == 1
    unloads = [r for r in log if r["path"] == "/api/v1/models/unload"]
    assert [(r["status"], r.get("instance_id")) for r in unloads] == [(200, MODEL)]
    assert loaded_instances(url) == []
    assert time.monotonic() - started < 90


# Run A loads the model and, while run B (started after A loaded it) still has tests to run, ends.
# Once A has loaded it, JIT is turned off on the fake, so a model unloaded under B's feet fails B's
# next request instead of being quietly loaded again (LM Studio with JIT off: lmstudio-surface.md
# §3.1; the fake's /api/v1/models then lists only loaded models, so it is turned off only then).
# what both runs share: the model, and waiting for the other run's signal files
SHARED_RUN_PREAMBLE = """
import os, time
from pathlib import Path

import pytest

MODEL = "google/gemma-3-1b"
SIGNALS = Path(os.environ["DRILL_SIGNALS"])


def wait(name):
    deadline = time.monotonic() + 60
    while not (SIGNALS / name).exists():
        assert time.monotonic() < deadline, f"{name} never came"
        time.sleep(0.05)

"""

SHARED_RUN_A = (
    SHARED_RUN_PREAMBLE
    + """

@pytest.mark.lmstudio(models=[MODEL])
def test_a_loads_and_uses_the_model(lmstudio_model, lmstudio_client):
    assert lmstudio_model(MODEL).loaded_by_run
    assert lmstudio_client.chat("hi", model=MODEL).text
    (SIGNALS / "a-loaded").touch()


def test_a_ends_while_b_still_uses_it():
    wait("b-using")
"""
)

SHARED_RUN_B = (
    SHARED_RUN_PREAMBLE
    + """

@pytest.mark.lmstudio(models=[MODEL])
def test_b_finds_it_loaded(lmstudio_model, lmstudio_client):
    assert not lmstudio_model(MODEL).loaded_by_run  # run A loaded it
    assert lmstudio_client.chat("hi", model=MODEL).text
    (SIGNALS / "b-using").touch()


@pytest.mark.lmstudio(models=[MODEL])
def test_b_still_has_it_after_a_ended(lmstudio_client):
    wait("a-done")
    assert lmstudio_client.chat("hi again", model=MODEL).text
"""
)


def pytest_run(folder: Path, url: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--lmstudio-url", url, "-rA"],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_two_runs_sharing_one_lm_studio_never_unload_each_others_models(tmp_path: Path) -> None:
    from fake_lms.scripting.remote import ControlClient

    proc, url = serve(tmp_path / "lmstudio-home")
    try:
        signals = tmp_path / "signals"
        signals.mkdir()
        env = {**os.environ, "DRILL_SIGNALS": str(signals)}
        for name, source in (("a", SHARED_RUN_A), ("b", SHARED_RUN_B)):
            (tmp_path / name).mkdir()
            (tmp_path / name / f"test_run_{name}.py").write_text(source)
        run_a = pytest_run(tmp_path / "a", url, env)
        deadline = time.monotonic() + 60
        while not (signals / "a-loaded").exists():
            assert run_a.poll() is None and time.monotonic() < deadline, "run A never loaded the model"
            time.sleep(0.05)
        ControlClient(url).configure(jit=False)
        run_b = pytest_run(tmp_path / "b", url, env)
        out_a, _ = run_a.communicate(timeout=90)
        assert run_a.returncode == 0, out_a
        assert MODEL in loaded_instances(url)  # A ended; B still uses the model it loaded
        (signals / "a-done").touch()
        out_b, _ = run_b.communicate(timeout=90)
        assert run_b.returncode == 0, out_b
        assert "left loaded for other pytest runs still using them" in out_a
        assert f"unloaded at the end: {MODEL}" in out_b  # the last run using it unloads it
        assert loaded_instances(url) == []
        log = request_log(tmp_path / "lmstudio-home")
        assert [r["path"] for r in log].count("/api/v1/models/load") == 1
        assert [r.get("instance_id") for r in log if r["path"] == "/api/v1/models/unload"] == [MODEL]
        assert list((tmp_path / "leases").glob("*/*.lease.json")) == []  # both leases ended
    finally:
        proc.terminate()
        proc.wait(10)
