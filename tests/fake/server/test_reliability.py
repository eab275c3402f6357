"""Reliability (issue 16): every error a client can cause is a 4xx in LM Studio's JSON shape, input
never meets memory without a bound, and a request that fails changes nothing. Each test starts
from a reproducer a user could type."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import httpx
import pytest

from fake_lms import FakeLMStudio
from fake_lms.model.home import Home

LLM = "qwen/qwen3-4b"


def raw_exchange(fake: FakeLMStudio, data: bytes, *, half_close: bool = True, timeout: float = 10) -> bytes:
    """Send ``data`` on a new connection (then end our side) and read until the server closes."""
    with socket.create_connection(("127.0.0.1", fake.port), timeout=timeout) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def status_and_body(response: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def healthy(fake: FakeLMStudio) -> None:
    r = httpx.post(
        fake.base_url + "/chat/completions",
        json={"model": LLM, "messages": [{"role": "user", "content": "ok?"}]},
    )
    assert r.status_code == 200, r.text
    assert httpx.get(fake.url + "/api/v1/models").status_code == 200


def test_an_oversized_chunk_size_is_read_only_up_to_the_body_limit(tmp_path) -> None:
    """The 130-byte reproducer made the server read without bound (23.5 GB before the kernel
    killed it). The body limit applies to chunked bodies too."""
    with FakeLMStudio(home=tmp_path / "home", max_body_bytes=4096) as fake:
        reply = raw_exchange(
            fake,
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"fffffffffffffffff\r\n" + b"x" * 10000,
        )
        status, headers, body = status_and_body(reply)
        assert status == 413
        assert "server" not in headers and headers["connection"] == "close"
        assert json.loads(body)["error"]["message"].startswith("Request body too large")
        healthy(fake)


@pytest.mark.parametrize("size", [1025, 5000])
def test_a_content_length_over_the_limit_is_refused(tmp_path, size: int) -> None:
    with FakeLMStudio(home=tmp_path / "home", max_body_bytes=1024) as fake:
        r = httpx.post(fake.base_url + "/chat/completions", content=b"{" + b" " * (size - 2) + b"}")
        assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
        healthy(fake)


def test_a_body_at_the_limit_is_read(tmp_path) -> None:
    with FakeLMStudio(home=tmp_path / "home", max_body_bytes=1024) as fake:
        body = json.dumps({"model": LLM, "messages": [{"role": "user", "content": "hi"}]}).encode()
        r = httpx.post(fake.base_url + "/chat/completions", content=body + b" " * (1024 - len(body)))
        assert r.status_code == 200


def test_malformed_chunked_framing_is_a_400_in_json(fake: FakeLMStudio) -> None:
    reply = raw_exchange(
        fake,
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\nx\r\n0\r\n\r\n",
    )
    status, headers, body = status_and_body(reply)
    assert status == 400
    assert json.loads(body)["error"]["code"] == "invalid_body"
    assert "server" not in headers
    healthy(fake)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/9.9\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\n" + b"".join(b"X%d: y\r\n" % i for i in range(120)) + b"\r\n", 431),
    ],
)
def test_requests_the_parser_refuses_get_nodes_answer_not_an_html_page(
    fake: FakeLMStudio, request_bytes: bytes, status: int
) -> None:
    got, headers, body = status_and_body(raw_exchange(fake, request_bytes))
    assert got == status
    assert "server" not in headers and b"<html" not in body.lower() and body == b""
    healthy(fake)


def test_configure_checks_every_value_before_saving(fake: FakeLMStudio) -> None:
    for bad in ({"require_auth": "false"}, {"load_seconds": "abc"}, {"load_seconds_per_gb": "9"}, {"jit": 1}):
        r = httpx.post(fake.url + "/__fake__/configure", json=bad)
        assert r.status_code == 400, bad
        assert next(iter(bad)) in r.json()["error"]
    r = httpx.post(fake.url + "/__fake__/configure", json={"load_seconds": 0.01, "cors": "yes"})
    assert r.status_code == 400
    assert fake.settings.load_seconds == 0.0  # all or nothing: the valid half was not saved either
    assert not fake.settings.require_auth
    healthy(fake)


def test_a_bad_value_already_in_a_home_falls_back_to_the_default(tmp_path) -> None:
    """A home written by hand (or by an older fake) with a bad setting still serves."""
    home = Home(tmp_path / "home")
    data = json.loads(home.state_file.read_text())
    data["settings"].update(require_auth="false", load_seconds="abc")
    home.state_file.write_text(json.dumps(data))
    with FakeLMStudio(home=tmp_path / "home") as fake:
        assert fake.settings.require_auth is False and fake.settings.load_seconds == 0.0
        healthy(fake)


def test_a_lone_surrogate_is_refused_and_changes_nothing(fake: FakeLMStudio) -> None:
    body = b'{"model": "' + LLM.encode() + b'", "identifier": "x\\ud800"}'
    r = httpx.post(
        fake.url + "/api/v1/models/load", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and "surrogate" in r.json()["error"]["message"]
    assert not any("x" in i.identifier for i in fake.home.instances())
    assert httpx.get(fake.url + "/api/v1/models").status_code == 200
    requests = httpx.get(fake.url + "/__fake__/requests")
    assert requests.status_code == 200 and len(requests.json()["requests"]) >= 1
    healthy(fake)


def test_a_surrogate_pair_is_a_character(fake: FakeLMStudio) -> None:
    body = b'{"model": "' + LLM.encode() + b'", "messages": [{"role": "user", "content": "\\ud83d\\ude00"}]}'
    r = httpx.post(
        fake.base_url + "/chat/completions", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 200 and "\U0001f600" in r.json()["choices"][0]["message"]["content"]


def test_kept_handler_errors_are_bounded(fake: FakeLMStudio) -> None:
    for i in range(50):
        fake.app.handler_errors.append(RuntimeError(f"error {i}"))
    assert len(fake.app.handler_errors) == 20 and fake.app.handler_errors.dropped == 30
    assert str(fake.app.handler_errors[0]) == "error 30"  # the oldest dropped
    fake.app.handler_errors.clear()


def test_schema_output_is_bounded_by_max_tokens_and_the_context(fake: FakeLMStudio) -> None:
    """A 221-byte request asked for 100 MB; ``minItems: 1e9`` ran for minutes."""
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "x", "schema": {"type": "string", "minLength": 100000000}},
    }
    started = time.monotonic()
    r = httpx.post(
        fake.base_url + "/chat/completions",
        json={
            "model": LLM,
            "max_tokens": 20,
            "response_format": fmt,
            "messages": [{"role": "user", "content": "x"}],
        },
    )
    assert r.status_code == 200 and len(r.content) < 10_000
    huge = {"type": "array", "minItems": 10**9, "items": {"type": "integer"}}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": huge}}
    r = httpx.post(
        fake.base_url + "/chat/completions",
        json={"model": LLM, "response_format": fmt, "messages": [{"role": "user", "content": "x"}]},
        timeout=30,
    )
    assert r.status_code == 200 and len(r.content) < 200_000
    assert time.monotonic() - started < 20  # minutes before; well under a second here


def test_a_tool_call_cut_by_max_tokens_is_unparsed_text(fake: FakeLMStudio) -> None:
    """3 tokens asked, 75 given: the arguments ignored max_tokens. A model cut mid-call leaves no
    call LM Studio can parse: the text it wrote, ``finish_reason: "length"`` (docs/fidelity.md)."""
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
    r = httpx.post(
        fake.base_url + "/chat/completions",
        json={
            "model": LLM,
            "max_tokens": 3,
            "tools": [tool],
            "tool_choice": "required",
            "messages": [{"role": "user", "content": "weather in Paris"}],
        },
    ).json()
    choice = r["choices"][0]
    assert choice["finish_reason"] == "length" and choice["message"]["tool_calls"] == []
    assert r["usage"]["completion_tokens"] == 3


def test_n_above_one_returns_one_choice_as_lm_studio_does(fake: FakeLMStudio) -> None:
    """LM Studio answers one choice whatever ``n`` asks (fidelity-review.md §4.12; docs/fidelity.md)."""
    r = httpx.post(
        fake.base_url + "/chat/completions",
        json={"model": LLM, "n": 3, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r.status_code == 200 and len(r.json()["choices"]) == 1


def serve(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m fake_lms serve`` on a new home, expected to refuse ``args`` and exit."""
    command = [sys.executable, "-m", "fake_lms", "serve", "--port", "0", "--home", str(tmp_path / "h"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("token", ["lm-studio", "sk-lm-short:abc"])
def test_serve_refuses_a_malformed_api_token_at_start_up(tmp_path, token: str) -> None:
    proc = serve(tmp_path, "--api-token", token)
    assert proc.returncode == 2
    assert "--api-token must look like sk-lm-" in proc.stderr and token not in proc.stderr


def test_serve_refuses_a_bad_setting_at_start_up(tmp_path) -> None:
    proc = serve(tmp_path, "--load-seconds", "-1")
    assert proc.returncode == 2 and "load_seconds must be between" in proc.stderr


@pytest.mark.parametrize("host", ["evil.example", "evil.example:1234", "127.0.0.1.nip.io"])
def test_the_control_api_refuses_a_host_that_is_not_loopback(fake: FakeLMStudio, host: str) -> None:
    """A page on another name that resolves to 127.0.0.1 (DNS rebinding) sends its own Host."""
    r = httpx.post(fake.url + "/__fake__/configure", json={"jit": False}, headers={"Host": host})
    assert r.status_code == 403 and "loopback Host" in r.json()["error"]
    assert fake.settings.jit is True


@pytest.mark.parametrize("host", ["localhost", "localhost:1234", "127.0.0.1", "[::1]:99"])
def test_the_control_api_answers_loopback_hosts(fake: FakeLMStudio, host: str) -> None:
    assert httpx.get(fake.url + "/__fake__/requests", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize(
    "damage", [b'{"version": 1, "settings": {', b"[]", b'{"instances": [{"x": 1}]}', b""]
)
def test_an_unreadable_state_file_is_set_aside_and_rebuilt(tmp_path, capsys, damage: bytes) -> None:
    """A truncated state file gave a raw traceback and exit 1: now the fake says which file, keeps
    it beside, and starts from the catalog (nothing loaded), so a rerun with the same home works."""
    home = Home(tmp_path / "home")
    home.state_file.write_bytes(damage)
    with FakeLMStudio(home=tmp_path / "home") as fake:
        healthy(fake)
    err = capsys.readouterr().err
    assert str(home.state_file) in err and "rebuilt from the catalog" in err
    assert list(home.internal.glob("fake-state.json.unreadable-*"))


def test_serve_starts_on_a_home_with_a_truncated_state_file(tmp_path) -> None:
    home = Home(tmp_path / "home")
    home.state_file.write_text('{"version": 1, "sett')
    proc = subprocess.Popen(
        [sys.executable, "-m", "fake_lms", "serve", "--port", "0", "--home", str(tmp_path / "home")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()  # serve prints its URL when it is ready
        assert httpx.get(url + "/api/v1/models", timeout=10).status_code == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "could not be read" in err and "Traceback" not in err


def test_a_corrupt_catalog_copy_is_replaced_by_the_default(tmp_path, capsys) -> None:
    home = Home(tmp_path / "home")
    home.catalog_file.write_text("{not json")
    with FakeLMStudio(home=tmp_path / "home") as fake:
        healthy(fake)
        assert httpx.get(fake.base_url + "/models").json()["data"]
    assert "default catalog was written" in capsys.readouterr().err


def test_a_slow_load_does_not_hold_the_home(tmp_path) -> None:
    """The simulated load time used to pass under the home's state lock: every listing, `lms ps`
    and request waited for it. Loads are still one at a time (LM Studio loads serially), but the
    home answers meanwhile."""
    import threading

    with FakeLMStudio(home=tmp_path / "home", load_seconds=1.5) as fake:
        results: list[float] = []

        def load(model: str) -> None:
            started = time.monotonic()
            r = httpx.post(fake.url + "/api/v1/models/load", json={"model": model}, timeout=30)
            assert r.status_code == 200
            results.append(time.monotonic() - started)

        first = threading.Thread(target=load, args=(LLM,))
        first.start()
        time.sleep(0.3)  # the first load is under way
        started = time.monotonic()
        assert httpx.get(fake.url + "/api/v1/models", timeout=30).status_code == 200
        assert fake.home.instances() == []  # not loaded yet: it is still "loading"
        assert time.monotonic() - started < 0.8  # not the 1.2 s the load still has to go
        second = threading.Thread(target=load, args=("google/gemma-3-1b",))
        second.start()
        first.join()
        second.join()
        assert sorted(results)[1] > 2.5  # the second load waited for the first: loads are serial
        assert len(fake.home.instances()) == 2
