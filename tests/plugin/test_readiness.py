from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fake_lms import FakeLMStudio
from fake_lms.model.identity import LMSTUDIO_VERSION
from pytest_lmstudio import readiness


def test_probe_up_with_version() -> None:
    with FakeLMStudio() as fake:
        found = readiness.probe(fake.url)
    assert found.up and found.version == LMSTUDIO_VERSION


def test_probe_refused_is_fast_and_says_why() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    found = readiness.probe(f"http://127.0.0.1:{port}")
    assert not found.up and "refused" in found.detail.lower()


def test_probe_rejects_a_server_that_is_not_lm_studio(httpserver) -> None:
    httpserver.expect_request("/lmstudio-greeting").respond_with_json({"hello": "world"})
    found = readiness.probe(httpserver.url_for("").rstrip("/"))
    assert not found.up and "not as LM Studio" in found.detail


def test_wait_fails_fast_when_the_process_dies_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("starting\nerror: cannot listen on 127.0.0.1:1234: Address already in use\n")
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(readiness.NotReady) as err:
        readiness.wait_until(
            lambda: readiness.Probe(False, detail="refused"),
            timeout=30,
            what="the fake",
            process=proc,
            log_file=log,
        )
    message = str(err.value)
    assert "the fake exited with code 3 before it was ready" in message
    assert "Address already in use" in message


def test_wait_times_out_with_the_last_reason() -> None:
    with pytest.raises(readiness.NotReady, match=r"not ready after 0s \(refused\)"):
        readiness.wait_until(
            lambda: readiness.Probe(False, detail="refused"), timeout=0.2, what="x", interval=0.05
        )


def test_probe_of_a_trickling_server_ends_at_its_deadline() -> None:
    """The probe's timeout bounds the whole answer, not each read (issue 16): a server trickling
    its greeting one byte per 0.2 s, for 20 s, is given up on after the 1 s timeout."""
    import time

    import _trickle

    proc, url = _trickle.start(interval=0.2, limit=20, probes=True)
    try:
        started = time.monotonic()
        found = readiness.probe(url, timeout=1.0)
        assert time.monotonic() - started < 10  # a generous bound, far below the trickle's 20 s
    finally:
        proc.terminate()
        proc.wait(10)
    assert not found.up and "no whole answer within 1 s" in found.detail
