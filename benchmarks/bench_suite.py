"""What a whole test suite pays per test, by how it gets its LM Studio.

Generates suites of N tests (default 1,000), each making one chat completion, and runs each with
pytest, serially and with ``-n 2``, the variants interleaved and repeated so machine noise hits all
alike:

- ``openai``: ``--lmstudio-mode=fake`` and the ``lmstudio_openai`` fixture (the shared fake process);
- ``fake``: the in-process ``lmstudio_fake`` fixture with a scripted reply, called with one
  session-shared httpx client;
- ``ideal``: a canned pytest-httpserver answer called with one session-shared httpx client (no
  LM Studio semantics at all: the floor this plugin is measured against);
- ``oa-ideal``: the canned pytest-httpserver answer through one session-shared ``openai.OpenAI``
  client (what the ``openai`` package itself costs per call, with no fixture and no fake);
- ``respx``: the same canned answer from a respx mock of httpx (when respx is installed).

"ms/test" is pytest's own session time (collection, fixtures, the calls, the fake's start) divided
by N; interpreter start-up, the same for every variant, is left out. Ratios are to ``ideal``.

Then a concurrency table: 1, 2, 4 and 8 client processes (the ``openai`` client, or with
``--client-kind raw`` bare ``http.client``), each on its own keep-alive connection, send plain chat
completions to ``python -m fake_lms serve``, to ``benchmarks/floor_server.py`` (the standard
library's threading server answering the fake's bytes canned) and to
``benchmarks/bare_engine_server.py`` (pytest-httpserver answering them canned on the fake's own
server stack), interleaved and repeated; it prints requests/s and p99 latency of the fake and the
floor and their ratios (fake/floor), and the bare engine's requests/s over the floor's: how much
of the gap is the server stack and how much the LM Studio logic.
Usage: python benchmarks/bench_suite.py [--tests N] [--repeats R] [--no-xdist] [--only openai,fake]
       [--clients 1,2,4,8] [--requests-per-client N] [--client-kind openai|raw] [--no-concurrency]
       [--no-suites]
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import math
import multiprocessing
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_server  # noqa: E402  (a sibling script: how to start servers and capture the fake's bytes)

MODEL = "google/gemma-3-1b"  # does not reason: every token of the workload is content
CANNED = json.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": MODEL,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "pong"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
)
BODY = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "ping"}]})
SHARED_CLIENT = "import json\n\nimport httpx\n\nHTTP = httpx.Client(trust_env=False)\n"
HEADERS = {
    "openai": "",
    "fake": SHARED_CLIENT,
    "ideal": SHARED_CLIENT + f"CANNED = json.loads({CANNED!r})\n",
    "respx": "import respx\n" + SHARED_CLIENT + f"CANNED = json.loads({CANNED!r})\n",
    "oa-ideal": "import json\n\nimport openai\n\nOA = None\n" + f"CANNED = json.loads({CANNED!r})\n",
}
BODIES = {
    "openai": """
def test_{i}(lmstudio_openai):
    reply = lmstudio_openai.chat.completions.create(
        model="{model}", messages=[{{"role": "user", "content": "ping"}}], max_tokens=4
    )
    assert reply.choices[0].message.content
""",
    "fake": """
def test_{i}(lmstudio_fake):
    lmstudio_fake.reply("pong")
    answer = HTTP.post(lmstudio_fake.base_url + "/chat/completions", content={body!r},
                       headers={{"Content-Type": "application/json"}})
    assert answer.json()["choices"][0]["message"]["content"] == "pong"
""",
    "ideal": """
def test_{i}(httpserver):
    httpserver.expect_request("/v1/chat/completions", method="POST").respond_with_json(CANNED)
    answer = HTTP.post(httpserver.url_for("/v1/chat/completions"), content={body!r},
                       headers={{"Content-Type": "application/json"}})
    assert answer.json()["choices"][0]["message"]["content"] == "pong"
""",
    "respx": """
