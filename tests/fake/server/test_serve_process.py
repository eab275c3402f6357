"""`python -m fake_lms serve` as a real process (issue 2, item 5)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def start(*args: str, env: dict | None = None) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fake_lms", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline().strip()
    return proc, first


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> int:
    proc.send_signal(sig)
    return proc.wait(timeout=10)


def test_first_line_is_root_url_and_it_answers(tmp_path: Path) -> None:
    proc, url = start("--port", "0", "--home", str(tmp_path / "home"))
    try:
        assert url.startswith("http://127.0.0.1:")
        port = int(url.rsplit(":", 1)[1])
        assert port > 0
        # it accepts requests as soon as the line is printed
        assert httpx.get(url + "/lmstudio-greeting").json() == {"lmstudio": True}
        config = json.loads((tmp_path / "home/.internal/http-server-config.json").read_text())
        assert config == {"port": port, "networkInterface": "127.0.0.1", "cors": False}
        pid_info = json.loads((tmp_path / "home/.internal/fake-server.json").read_text())
        assert pid_info["pid"] == proc.pid and pid_info["url"] == url
    finally:
        assert stop(proc) == 0
    assert not (tmp_path / "home/.internal/fake-server.json").exists()
    # downloaded models persist in the home
    assert (tmp_path / "home/models/qwen/qwen3-4b/qwen3-4b-Q4_K_M.gguf").exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/lmstudio-greeting")


def test_sigint_stops_it_too(tmp_path: Path) -> None:
    proc, url = start("--port", "0", "--home", str(tmp_path))
    assert url
    assert stop(proc, signal.SIGINT) == 0


def test_default_home_is_temporary_and_removed(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc, _ = start("--port", "0", env=env)
    homes = list(tmp_path.glob("fake-lmstudio-*"))
    assert len(homes) == 1 and (homes[0] / ".internal/fake-state.json").exists()
    assert stop(proc) == 0
    assert not homes[0].exists()


def test_settings_flags_and_custom_catalog(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(
        '[[models]]\nkey = "acme/tiny-1b"\narchitecture = "llama"\nsize_bytes = 1000\n\n'
        '[[models]]\nkey = "acme/embed"\ntype = "embedding"\nembedding_dimensions = 8\n'
    )
    proc, url = start("--port", "0", "--home", str(tmp_path / "h"), "--catalog", str(catalog), "--no-jit")
    try:
        assert httpx.get(url + "/v1/models").json() == {"data": [], "object": "list"}
    finally:
        stop(proc)
    proc, url = start("--port", "0", "--home", str(tmp_path / "h"), "--jit")
    try:
        ids = [m["id"] for m in httpx.get(url + "/v1/models").json()["data"]]
        assert ids == ["acme/tiny-1b", "acme/embed"]  # the home remembers its catalog
        r = httpx.post(url + "/v1/embeddings", json={"model": "acme/embed", "input": "x"})
        assert len(r.json()["data"][0]["embedding"]) == 8
    finally:
        stop(proc)


def test_lmstudio_version_is_reported_everywhere(tmp_path: Path) -> None:
    """Fidelity review row 2: `package` is "lmstudio"; the version is the one asked for, also in
    what the fake `lms daemon` reads from the same home."""
    home = tmp_path / "h"
    proc, url = start("--port", "0", "--home", str(home), "--lmstudio-version", "0.4.26+1")
    try:
        assert httpx.get(url + "/lms-status").json() == {"package": "lmstudio", "version": "0.4.26+1"}
        daemon = subprocess.run(
            [sys.executable, "-m", "fake_lms", "daemon", "status", "--json"],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "LMS_FAKE_HOME": str(home)},
        )
        assert json.loads(daemon.stdout)["status"] == "running"
        up = subprocess.run(
            [sys.executable, "-m", "fake_lms", "daemon", "up", "--json"],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "LMS_FAKE_HOME": str(home)},
        )
        assert json.loads(up.stdout)["version"] == "0.4.26+1"
    finally:
        stop(proc)
    bad = subprocess.run(
        [sys.executable, "-m", "fake_lms", "serve", "--port", "0", "--lmstudio-version", "newest"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode == 2 and "lmstudio_version must look like 0.4.24+1" in bad.stderr


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "fake_lms", "serve", "--port", str(port), "--home", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr


def test_real_lmstudio_home_is_refused(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "fake_lms", "serve", "--port", "0", "--home", str(tmp_path / ".lmstudio")],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert proc.returncode == 1
    assert "real LM Studio home" in proc.stderr
    assert not (tmp_path / ".lmstudio").exists()


def test_bad_catalog_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "c.json"
    bad.write_text(json.dumps([{"key": "x", "colour": "red"}]))
    proc = subprocess.run(
        [sys.executable, "-m", "fake_lms", "serve", "--port", "0", "--catalog", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert "unknown field(s) colour" in proc.stderr


def test_starts_quickly(tmp_path: Path) -> None:
    t0 = time.monotonic()
    proc, url = start("--port", "0", "--home", str(tmp_path))
    elapsed = time.monotonic() - t0
    stop(proc)
    assert url and elapsed < 10  # generous: only guards against hangs; speed lives in benchmarks/
