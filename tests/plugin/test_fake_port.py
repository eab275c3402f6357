"""A fixed port for the bundled fake (issue 15 item 3): applications that hard-code
``http://localhost:1234`` can use the shared fake, and a taken port is a clear error."""

from __future__ import annotations

import socket

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_app_with_a_hard_coded_port_uses_the_fake(pytester: pytest.Pytester) -> None:
    port = free_port()
    pytester.makepyfile(f"""
        import httpx
        import pytest

        URL = "http://localhost:{port}/v1"  # hard-coded, as many apps do

        @pytest.mark.lmstudio
        def test_app():
            body = {{"model": "qwen/qwen3-4b", "messages": [{{"role": "user", "content": "hi"}}]}}
            r = httpx.post(URL + "/chat/completions", json=body, timeout=30)
            assert r.status_code == 200 and "hi" in r.json()["choices"][0]["message"]["content"]
    """)
    result = pytester.runpytest_subprocess("--lmstudio-mode=fake", f"--lmstudio-fake-port={port}")
    result.assert_outcomes(passed=1)


def test_a_taken_port_is_a_clear_error(pytester: pytest.Pytester) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        pytester.makepyfile("""
            import pytest

            @pytest.mark.lmstudio
            def test_app():
                pass
        """)
        result = pytester.runpytest_subprocess(
            "--lmstudio-mode=fake", f"--lmstudio-fake-port={port}", "--lmstudio-require", "-rs"
        )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*cannot listen on port {port} (--lmstudio-fake-port)*"])
    result.stdout.fnmatch_lines([f"*Stop what is using port {port}*"])


def test_a_port_out_of_range_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("--lmstudio-fake-port=70000")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*fake-port must be a port (1-65535)*"])
