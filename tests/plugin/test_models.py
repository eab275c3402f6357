"""ModelManager: once-per-run ensure, its ledger, and the reasons it gives when it cannot."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from fake_lms import FakeLMStudio
from pytest_lmstudio.models import ModelManager, loaded_by_run
from pytest_lmstudio.rundir import LockTimeout, RunDir
from pytest_lmstudio.server import LMStudioServer, Unavailable
from pytest_lmstudio.settings import Settings


def manager(url: str, tmp_path: Path, **settings: object) -> ModelManager:
    run = RunDir(tmp_path)
    return ModelManager(LMStudioServer(url, "live", "test"), Settings(**settings), run)


def test_ensure_loads_once_and_records_it(tmp_path: Path) -> None:
    with FakeLMStudio() as fake:
        first = manager(fake.url, tmp_path).ensure("google/gemma-3-1b")
        again = manager(fake.url, tmp_path).ensure("google/gemma-3-1b")  # another worker, same run
        assert first == again and first.loaded_by_run
        assert [r["path"] for r in fake.request_log()].count("/api/v1/models/load") == 1
        assert [m.key for m in loaded_by_run(RunDir(tmp_path))] == ["google/gemma-3-1b"]


def test_failure_is_recorded_and_not_retried(tmp_path: Path) -> None:
    with FakeLMStudio() as fake:
        for _ in range(3):
            with pytest.raises(Unavailable) as err:
                manager(fake.url, tmp_path).ensure("openai/gpt-oss-20b")
            assert err.value.kind == "not-downloaded"
        assert sum(r["path"] == "/api/v1/models" for r in fake.request_log()) == 1


def test_old_lm_studio_without_v1_api_gets_a_precise_reason(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/lmstudio-greeting").respond_with_json({"lmstudio": True})
    httpserver.expect_request("/api/v0/models").respond_with_json(
        {
            "data": [
                {
                    "id": "m",
                    "object": "model",
                    "type": "llm",
                    "state": "not-loaded",
                    "max_context_length": 4096,
                }
            ],
            "object": "list",
        }
    )
    for path in ("/api/v1/models", "/api/v1/models/load"):
        httpserver.expect_request(path).respond_with_json(
            {"error": f"Unexpected endpoint or method. (X {path})"}
        )
    with pytest.raises(Unavailable) as err:
        manager(httpserver.url_for("").rstrip("/"), tmp_path).ensure("m")
    assert err.value.kind == "unsupported"
    assert "lms load m" in err.value.fix


def test_a_model_held_too_long_by_another_process_is_a_reason_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pytest_lmstudio.models as models

    monkeypatch.setattr(models, "MODEL_LOCK_SECONDS", 0.2)
    run = RunDir(tmp_path)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with run.locked("model:slow/model"):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    try:
        with pytest.raises(Unavailable) as err:
            manager("http://127.0.0.1:9", tmp_path).ensure("slow/model")
        assert err.value.kind == "lock-timeout"
    finally:
        release.set()
        thread.join()


def test_other_models_are_not_held_up_by_a_slow_one(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    with run.locked("model:slow/model"):
        start = time.monotonic()
        with run.locked("model:other/model", timeout=1):
            pass
        with run.locked(timeout=1):  # the ledger lock is free too
            pass
    assert time.monotonic() - start < 1
    with pytest.raises(LockTimeout):
        with run.locked("x"):
            RunDir(tmp_path).locked("x", timeout=0.1).__enter__()
