"""Leases: runs on one machine sharing one LM Studio unload only what no other live run uses."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_lmstudio.leases import Leases, scope, server_id

URL = "http://127.0.0.1:1234"
QWEN = ("qwen/qwen3-4b", "qwen/qwen3-4b")  # (instance identifier, model key) of a run's load


@pytest.fixture
def live_pid() -> Iterator[int]:
    """The pid of another run's controller that is still running."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
def dead_pid() -> int:
    """The pid of a run's controller that was killed (it exited and was reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


class Unloads:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, identifier: str) -> bool:
        self.calls.append(identifier)
        return True


def test_scope_says_who_else_can_use_the_server() -> None:
    assert scope(URL, is_fake=True) == "own"  # the bundled fake the run started
    assert scope("http://localhost:1234", is_fake=False) == "local"
    assert scope("http://[::1]:1234", is_fake=False) == "local"
    assert scope("http://192.168.1.20:1234", is_fake=False) == "remote"


def test_one_lm_studio_one_name_however_the_url_spells_it() -> None:
    assert server_id("http://localhost:1234") == server_id("http://127.0.0.1:1234/v1")
    assert server_id("http://127.0.0.1:1234") != server_id("http://127.0.0.1:1235")


def test_the_first_run_to_end_leaves_a_shared_model_to_the_last(tmp_path: Path, live_pid: int) -> None:
    a = Leases(URL, "run-a", os.getpid(), base=tmp_path)
    b = Leases(URL, "run-b", live_pid, base=tmp_path)
    a.hold("qwen/qwen3-4b")
    a.record_load("qwen/qwen3-4b", "qwen/qwen3-4b")
    b.hold("qwen/qwen3-4b")  # B found it loaded: not B's load
    unloads = Unloads()
    end_a = a.end([QWEN], keep=False, unload=unloads)
    assert end_a.left_in_use == {"qwen/qwen3-4b": 1} and unloads.calls == []
    end_b = b.end([], keep=False, unload=unloads)  # B loaded nothing, but is the last run using it
    assert end_b.unloaded == ["qwen/qwen3-4b"] and unloads.calls == ["qwen/qwen3-4b"]
    assert list(tmp_path.glob("*/*.lease.json")) == []


def test_a_model_the_user_had_loaded_is_never_unloaded(tmp_path: Path, live_pid: int) -> None:
    a = Leases(URL, "run-a", os.getpid(), base=tmp_path)
    a.hold("qwen/qwen3-4b")  # found loaded: no record_load
    unloads = Unloads()
    assert a.end([], keep=False, unload=unloads).unloaded == [] and unloads.calls == []


def test_keep_loaded_takes_it_off_every_run_s_hands(tmp_path: Path, live_pid: int) -> None:
    a = Leases(URL, "run-a", os.getpid(), base=tmp_path)
    b = Leases(URL, "run-b", live_pid, base=tmp_path)
    for run in (a, b):
        run.hold("qwen/qwen3-4b")
    a.record_load("qwen/qwen3-4b", "qwen/qwen3-4b")
    unloads = Unloads()
    assert a.end([QWEN], keep=True, unload=unloads).kept == ["qwen/qwen3-4b"]
    assert b.end([], keep=False, unload=unloads).unloaded == []  # A asked to keep it
    assert unloads.calls == []


def test_a_killed_run_s_lease_counts_for_nothing(tmp_path: Path, dead_pid: int) -> None:
    a = Leases(URL, "run-a", os.getpid(), base=tmp_path)
    killed = Leases(URL, "run-killed", dead_pid, base=tmp_path)
    killed.hold("qwen/qwen3-4b")
    a.hold("qwen/qwen3-4b")
    a.record_load("qwen/qwen3-4b", "qwen/qwen3-4b")
    unloads = Unloads()
    assert a.end([QWEN], keep=False, unload=unloads).unloaded == ["qwen/qwen3-4b"]
    assert list(tmp_path.glob("*/*.lease.json")) == []  # the dead run's lease was removed too


def test_what_a_killed_run_loaded_is_adopted_by_the_next_run_using_it(tmp_path: Path, dead_pid: int) -> None:
    killed = Leases(URL, "run-killed", dead_pid, base=tmp_path)
    killed.hold("qwen/qwen3-4b")
    killed.record_load("qwen/qwen3-4b", "qwen/qwen3-4b")
    killed.hold("google/gemma-3-1b")
    killed.record_load("google/gemma-3-1b", "google/gemma-3-1b")
    a = Leases(URL, "run-a", os.getpid(), base=tmp_path)
    a.hold("qwen/qwen3-4b")
    unloads = Unloads()
    # qwen: A used it and is the last run that does: unloaded. gemma: nobody uses it; its record is
    # dropped and LM Studio's idle TTL (the killed run loaded it with one) frees it
    assert a.end([], keep=False, unload=unloads).unloaded == ["qwen/qwen3-4b"]
    later = Leases(URL, "run-later", os.getpid(), base=tmp_path)
    later.hold("google/gemma-3-1b")
    assert later.end([], keep=False, unload=unloads).unloaded == []
    assert unloads.calls == ["qwen/qwen3-4b"]


def test_leases_of_different_servers_are_apart(tmp_path: Path, live_pid: int) -> None:
    a = Leases(URL, "run-a", os.getpid(), base=tmp_path)
    b = Leases("http://127.0.0.1:5678", "run-b", live_pid, base=tmp_path)
    a.hold("qwen/qwen3-4b")
    b.hold("qwen/qwen3-4b")
    unloads = Unloads()
    assert a.end([QWEN], keep=False, unload=unloads).unloaded == ["qwen/qwen3-4b"]
    assert b.in_use_by_others() == 0


def test_a_server_the_run_started_is_left_running_while_other_runs_use_it(
    tmp_path: Path, live_pid: int
) -> None:
    a = Leases(URL, "run-a", os.getpid(), base=tmp_path)
    Leases(URL, "run-b", live_pid, base=tmp_path).hold("qwen/qwen3-4b")
    assert a.in_use_by_others() == 1
