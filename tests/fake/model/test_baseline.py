"""Going back to a home's baseline between tests (``FakeLMStudio.reset``, issue 17 item 2): what
changed is restored, nothing else is written, and what the baseline had loaded is not loaded
again."""

from __future__ import annotations

import os
import time
from pathlib import Path

from fake_lms.model.home import Home

QWEN = "qwen/qwen3-4b"
GEMMA = "google/gemma-3-1b"


def state_key(home: Home) -> tuple[int, int]:
    st = os.stat(home.state_file)
    return st.st_ino, st.st_mtime_ns


def test_an_unchanged_home_is_not_written(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    home.load(QWEN, sleep=False)
    base = home.capture_baseline()
    before = state_key(home)
    home.restore_baseline(base)
    assert state_key(home) == before  # no new state file: nothing was written


def test_a_baseline_instance_still_loaded_is_kept_as_it_is(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    home.load(QWEN, sleep=False)
    base = home.capture_baseline()
    (loaded,) = home.instances()
    time.sleep(0.01)
    home.touch(loaded.identifier)  # a test used it
    home.load(GEMMA, sleep=False)  # and loaded another model
    home.restore_baseline(base)
    (kept,) = home.instances()
    assert kept.identifier == loaded.identifier and kept.loaded_at == loaded.loaded_at  # not reloaded


def test_a_baseline_instance_a_test_unloaded_comes_back(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    home.load(QWEN, sleep=False)
    base = home.capture_baseline()
    (loaded,) = home.instances()
    home.unload(loaded.identifier)
    home.update_settings(jit=False)
    time.sleep(0.01)
    home.restore_baseline(base)
    (back,) = home.instances()
    assert back.identifier == loaded.identifier and back.loaded_at > loaded.loaded_at
    assert home.settings.jit is True


def test_a_baseline_instance_with_a_ttl_gets_its_idle_clock_back(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    home.load(QWEN, ttl_seconds=600, sleep=False)
    base = home.capture_baseline()
    (loaded,) = home.instances()
    time.sleep(0.01)
    home.restore_baseline(base)
    (kept,) = home.instances()
    assert kept.loaded_at == loaded.loaded_at and kept.last_used > loaded.last_used


def test_downloads_tokens_evictions_and_logs_are_restored(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    base = home.capture_baseline()
    home.remove_download(GEMMA)
    home.add_token("sk-lm-abcdefgh:abcdefghijklmnopqrst")
    home.load(QWEN, ttl_seconds=0.001, sleep=False)
    time.sleep(0.01)
    home.expire()
    home.request_log_file.parent.mkdir(exist_ok=True)
    home.request_log_file.write_text('{"path": "/v1/models"}\n')
    home.restore_baseline(base)
    assert home.is_downloaded(GEMMA) and home.instances() == []
    assert not home.token_known("sk-lm-abcdefgh:abcdefghijklmnopqrst")
    assert home.snapshot().evicted == [] and home.request_log() == []