def test_{i}():
    with respx.mock(assert_all_called=True) as mock:
        mock.post("http://lmstudio.test/v1/chat/completions").respond(json=CANNED)
        answer = HTTP.post("http://lmstudio.test/v1/chat/completions", content={body!r},
                           headers={{"Content-Type": "application/json"}})
    assert answer.json()["choices"][0]["message"]["content"] == "pong"
""",
    "oa-ideal": """
def test_{i}(httpserver):
    global OA
    if OA is None:
        OA = openai.OpenAI(base_url=httpserver.url_for("/v1"), api_key="x",
                           http_client=openai.DefaultHttpxClient(trust_env=False))
    httpserver.expect_request("/v1/chat/completions", method="POST").respond_with_json(CANNED)
    reply = OA.chat.completions.create(
        model="{model}", messages=[{{"role": "user", "content": "ping"}}], max_tokens=4
    )
    assert reply.choices[0].message.content == "pong"
""",
}
EXTRA_ARGS = {"openai": ["--lmstudio-mode=fake"]}
DURATION = re.compile(r" in ([0-9.]+)s")


def write_suite(directory: Path, variant: str, tests: int) -> None:
    directory.mkdir(parents=True)
    (directory / "pytest.ini").write_text("[pytest]\n")
    body = "".join(BODIES[variant].format(i=i, model=MODEL, body=BODY) for i in range(tests))
    (directory / "test_suite.py").write_text(HEADERS[variant] + body)


def run_suite(directory: Path, variant: str, tests: int, workers: int) -> float:
    """pytest's session seconds for the suite (it must pass)."""
    xdist = ["-n", str(workers)] if workers else ["-p", "no:xdist"]
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *xdist]
    command += EXTRA_ARGS.get(variant, [])
    result = subprocess.run(command, cwd=directory, capture_output=True, text=True, check=False)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    if result.returncode != 0 or f"{tests} passed" not in summary:
        output = result.stdout[-3000:] + result.stderr[-2000:]
        raise SystemExit(f"{variant} suite failed ({' '.join(command)}):\n{output}")
    match = DURATION.search(summary)
    assert match, summary
    return float(match.group(1))


# ----------------------------------------------------------------------------------------------
# concurrency: N client processes against the fake and against the floor


def _client(url: str, kind: str, requests: int, ready: Any, go: Any, out: Any) -> None:
    """One client process on its own keep-alive connection: the ``openai`` client (``kind``
    "openai", what tests use) or a bare ``http.client`` connection ("raw": the least client work,
    so the server's own cost shows). A few warm-up calls, then ``requests`` timed plain chat
    completions once every client is ready; sends back its latencies (seconds)."""
    if kind == "openai":
        import openai

        client = openai.OpenAI(
            base_url=url + "/v1",
            api_key="lm-studio",
            max_retries=0,
            timeout=60,
            default_headers={"X-Bench-Workload": "plain"},  # the bare engine answers by it
        )
        messages = [{"role": "user", "content": bench_server.PLAIN_PROMPT}]

        def call() -> None:
            reply = client.chat.completions.create(model=bench_server.MODEL, messages=messages)
            if not reply.choices[0].message.content:
                raise RuntimeError(f"{url}: an empty reply")

    else:
        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        body = json.dumps(bench_server.request_body("plain")).encode()
        headers = {"Content-Type": "application/json", "X-Bench-Workload": "plain"}

        def call() -> None:
            conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{url} answered {response.status}")

    for _ in range(5):
        call()
    ready.wait()
    go.wait()
    latencies = []
    for _ in range(requests):
        started = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - started)
    out.put(latencies)


