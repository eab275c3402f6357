"""Several processes (fake ``lms`` style, through ``fake_lms.model.home.Home``) and the server change one
home at the same time: nothing is lost, duplicated or corrupted."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from _waiting import wait_for

from fake_lms import FakeLMStudio

QWEN = "qwen/qwen3-4b"
GEMMA = "google/gemma-3-1b"
ROUNDS = 15

WORKER = """
import sys, time
from pathlib import Path
from fake_lms.model.home import Home

home_dir, tag, rounds, download, go = sys.argv[1:6]
rounds, go = int(rounds), Path(go)
home = Home(home_dir)
while not go.exists():
    time.sleep(0.005)
for i in range(rounds):
    home.load("google/gemma-3-1b", identifier=f"{tag}-{i}")
    home.load("qwen/qwen3-4b")
    if i == rounds // 2:
        home.mark_downloaded(download)
"""


def strict_json(path: Path) -> dict:
    def reject(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=reject)


def test_two_processes_and_the_server_share_one_home(tmp_path):
    home_dir = tmp_path / "home"
    go = tmp_path / "go"
    with FakeLMStudio(home=home_dir, download_seconds=0.1) as fake:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(home_dir), tag, str(ROUNDS), download, str(go)],
                stderr=subprocess.PIPE,
                text=True,
            )
            for tag, download in (("a", "openai/gpt-oss-20b"), ("b", "qwen/qwen2.5-vl-7b"))
        ]
        server_ids: list[str] = []

        def server_loads() -> None:
            with httpx.Client(base_url=fake.url, timeout=30, verify=False) as client:
                while not go.exists():
                    time.sleep(0.005)
                job = client.post(
                    "/api/v1/models/download", json={"model": "text-embedding-qwen3-embedding-0.6b"}
                )
                assert job.status_code == 200
                for _ in range(ROUNDS):
                    body = client.post("/api/v1/models/load", json={"model": QWEN}).json()
                    server_ids.append(body["instance_id"])
                    assert client.get("/api/v1/models").status_code == 200

        thread = threading.Thread(target=server_loads)
        thread.start()
        time.sleep(0.3)  # let the workers import and wait at the start line
        go.touch()
        for proc in procs:
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
        thread.join(timeout=60)
        # the server's download
        assert wait_for(lambda: fake.home.is_downloaded("text-embedding-qwen3-embedding-0.6b"), timeout=10)

        state = strict_json(fake.home.state_file)
        ids = [inst["identifier"] for inst in state["instances"]]
        assert len(ids) == len(set(ids)), "an instance identifier appears twice"
        qwen_ids = sorted(i for i in ids if i.startswith(QWEN))
        expected_qwen = [QWEN] + [f"{QWEN}:{n}" for n in range(2, 3 * ROUNDS + 1)]
        assert qwen_ids == sorted(expected_qwen)
        assert set(server_ids) <= set(qwen_ids) and len(server_ids) == ROUNDS
        gemma_ids = {i for i in ids if not i.startswith(QWEN)}
        assert gemma_ids == {f"{tag}-{i}" for tag in "ab" for i in range(ROUNDS)}
        assert len(ids) == 5 * ROUNDS
        for key in ("openai/gpt-oss-20b", "qwen/qwen2.5-vl-7b", "text-embedding-qwen3-embedding-0.6b"):
            assert key in state["downloaded"], key
        # every listing sees the same, complete state
        with httpx.Client(base_url=fake.url, verify=False) as client:
            listed = {m["key"]: m for m in client.get("/api/v1/models").json()["models"]}
            assert sorted(i["id"] for i in listed[QWEN]["loaded_instances"]) == sorted(expected_qwen)
            assert len(listed[GEMMA]["loaded_instances"]) == 2 * ROUNDS
            assert "qwen/qwen2.5-vl-7b" in [m["id"] for m in client.get("/v1/models").json()["data"]]
        strict_json(fake.home.catalog_file)
