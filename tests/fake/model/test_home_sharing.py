"""A home shared by threads and processes: the state lock (``fake_lms.locks.FileMutex``) and the
state file's replacement (``fake_lms.files.replace_under_lock``), made cheaper for issue 17: a
reader never sees a missing or rebuilt state, and a writer killed midway loses nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import filelock
import pytest

from fake_lms.files import replace_under_lock
from fake_lms.locks import FileMutex, LockTimeout
from fake_lms.model.home import Home

QWEN = "qwen/qwen3-4b"
GEMMA = "google/gemma-3-1b"

HOLD_IN_A_CHILD = textwrap.dedent(
    """
    import sys
    from fake_lms.locks import FileMutex
    with FileMutex(sys.argv[1], timeout=5):
        print("held", flush=True)
        sys.stdin.readline()
    """
)


def test_the_lock_is_reentrant_in_a_thread_and_excludes_other_threads(tmp_path: Path) -> None:
    lock = FileMutex(tmp_path / "a.lock", timeout=5)
    other = FileMutex(tmp_path / "a.lock", timeout=0.2)  # another Home object on the same home
    got: list[str] = []
    with lock, lock:
        assert lock.is_held
        thread = threading.Thread(target=lambda: got.append(_try(other)))
        thread.start()
        thread.join()
        assert got == ["timed out"]
        with lock:
            pass
        assert lock.is_held  # an inner release keeps the outer hold
    assert not lock.is_held
    assert _try(other) == "acquired"


def test_the_lock_excludes_another_process_and_says_which_file(tmp_path: Path) -> None:
    path = tmp_path / "state.lock"
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_IN_A_CHILD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "held\n"
        started = time.monotonic()
        with pytest.raises(LockTimeout, match=f"{path}: still locked after 0.3 s, by another process"):
            FileMutex(path, timeout=0.3).acquire()
        assert time.monotonic() - started >= 0.3
        assert child.stdin is not None
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.wait(timeout=10) == 0
        assert _try(FileMutex(path, timeout=5)) == "acquired"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_the_lock_and_filelock_exclude_each_other(tmp_path: Path) -> None:
    """Older fakes and other tools lock the same file with filelock's ``FileLock``."""
    path = tmp_path / "state.lock"
    with filelock.FileLock(str(path)):
        assert _try(FileMutex(path, timeout=0.2)) == "timed out"
    with FileMutex(path, timeout=5), pytest.raises(filelock.Timeout):
        filelock.FileLock(str(path), timeout=0.2).acquire()


def test_a_release_without_an_acquire_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="released more often than acquired"):
        FileMutex(tmp_path / "a.lock", timeout=1).release()


@pytest.mark.parametrize("reader", ["the open Home", "a new Home", "a new CliHome"])
def test_a_writer_killed_between_the_renames_loses_nothing(tmp_path: Path, reader: str) -> None:
    home = Home(tmp_path / "home")
    home.update_settings(download_seconds=7.5)
    home.load(QWEN, sleep=False)
    home.instances()  # cached: the next read must notice the file is gone
    # what replace_under_lock leaves when killed after its first rename: the new content beside
    # the state file, the state file moved to .prev
    (home.internal / f".fake-state.json.{os.getpid()}.1.tmp").write_text("{}")
    os.rename(home.state_file, home.internal / ".fake-state.json.prev")
    if reader == "a new CliHome":
        from fake_lms.cli.context import CliHome

        first: Home = CliHome(home.path)
    else:
        first = home if reader == "the open Home" else Home(home.path)
    assert [inst.identifier for inst in first.instances()] == [QWEN]
    assert first.settings.download_seconds == 7.5
    assert home.state_file.exists() and not (home.internal / ".fake-state.json.prev").exists()
    assert [inst.identifier for inst in home.instances()] == [QWEN]


def test_opening_a_home_discards_what_killed_writers_left_beside_a_good_state(tmp_path: Path) -> None:
    """A writer killed after its second rename leaves an older ``.prev`` beside the new state; one
    killed before it, a temporary file. Neither may come back later (a stale ``.prev`` restored
    over a deleted state file would bring back instances unloaded since)."""
    home = Home(tmp_path / "home")
    home.load(QWEN, sleep=False)
    stale = home.state_file.read_bytes()  # QWEN loaded
    home.unload_all()
    (home.internal / ".fake-state.json.prev").write_bytes(stale)
    (home.internal / ".fake-state.json.999999.1.tmp").write_bytes(stale)
    Home(home.path)  # a server or an lms starting on the home
    assert sorted(p.name for p in home.internal.iterdir() if p.name.startswith(".fake-state")) == []
    home.state_file.unlink()
    assert home.instances() == []  # rebuilt from the catalog, not the stale .prev


