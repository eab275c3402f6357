"""The change counter shared by the processes using one home: a change made anywhere is seen at once,
without a stat() per read; without the counter, the stat() recheck still works."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from _waiting import wait_for

from fake_lms.changes import ChangeCounter
from fake_lms.model import home as state_module
from fake_lms.model.home import Home

GEMMA = "google/gemma-3-1b"


def test_counter_is_shared_between_mappings(tmp_path: Path) -> None:
    a, b = ChangeCounter(tmp_path / "changes"), ChangeCounter(tmp_path / "changes")
    assert a.value() == 0 and b.value() == 0
    assert a.bump() == 1 and b.value() == 1
    assert b.bump() == 2 and a.value() == 2
    a.close()
    assert ChangeCounter(tmp_path / "changes").value() == 2


def test_counter_is_shared_with_another_process(tmp_path: Path) -> None:
    counter = ChangeCounter(tmp_path / "changes")
    code = (
        "import sys; from pathlib import Path; from fake_lms.changes import ChangeCounter;"
        "ChangeCounter(Path(sys.argv[1])).bump()"
    )
    for expected in (1, 2, 3):
        subprocess.run([sys.executable, "-c", code, str(tmp_path / "changes")], check=True)
        assert counter.value() == expected


def test_a_change_through_another_home_is_seen_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # with the stat() recheck pushed out of reach, only the counter can reveal the change
    monkeypatch.setattr(state_module, "RECHECK_SECONDS", 3600.0)
    monkeypatch.setattr(state_module, "SAFETY_RECHECK_SECONDS", 3600.0)
    server_side, other = Home(tmp_path / "home"), Home(tmp_path / "home")
    assert server_side.instances() == []
    other.load(GEMMA)
    assert [i.identifier for i in server_side.instances()] == [GEMMA]
    other.unload(GEMMA)
    assert server_side.instances() == []


def test_a_change_by_another_process_is_seen_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state_module, "RECHECK_SECONDS", 3600.0)
    monkeypatch.setattr(state_module, "SAFETY_RECHECK_SECONDS", 3600.0)
    home = Home(tmp_path / "home")
    assert home.instances() == []
    code = "import sys; from fake_lms.model.home import Home; Home(sys.argv[1]).load(sys.argv[2])"
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "home"), GEMMA], check=True)
    assert [i.identifier for i in home.instances()] == [GEMMA]


def test_without_a_shared_counter_the_files_are_rechecked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ChangeCounter, "_mapping", lambda self: None)
    server_side, other = Home(tmp_path / "home"), Home(tmp_path / "home")
    assert server_side.instances() == []
    other.load(GEMMA)
    time.sleep(2 * state_module.RECHECK_SECONDS)
    assert [i.identifier for i in server_side.instances()] == [GEMMA]


def test_a_writer_bypassing_the_counter_is_seen_within_the_safety_recheck(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state_module, "SAFETY_RECHECK_SECONDS", 0.05)
    home = Home(tmp_path / "home")
    assert home.instances() == []
    other = Home(tmp_path / "home")
    monkeypatch.setattr(other._changes, "bump", lambda: None)  # an old writer that does not count
    other.load(GEMMA)
    time.sleep(0.1)
    assert [i.identifier for i in home.instances()] == [GEMMA]


def test_a_change_landing_while_the_state_is_read_is_not_cached_as_current(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file's key is taken before reading it: a change that lands during the read leaves a
    new key (or count) behind, so the next read sees it."""
    server, other = Home(tmp_path / "home"), Home(tmp_path / "home")
    server.snapshot()
    other.load(GEMMA)
    read = Home._read_state_fresh

    def read_then_race(self: Home) -> state_module.StateData:
        state = read(self)
        if self is server:
            monkeypatch.setattr(Home, "_read_state_fresh", read)
            other.unload(GEMMA)  # lands after the server read the file, before it cached it
        return state

    monkeypatch.setattr(Home, "_read_state_fresh", read_then_race)
    assert [i.identifier for i in server.instances()] == [GEMMA]  # what it read
    assert server.instances() == []  # and at once the change that raced with the read


def test_a_home_created_again_under_a_live_process_is_followed(tmp_path: Path) -> None:
    server = Home(tmp_path / "home")
    server.snapshot()
    shutil.rmtree(tmp_path / "home")  # removed and created anew: the server maps the old counter
    other = Home(tmp_path / "home")
    other.load(GEMMA)
    assert wait_for(server.instances, timeout=2)
    assert [i.identifier for i in server.instances()] == [GEMMA]
    server.unload(GEMMA)  # counted on the new counter, which the server maps again
    assert other.instances() == []


def test_reopening_the_counter_while_other_threads_read_it_is_safe(tmp_path: Path) -> None:
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    counter = ChangeCounter(tmp_path / "changes")
    errors: list[BaseException] = []
    stop = threading.Event()

    def run(action: Callable[[], object]) -> None:
        while not stop.is_set():
            try:
                action()
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=run, args=(counter.value,)) for _ in range(3)]
    threads += [threading.Thread(target=run, args=(counter.reopen,)) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
        sys.setswitchinterval(old_interval)
    assert errors == []
