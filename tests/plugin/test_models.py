"""ModelManager: once-per-run ensure, its ledger, and the reasons it gives when it cannot."""

from __future__ import annotations

import os
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


@pytest.fixture(autouse=True)
def leases_here(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The leases of runs on a local LM Studio (here: the in-process fakes) stay in this test's folder."""
    monkeypatch.setenv("PYTEST_LMSTUDIO_LEASE_DIR", str(tmp_path_factory.mktemp("leases")))


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


def dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def intent_of_a_dead_worker(tmp_path: Path, key: str) -> None:
    """The ledger as an xdist worker leaves it when it is killed while loading ``key``."""
    RunDir(tmp_path).write(
        "models.json",
        {key: {"status": "preparing", "identifier": key, "owner": {"pid": dead_pid(), "worker": "gw0"}}},
    )


def test_the_intent_is_recorded_before_lm_studio_is_asked(tmp_path: Path) -> None:
    seen: list[object] = []
    with FakeLMStudio() as fake:
        # the load is scripted to fail: what was in the ledger while it was under way stays visible
        fake.fail(500, match={"operation": "load"}, optional=True)
        mgr = manager(fake.url, tmp_path / "run")
        (tmp_path / "run").mkdir()
        original = mgr._ensure

        def spy(*args: object) -> object:
            seen.append(RunDir(tmp_path / "run").read("models.json")["google/gemma-3-1b"])
            return original(*args)  # type: ignore[arg-type]

        mgr._ensure = spy  # type: ignore[method-assign]
        with pytest.raises(Unavailable):
            mgr.ensure("google/gemma-3-1b")
    assert seen == [
        {
            "status": "preparing",
            "identifier": "google/gemma-3-1b",
            "owner": {"pid": os.getpid(), "worker": os.environ.get("PYTEST_XDIST_WORKER", "main")},
            "time": pytest.approx(time.time(), abs=60),
        }
    ]


def test_a_dead_worker_s_finished_load_is_adopted(tmp_path: Path) -> None:
    intent_of_a_dead_worker(tmp_path, "google/gemma-3-1b")
    with FakeLMStudio() as fake:
        fake.home.load("google/gemma-3-1b", identifier="google/gemma-3-1b", ttl_seconds=900)  # it finished
        model = manager(fake.url, tmp_path).ensure("google/gemma-3-1b")
        assert (model.identifier, model.loaded_by_run) == ("google/gemma-3-1b", True)
        assert not any(r["path"] == "/api/v1/models/load" for r in fake.request_log())
        assert [i.identifier for i in fake.home.snapshot().instances] == ["google/gemma-3-1b"]
    entry = RunDir(tmp_path).read("models.json")["google/gemma-3-1b"]
    assert entry["status"] == "ready" and entry["resumed_from"]["worker"] == "gw0"


def test_a_dead_worker_s_unfinished_load_is_made_under_its_name(tmp_path: Path) -> None:
    intent_of_a_dead_worker(tmp_path, "google/gemma-3-1b")
    with FakeLMStudio() as fake:
        model = manager(fake.url, tmp_path).ensure("google/gemma-3-1b")
        assert (model.identifier, model.loaded_by_run) == ("google/gemma-3-1b", True)
        assert [i.identifier for i in fake.home.snapshot().instances] == ["google/gemma-3-1b"]


def test_a_load_nobody_finished_is_unloaded_at_the_end(tmp_path: Path) -> None:
    """A worker killed mid-load, and no other test wanted that model: LM Studio finished the load
    after the worker died; the run's end unloads it as the run's."""
    from pytest_lmstudio.models import unload_run_models

    intent_of_a_dead_worker(tmp_path, "google/gemma-3-1b")
    with FakeLMStudio() as fake:
        fake.home.load("google/gemma-3-1b", identifier="google/gemma-3-1b")
        end = unload_run_models(LMStudioServer(fake.url, "live", "test"), Settings(), RunDir(tmp_path))
        assert end.unloaded == ["google/gemma-3-1b"]
        assert fake.home.snapshot().instances == []


def test_a_model_loaded_by_the_user_meanwhile_is_not_the_run_s(tmp_path: Path) -> None:
    """The run's own load loses the race to a load of the same name made meanwhile by someone else:
    the model is ready, and it is not the run's to unload."""
    with FakeLMStudio(load_seconds=0.5) as fake:
        user = threading.Thread(
            target=fake.home.load, args=("google/gemma-3-1b",), kwargs={"identifier": "google/gemma-3-1b"}
        )
        user.start()
        time.sleep(0.1)  # the user's load holds the fake's load lock; the run's listing sees nothing yet
        model = manager(fake.url, tmp_path).ensure("google/gemma-3-1b")
        user.join()
        assert (model.identifier, model.loaded_by_run) == ("google/gemma-3-1b", False)
        loads = [r["status"] for r in fake.request_log() if r["path"] == "/api/v1/models/load"]
        assert loads == [400]  # refused: the name was taken meanwhile (not made google/gemma-3-1b:2)
        assert [i.identifier for i in fake.home.snapshot().instances] == ["google/gemma-3-1b"]


def test_on_another_machine_s_lm_studio_the_run_leaves_its_models_to_the_ttl(tmp_path: Path) -> None:
    from pytest_lmstudio.models import unload_run_models
    from pytest_lmstudio.report import end_of_run_lines

    with FakeLMStudio() as fake:
        manager(fake.url, tmp_path).ensure("google/gemma-3-1b")
    # the same ledger, as if the server were another machine's: no request is made at the end
    remote = LMStudioServer("http://192.0.2.7:1234", "live", "test")
    end = unload_run_models(remote, Settings(), RunDir(tmp_path))
    assert (end.unloaded, end.left_to_ttl) == ([], ["google/gemma-3-1b"])
    assert end_of_run_lines(end, Settings()) == [
        "left to LM Studio's idle TTL (900s), as it is on another machine whose other runs cannot be "
        "seen from here: google/gemma-3-1b"
    ]