def load_run(url: str, kind: str, clients: int, requests: int) -> tuple[float, float]:
    """Requests per second and p99 latency (ms) of ``clients`` processes sending ``requests`` each."""
    context = multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn")
    ready, go, out = context.Barrier(clients + 1), context.Event(), context.Queue()
    procs = [
        context.Process(target=_client, args=(url, kind, requests, ready, go, out)) for _ in range(clients)
    ]
    for proc in procs:
        proc.start()
    ready.wait(timeout=60)
    started = time.perf_counter()
    go.set()
    latencies: list[float] = []
    for _ in procs:
        latencies.extend(out.get(timeout=300))
    elapsed = time.perf_counter() - started
    for proc in procs:
        proc.join(timeout=30)
    ordered = sorted(latencies)
    return len(latencies) / elapsed, ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)] * 1000


def concurrency(
    client_counts: list[int], kind: str, requests: int, repeats: int
) -> dict[int, dict[str, Any]]:
    """The fake, the floor and the bare engine (pytest-httpserver answering the fake's bytes
    canned on the fake's own server stack: what the LM Studio logic is measured against) under
    1..N concurrent clients, interleaved; medians over repeats."""
    results: dict[int, dict[str, list[tuple[float, float]]]] = {
        n: {"fake": [], "floor": [], "bare": []} for n in client_counts
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        servers: dict[str, bench_server.Server] = {}
        try:
            fake_argv = [sys.executable, "-m", "fake_lms", "serve", "--port", "0"]
            servers["fake"] = bench_server.start_server(
                "fake", [*fake_argv, "--home", str(workdir / "home")], workdir
            )
            canned = workdir / "canned.json"
            canned.write_text(json.dumps(bench_server.capture(servers["fake"].url)), encoding="utf-8")
            floor_argv = [sys.executable, str(HERE / "floor_server.py"), "--canned", str(canned)]
            servers["floor"] = bench_server.start_server("floor", floor_argv, workdir)
            bare_argv = [sys.executable, str(HERE / "bare_engine_server.py"), "--canned", str(canned)]
            servers["bare"] = bench_server.start_server("bare", bare_argv, workdir)
            names = ["fake", "floor", "bare"]
            for repeat in range(repeats):
                for n in client_counts:
                    shift = (repeat + n) % len(names)
                    order = names[shift:] + names[:shift]
                    for name in order:
                        results[n][name].append(load_run(servers[name].url, kind, n, requests))
        finally:
            for server in servers.values():
                server.stop()
    table: dict[int, dict[str, Any]] = {}
    for n, runs in results.items():
        row: dict[str, Any] = {}
        for name, values in runs.items():
            row[name] = {
                "rps": statistics.median(v[0] for v in values),
                "p99_ms": statistics.median(v[1] for v in values),
            }
        row["rps_ratio"] = row["fake"]["rps"] / row["floor"]["rps"]
        row["p99_ratio"] = row["fake"]["p99_ms"] / row["floor"]["p99_ms"]
        row["bare_rps_ratio"] = row["bare"]["rps"] / row["floor"]["rps"]
        table[n] = row
    return table


def print_concurrency(table: dict[int, dict[str, Any]], kind: str, requests: int, repeats: int) -> None:
    print()
    print(
        f"concurrency ({kind} clients, one process each): plain chat completions, {requests} per client, "
        f"{repeats} runs each, medians"
    )
    print(
        f"{'clients':>7} {'floor req/s':>12} {'fake req/s':>11} {'/floor':>7} "
        f"{'floor p99':>10} {'fake p99':>9} {'/floor':>7} {'bare req/s':>11} {'/floor':>7}"
    )
    print("-" * 90)
    for n, row in table.items():
        print(
            f"{n:>7} {row['floor']['rps']:>12.0f} {row['fake']['rps']:>11.0f} {row['rps_ratio']:>6.2f}x "
            f"{row['floor']['p99_ms']:>8.2f}ms {row['fake']['p99_ms']:>7.2f}ms {row['p99_ratio']:>6.2f}x "
            f"{row['bare']['rps']:>11.0f} {row['bare_rps_ratio']:>6.2f}x"
        )
    top = table[max(table)]
    rps_ok, p99_ok = top["rps_ratio"] >= 0.9, top["p99_ratio"] <= 1.3
    print(
        f"at {max(table)} clients: throughput {top['rps_ratio']:.2f}x the floor's (target >= 0.9x: "
        f"{'PASS' if rps_ok else 'MISS'}), p99 {top['p99_ratio']:.2f}x (target <= 1.3x: "
        f"{'PASS' if p99_ok else 'MISS'}); the bare engine (pytest-httpserver, no LM Studio logic) "
        f"{top['bare_rps_ratio']:.2f}x"
    )


# ----------------------------------------------------------------------------------------------


def suites(args: argparse.Namespace) -> None:
    variants = ["ideal", "openai", "fake", "oa-ideal"]
    variants += ["respx"] if importlib.util.find_spec("respx") else []
    if args.only:
        variants = ["ideal", *(v for v in variants if v != "ideal" and v in args.only.split(","))]
    modes = [0] if args.no_xdist else [0, 2]
    times: dict[tuple[str, int], list[float]] = {(v, m): [] for v in variants for m in modes}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in variants:
            write_suite(Path(tmp, variant), variant, args.tests)
        for repeat in range(args.repeats):
            order = variants[repeat % len(variants) :] + variants[: repeat % len(variants)]  # rotate
            for mode in modes:
                for variant in order:
                    times[variant, mode].append(run_suite(Path(tmp, variant), variant, args.tests, mode))
    print(f"{args.tests} tests per suite, {args.repeats} runs each, median of pytest's session time")
    print(f"{'variant':<8} {'mode':<7} {'ms/test':>8} {'/ideal':>7}  runs (s)")
    print("-" * 60)
    for mode in modes:
        ideal = statistics.median(times["ideal", mode])
        for variant in variants:
            median = statistics.median(times[variant, mode])
            runs = " ".join(f"{t:.2f}" for t in times[variant, mode])
            label = "serial" if mode == 0 else f"-n {mode}"
            per_test = median / args.tests * 1000
            print(f"{variant:<8} {label:<7} {per_test:>8.3f} {median / ideal:>6.2f}x  {runs}")
    for mode in modes:
        label = "serial" if mode == 0 else f"-n {mode}"
        ideal = statistics.median(times["ideal", mode])
        for variant, fixture, target in (("openai", "lmstudio_openai", 1.2), ("fake", "lmstudio_fake", 1.3)):
            if (variant, mode) not in times:
                continue
            ratio = statistics.median(times[variant, mode]) / ideal
            verdict = "PASS" if ratio <= target else "MISS"
            line = f"{label}: {fixture} {ratio:.2f}x the ideal (target <= {target}x: {verdict})"
            if variant == "openai" and ("oa-ideal", mode) in times:
                same = statistics.median(times["openai", mode]) / statistics.median(times["oa-ideal", mode])
                line += f"; {same:.2f}x the same canned answer through one shared openai client (oa-ideal)"
            print(line)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tests", type=int, default=1000, help="tests per suite (default 1000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each suite and mode (default 3)")
    parser.add_argument("--no-xdist", action="store_true", help="serial runs only")
    parser.add_argument("--only", help="comma-separated variants to run (ideal is always run)")
    parser.add_argument("--clients", default="1,2,4,8", help="client counts of the concurrency table")
    parser.add_argument(
        "--requests-per-client", type=int, default=500, help="requests per client and run (default 500)"
    )
    parser.add_argument(
        "--client-kind",
        choices=("openai", "raw"),
        default="openai",
        help="concurrency clients: the openai client (default) or bare http.client (server-bound)",
    )
    parser.add_argument("--no-concurrency", action="store_true", help="skip the concurrency table")
    parser.add_argument("--no-suites", action="store_true", help="only the concurrency table")
    args = parser.parse_args()
    if not args.no_suites:
        suites(args)
    if not args.no_concurrency:
        counts = [int(n) for n in args.clients.split(",")]
        table = concurrency(counts, args.client_kind, args.requests_per_client, args.repeats)
        print_concurrency(table, args.client_kind, args.requests_per_client, args.repeats)


if __name__ == "__main__":
    main()