def test_a_deleted_state_file_is_rebuilt_from_the_catalog(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    home.load(QWEN, sleep=False)
    home.state_file.unlink()
    assert home.instances() == []  # nothing loaded, as in a new home
    assert home.is_downloaded(QWEN)


def test_replace_under_lock_leaves_one_file_behind(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    replace_under_lock(path, b"1")  # the first write: nothing to move aside
    replace_under_lock(path, b"22")
    assert path.read_bytes() == b"22"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


READER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from fake_lms.model.home import Home
    home, done = Home(Path(sys.argv[1])), Path(sys.argv[2])
    reads = 0
    print("reading", flush=True)
    while reads < 2000:
        state = home.snapshot()
        if state.settings.download_seconds != 7.5 or not state.downloaded:
            done.touch()
            print("a rebuilt state was read", flush=True)
            sys.exit(1)
        reads += 1
        home._state_cache = None  # read the file every time, not the cache
    done.touch()
    print(reads, flush=True)
    """
)


def test_readers_in_another_process_never_see_a_missing_or_rebuilt_state(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    home.update_settings(download_seconds=7.5)
    done = tmp_path / "done"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(home.path), str(done)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout is not None and reader.stdout.readline() == "reading\n"
        until = time.monotonic() + 60
        while not done.exists() and time.monotonic() < until:  # it reads a missing file ~1 in 200
            home.load(GEMMA, sleep=False)
            home.unload_all()
        out, err = reader.communicate(timeout=60)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    assert reader.returncode == 0, out + err
    assert int(out) == 2000
    assert "rebuilt" not in err and "set aside" not in err
    assert sorted(p.name for p in home.internal.iterdir() if p.name.startswith(".fake-state")) == []


def test_a_forked_child_never_prolongs_the_parents_hold(tmp_path: Path) -> None:
    """A child forked while the parent held the lock (multiprocessing's default on Linux) shares
    the hold's descriptor unless it closes its copy: the lock would outlive the parent's release
    for as long as the child lives, even a child that never takes it."""
    path = tmp_path / "state.lock"
    lock = FileMutex(path, timeout=5)
    lock.acquire()

    def child() -> bool:  # sleeps, never touching the lock, then checks it can take it itself
        time.sleep(1.0)
        return _try(FileMutex(path, timeout=2)) == "acquired" and _try(lock) == "acquired"

    pid, read = _fork(child)
    try:
        lock.release()
        assert _try(FileMutex(path, timeout=0.5)) == "acquired"  # while the child still lives
        assert os.read(read, 1) == b"0"
    finally:
        os.waitpid(pid, 0)
        os.close(read)


def test_a_child_forked_while_a_thread_waits_for_the_lock_starts_unlocked(tmp_path: Path) -> None:
    path = tmp_path / "state.lock"
    holder = FileMutex(path, timeout=5)  # "another process": a second object on the same file
    waiter = FileMutex(path, timeout=5)
    holder.acquire()
    got: list[str] = []
    thread = threading.Thread(target=lambda: got.append(_try(waiter)))
    thread.start()
    time.sleep(0.2)  # the thread polls the file with a descriptor of its own

    def child() -> bool:
        holder._after_fork()  # not needed (register_at_fork did it); checks it is idempotent
        time.sleep(0.5)  # the parent's thread gets the lock meanwhile, then releases it
        return _try(FileMutex(path, timeout=3)) == "acquired"

    pid, read = _fork(child)
    try:
        holder.release()
        thread.join(timeout=10)
        assert got == ["acquired"]
        assert os.read(read, 1) == b"0"
        assert _try(FileMutex(path, timeout=0.5)) == "acquired"
    finally:
        os.waitpid(pid, 0)
        os.close(read)


def test_a_release_from_a_thread_that_does_not_hold_it_changes_nothing(tmp_path: Path) -> None:
    lock = FileMutex(tmp_path / "a.lock", timeout=5)
    errors: list[str] = []

    def release() -> None:
        try:
            lock.release()
        except RuntimeError as exc:
            errors.append(str(exc))

    with lock:
        thread = threading.Thread(target=release)
        thread.start()
        thread.join()
        assert errors == [f"{lock.path}: released by a thread that does not hold it"]
        assert _try(FileMutex(lock.path, timeout=0.2)) == "timed out"  # still held
    assert _try(FileMutex(lock.path, timeout=1)) == "acquired"


def _fork(check: Callable[[], bool]) -> tuple[int, int]:
    """Fork a child that runs ``check`` and writes b"0" (true) or b"1" to the pipe returned."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        code = 1
        try:
            code = 0 if check() else 1
        finally:
            os.write(write, b"%d" % code)
            os._exit(code)
    os.close(write)
    return pid, read


def _try(lock: FileMutex) -> str:
    try:
        lock.acquire()
    except LockTimeout:
        return "timed out"
    lock.release()
    return "acquired"
