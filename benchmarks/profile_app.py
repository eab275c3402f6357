"""Where a fake LM Studio request spends its time, without sockets: the WSGI layer in-process.

    python benchmarks/profile_app.py [--calls N] [--top N] [--stream]

Calls the fake's WSGI application (``FakeLMStudio``: pytest-httpserver dispatch + the LM Studio
logic) and the bare engine's (``bare_engine_server.BareEngine``: pytest-httpserver answering canned
bytes) with the request the openai client sends for a chat completion, prints microseconds per
request for both, then a cProfile of the fake's (sorted by own time and by cumulative time). The
socket side (header parsing, ``make_environ``, sending) is not included: ``bench_server.py``
measures the whole.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import tempfile
import time
from typing import Any

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_server
from bare_engine_server import BareEngine, configure

from fake_lms.server.fake import FakeLMStudio

OPENAI_HEADERS = {
    "Accept-Encoding": "gzip, deflate",
    "Connection": "keep-alive",
    "Accept": "application/json",
    "Content-Type": "application/json",
    "User-Agent": "OpenAI/Python 1.0",
    "X-Stainless-Lang": "python",
    "X-Stainless-Package-Version": "1.0",
    "X-Stainless-OS": "Linux",
    "X-Stainless-Arch": "x64",
    "X-Stainless-Runtime": "CPython",
    "X-Stainless-Runtime-Version": "3.11.7",
    "Authorization": "Bearer lm-studio",
    "X-Stainless-Async": "false",
    "x-stainless-retry-count": "0",
    "x-stainless-read-timeout": "30",
}


def environ_factory(workload: str) -> Any:
    body = json.dumps(bench_server.request_body(workload)).encode()
    headers = {**OPENAI_HEADERS, "X-Bench-Workload": workload}
    base = EnvironBuilder(
        path="/v1/chat/completions",
        method="POST",
        data=body,
        headers=headers,
        base_url="http://127.0.0.1:1234",
    ).get_environ()

    def make() -> dict[str, Any]:
        environ = dict(base)
        environ["wsgi.input"] = io.BytesIO(body)
        return environ

    return make


def caller(server: Any, make_environ: Any) -> Any:
    app = Request.application(server.application)

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        return None

    def call() -> None:
        app_iter = app(make_environ(), start_response)
        for _ in app_iter:
            pass
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()

    return call


def per_call(call: Any, n: int, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            call()
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per timing pass (default 2000)")
    parser.add_argument("--top", type=int, default=30, help="profile lines to show (default 30)")
    parser.add_argument("--stream", action="store_true", help="the 50-chunk stream instead of a plain call")
    args = parser.parse_args()
    workload = "stream" if args.stream else "plain"
    make = environ_factory(workload)
    # the fake is stopped (its request log closed) before its home's directory is removed
    with (
        tempfile.TemporaryDirectory(prefix="profile-fake-lms-") as tmp,
        FakeLMStudio(home=os.path.join(tmp, "home"), log_limit=1000, httpserver_log=False) as fake,
    ):
        fake_call = caller(fake, make)
        fake_call()  # JIT-loads the model
        # the canned answer, as bench_server.py captures it (no sockets: from the WSGI app itself)
        out: list[bytes] = []
        captured: dict[str, Any] = {}

        def keep(status: str, headers: Any, exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers

        app_iter = Request.application(fake.application)(make(), keep)
        out.extend(app_iter)
        headers = [[k, v] for k, v in captured["headers"] if k.lower() != "content-length"]
        text = b"".join(out).decode()
        canned = {
            "plain": {"status": captured["status"], "headers": headers, "body": text},
            "stream": {
                "status": captured["status"],
                "headers": headers,
                "frames": [f + "\n\n" for f in text.split("\n\n") if f],
            },
        }
        bare = BareEngine("127.0.0.1", 0)
        configure(bare, canned)
        bare_call = caller(bare, make)
        fake_us = per_call(fake_call, args.calls)
        bare_us = per_call(bare_call, args.calls)
        print(f"{workload}: fake {fake_us:.1f} us/request, bare engine {bare_us:.1f} us/request (WSGI only)")
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.calls):
            fake_call()
        profile.disable()
        for key in ("tottime", "cumulative"):
            print(f"\n--- fake, {args.calls} calls, sorted by {key} (cProfile inflates small functions)")
            pstats.Stats(profile).sort_stats(key).print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
