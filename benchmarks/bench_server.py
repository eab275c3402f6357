"""Benchmark the fake LM Studio server against a floor and a bare engine, with the openai client.

    python benchmarks/bench_server.py [--quick] [--json [FILE]]

One run starts three servers, each as its own process:

* ``fake``  -- ``python -m fake_lms serve --port 0 --home <tmp>``, the real thing;
* ``floor`` -- ``benchmarks/floor_server.py``: the standard library's ``ThreadingHTTPServer``
  answering with canned bytes captured from the fake (the least a Python server can do);
* ``bare``  -- ``benchmarks/bare_engine_server.py``: pytest-httpserver with the fake's own request
  handler class answering the same canned bytes via ``respond_with_data`` (the fake minus the LM
  Studio logic).

It checks that the three answer with responses of the same size and shape, then drives them with
the official ``openai`` client (``max_retries=0``): after a warm-up, ``--plain`` non-streaming chat
completions and ``--streams`` streamed chat completions of exactly 50 content chunks, in
round-robin rounds (the server order rotates every round) so machine noise hits all three alike.
Latency is per call (``time.perf_counter``, the whole call including the client; for a stream,
until the last chunk is read). Every request carries ``X-Bench-Workload: plain|stream`` (the floor
and the bare engine answer by it; the fake ignores it). Server CPU per call comes from ``/proc``
(Linux; elsewhere the column shows nan). Note that the openai client closes a stream's connection
at ``[DONE]`` without reading the end of the chunked body, so every stream opens a new connection.

It prints median and p99 per server and workload, and the ratios against the targets (fake median
<= 1.3x floor, goal 1.1x; fake p99 <= 3x floor p99; 50-chunk stream <= 1.3x floor; fake <= 1.10x
bare engine), each marked PASS or MISS. It is a report: the exit code is 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
MODEL = "google/gemma-3-1b"  # does not reason: every token of the workload is content
PLAIN_PROMPT = "What is the capital of France? Answer in one short sentence, please."
# long enough that the echoed reply has more than 50 tokens, so max_tokens=50 cuts it to exactly 50
STREAM_PROMPT = (
    "Tell me, in a few plain words, why the sky is blue, why the sea is blue too, and what a "
    "cat, a dog and a fox each think of the rain on a cold and grey day in the old town."
)
STREAM_TOKENS = 50
SERVERS = ("floor", "bare", "fake")
WORKLOADS = ("plain", "stream")
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def request_body(workload: str) -> dict[str, Any]:
    if workload == "plain":
        return {"model": MODEL, "messages": [{"role": "user", "content": PLAIN_PROMPT}]}
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": STREAM_PROMPT}],
        "max_tokens": STREAM_TOKENS,
        "stream": True,
    }


# ----------------------------------------------------------------------------------------------
# processes


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    stderr_path: Path
    cpu: dict[str, float] = field(default_factory=lambda: {w: 0.0 for w in WORKLOADS})

    def cpu_threads(self) -> dict[str, int]:
        """CPU nanoseconds of each live thread of the server (``schedstat``): exact, for spans in
        which the same threads run (plain calls: one keep-alive connection, one handler thread)."""
        out: dict[str, int] = {}
        try:
            tasks = os.listdir(f"/proc/{self.proc.pid}/task")
        except OSError:
            return out
        for tid in tasks:
            try:
                with open(f"/proc/{self.proc.pid}/task/{tid}/schedstat", "rb") as fh:
                    out[tid] = int(fh.read().split()[0])
            except (OSError, IndexError, ValueError):
                pass
        return out

    @staticmethod
    def cpu_threads_spent(before: dict[str, int], after: dict[str, int]) -> float:
        """Seconds spent between two :meth:`cpu_threads` readings by threads alive at both."""
        if not before or not after:
            return math.nan
        return sum(after[tid] - ns for tid, ns in before.items() if tid in after) / 1e9

    def cpu_process(self) -> float:
        """CPU seconds of the whole server process, ended threads included, to the clock tick
        (10 ms): for streams, where the openai client closes the connection after ``[DONE]``
        without reading the end of the chunked body, so every stream has its own connection and
        server thread."""
        try:
            with open(f"/proc/{self.proc.pid}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, IndexError, ValueError):
            return math.nan

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(
    name: str,
    argv: list[str],
    workdir: Path,
    *,
    cwd: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> Server:
    stderr_path = workdir / f"{name}.stderr"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    with open(stderr_path, "wb") as stderr:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, env=env, cwd=cwd
        )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    line = proc.stdout.readline().decode().strip() if ready else ""
    if not line.startswith("http"):
        proc.kill()
        raise SystemExit(f"{name} server did not start:\n{stderr_path.read_text(errors='replace')}")
    return Server(name, proc, line, stderr_path)


# ----------------------------------------------------------------------------------------------
# capturing the fake's responses, and checking the three answer alike


def capture(url: str) -> dict[str, Any]:
    """One real plain and one real streamed answer of the fake, as the canned responses."""
    parts = urlsplit(url)
    canned: dict[str, Any] = {}
    for workload in WORKLOADS:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        conn.request(
            "POST",
            "/v1/chat/completions",
            body=json.dumps(request_body(workload)),
            headers={"Content-Type": "application/json", "Authorization": "Bearer lm-studio"},
        )
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        if resp.status != 200:
            raise SystemExit(f"fake answered {resp.status} to the {workload} request: {body[:300]!r}")
        skip = {"date", "connection", "keep-alive", "content-length", "transfer-encoding"}
        headers = [[k, v] for k, v in resp.getheaders() if k.lower() not in skip]
        entry: dict[str, Any] = {"status": f"{resp.status} {resp.reason}", "headers": headers}
        text = body.decode()
        if workload == "plain":
            entry["body"] = text
        else:
            frames = [f + "\n\n" for f in text.split("\n\n") if f]
            assert "".join(frames) == text, "stream does not split into SSE events"
            content = [f for f in frames if '"content":' in f]
            if len(content) != STREAM_TOKENS:
                raise SystemExit(f"expected {STREAM_TOKENS} content chunks, the fake sent {len(content)}")
            entry["frames"] = frames
        canned[workload] = entry
    return canned


def raw_response(url: str, workload: str) -> bytes:
    """The whole response, bytes on the wire (``Connection: close``; read to EOF)."""
    parts = urlsplit(url)
    body = json.dumps(request_body(workload)).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
        f"X-Bench-Workload: {workload}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head + body)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


def shape(raw: bytes) -> tuple[int, int, list[str]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    names = sorted(line.split(b":", 1)[0].decode().lower() for line in head.split(b"\r\n")[1:])
    return len(head), len(body), names


# ----------------------------------------------------------------------------------------------
# driving


def make_clients(url: str) -> dict[str, Any]:
    import openai

    return {
        w: openai.OpenAI(
            base_url=url + "/v1",
            api_key="lm-studio",
            max_retries=0,
            timeout=30,
            default_headers={"X-Bench-Workload": w},
        )
        for w in WORKLOADS
    }


def call_plain(client: Any) -> float:
    messages = [{"role": "user", "content": PLAIN_PROMPT}]
    t0 = time.perf_counter()
    reply = client.chat.completions.create(model=MODEL, messages=messages)
    elapsed = time.perf_counter() - t0
    if not reply.choices or not reply.choices[0].message.content:
        raise RuntimeError(f"empty reply: {reply!r}")
    return elapsed


def call_stream(client: Any) -> tuple[float, int]:
    messages = [{"role": "user", "content": STREAM_PROMPT}]
    t0 = time.perf_counter()
    stream = client.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=STREAM_TOKENS, stream=True
    )
    content = 0
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            content += 1
    elapsed = time.perf_counter() - t0
    return elapsed, content


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def run(servers: dict[str, Server], args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    clients = {name: make_clients(s.url) for name, s in servers.items()}
    # warm-up: connections, JIT load of the model in the fake, import and code paths in the client
    for name in SERVERS:
        for _ in range(args.warmup):
            call_plain(clients[name]["plain"])
        for _ in range(max(1, args.warmup // 5)):
            _, content = call_stream(clients[name]["stream"])
            if content != STREAM_TOKENS:
                raise SystemExit(f"{name}: a stream had {content} content chunks, not {STREAM_TOKENS}")
    samples: dict[str, dict[str, list[float]]] = {n: {w: [] for w in WORKLOADS} for n in SERVERS}
    plain_counts = split(args.plain, args.rounds)
    stream_counts = split(args.streams, args.rounds)
    for rnd in range(args.rounds):
        order = SERVERS[rnd % 3 :] + SERVERS[: rnd % 3]
        if rnd % 2:
            order = order[::-1]
        for name in order:
            server, client = servers[name], clients[name]
            cpu0 = server.cpu_threads()
            out = samples[name]["plain"]
            for _ in range(plain_counts[rnd]):
                out.append(call_plain(client["plain"]))
            server.cpu["plain"] += server.cpu_threads_spent(cpu0, server.cpu_threads())
            cpu1 = server.cpu_process()
            out = samples[name]["stream"]
            for _ in range(stream_counts[rnd]):
                elapsed, content = call_stream(client["stream"])
                if content != STREAM_TOKENS:
                    raise SystemExit(f"{name}: a stream had {content} content chunks, not {STREAM_TOKENS}")
                out.append(elapsed)
            server.cpu["stream"] += server.cpu_process() - cpu1
    for c in clients.values():
        for client in c.values():
            client.close()
    return samples


# ----------------------------------------------------------------------------------------------
# reporting


@dataclass
class Check:
    workload: str
    label: str
    value: float
    limit: float
    goal: float | None = None

    @property
    def ok(self) -> bool:
        return self.value <= self.limit


def summarise(
    samples: dict[str, dict[str, list[float]]], servers: dict[str, Server]
) -> tuple[dict[str, Any], list[Check]]:
    stats: dict[str, Any] = {}
    for name in SERVERS:
        stats[name] = {}
        for w in WORKLOADS:
            values = samples[name][w]
            stats[name][w] = {
                "n": len(values),
                "median_ms": statistics.median(values) * 1000,
                "p99_ms": p99(values) * 1000,
                "mean_ms": statistics.fmean(values) * 1000,
                "min_ms": min(values) * 1000,
                "max_ms": max(values) * 1000,
                "server_cpu_ms_per_call": servers[name].cpu[w] * 1000 / len(values),
            }
    checks: list[Check] = []
    for w in WORKLOADS:
        fake, floor, bare = stats["fake"][w], stats["floor"][w], stats["bare"][w]
        median_limit = 1.3
        checks.append(
            Check(w, "fake/floor median", fake["median_ms"] / floor["median_ms"], median_limit, 1.1)
        )
        checks.append(Check(w, "fake/floor p99", fake["p99_ms"] / floor["p99_ms"], 3.0))
        checks.append(Check(w, "fake/bare median", fake["median_ms"] / bare["median_ms"], 1.10))
    return stats, checks


def per_round(values: list[float], rounds: int) -> list[float]:
    """The median of each round's plain calls (``run`` records them round after round)."""
    out, start = [], 0
    for count in split(len(values), rounds):
        if count:
            out.append(statistics.median(values[start : start + count]))
        start += count
    return out


def steadiness(samples: dict[str, dict[str, list[float]]], rounds: int) -> dict[str, float]:
    """How steady the host was: the spread of the floor server's per-round medians (p90/p10; the
    floor does the least, so what moves it is the machine), and the median of the per-round
    fake/bare ratios, an estimate of the same ratio that drift during the run hardly moves."""
    floor = sorted(per_round(samples["floor"]["plain"], rounds))
    fake, bare = per_round(samples["fake"]["plain"], rounds), per_round(samples["bare"]["plain"], rounds)
    low, high = floor[int(0.1 * (len(floor) - 1))], floor[int(0.9 * (len(floor) - 1))]
    return {
        "floor_round_spread": high / low,
        "paired_fake_bare": statistics.median(f / b for f, b in zip(fake, bare)),
    }


def print_report(
    stats: dict[str, Any],
    checks: list[Check],
    args: argparse.Namespace,
    seconds: float,
    steady: dict[str, float] | None = None,
) -> None:
    titles = {
        "plain": f"chat.completions ({args.plain} calls)",
        "stream": f"{STREAM_TOKENS}-chunk stream ({args.streams} streams)",
    }
    print()
    print(
        f"{'workload':<34}{'server':<8}{'median ms':>11}{'p99 ms':>10}{'mean ms':>10}{'srv CPU ms/call':>17}"
    )
    print("-" * 90)
    for w in WORKLOADS:
        for i, name in enumerate(SERVERS):
            s = stats[name][w]
            print(
                f"{titles[w] if i == 0 else '':<34}{name:<8}{s['median_ms']:>11.3f}{s['p99_ms']:>10.3f}"
                f"{s['mean_ms']:>10.3f}{s['server_cpu_ms_per_call']:>17.3f}"
            )
    print("(server CPU: plain calls from the handler threads' schedstat; streams from the process's clock")
    print(" ticks, +-10 ms per batch, because the openai client closes a stream's connection at [DONE])")
    cpu = {name: stats[name]["plain"]["server_cpu_ms_per_call"] * 1000 for name in SERVERS}
    print(
        f"server CPU per plain call: floor {cpu['floor']:.0f} us, bare engine {cpu['bare']:.0f} us, "
        f"fake {cpu['fake']:.0f} us (LM Studio logic: {cpu['fake'] - cpu['bare']:.0f} us)"
    )
    if steady is not None:
        print(
            f"host steadiness: the floor's per-round medians spread {steady['floor_round_spread']:.2f}x "
            f"(p90/p10); per-round fake/bare ratios, median {steady['paired_fake_bare']:.3f}x"
        )
    print()
    print(f"{'workload':<10}{'ratio':<20}{'value':>8}{'target':>9}  result")
    print("-" * 60)
    for c in checks:
        goal = ""
        if c.goal is not None:
            goal = f"  (goal <= {c.goal:.2f}x: {'met' if c.value <= c.goal else 'not met'})"
        print(
            f"{c.workload:<10}{c.label:<20}{c.value:>7.3f}x{'<= ' + format(c.limit, '.2f'):>9}x "
            f"{'PASS' if c.ok else 'MISS'}{goal}"
        )
    misses = [c for c in checks if not c.ok]
    print()
    for c in misses:
        print(f"MISS: {c.workload} {c.label} = {c.value:.3f}x, target <= {c.limit:.2f}x")
    if not misses:
        print("all targets PASS")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"(benchmark took {seconds:.1f} s; load average at the end {load} on {os.cpu_count()} CPUs)")


# ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark the fake LM Studio against a floor and a bare engine."
    )
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke test")
    parser.add_argument("--plain", type=int, help="non-streaming calls per server (default 500; quick 50)")
    parser.add_argument("--streams", type=int, help="50-chunk streams per server (default 100; quick 10)")
    parser.add_argument("--rounds", type=int, help="round-robin rounds (default 100; quick 10)")
    parser.add_argument("--warmup", type=int, help="warm-up calls per server (default 50; quick 10)")
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="FILE",
        help="also write the results as JSON (to FILE, or stdout)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (server stderr, canned)"
    )
    args = parser.parse_args(argv)
    defaults = (50, 10, 10, 10) if args.quick else (500, 100, 100, 50)
    for name, default in zip(("plain", "streams", "rounds", "warmup"), defaults):
        if getattr(args, name) is None:
            setattr(args, name, default)
    args.rounds = max(1, min(args.rounds, args.plain, args.streams))

    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="bench-fake-lms-"))
    servers: dict[str, Server] = {}
    try:
        servers["fake"] = start_server(
            "fake",
            [sys.executable, "-m", "fake_lms", "serve", "--port", "0", "--home", str(workdir / "home")],
            workdir,
        )
        canned_path = workdir / "canned.json"
        canned_path.write_text(json.dumps(capture(servers["fake"].url), indent=1), encoding="utf-8")
        servers["floor"] = start_server(
            "floor", [sys.executable, str(HERE / "floor_server.py"), "--canned", str(canned_path)], workdir
        )
        servers["bare"] = start_server(
            "bare",
            [sys.executable, str(HERE / "bare_engine_server.py"), "--canned", str(canned_path)],
            workdir,
        )
        print("servers: " + ", ".join(f"{n} {servers[n].url} (pid {servers[n].proc.pid})" for n in SERVERS))
        for w in WORKLOADS:
            shapes = {n: shape(raw_response(servers[n].url, w)) for n in SERVERS}
            same = len({s for s in (repr(v) for v in shapes.values())}) == 1
            desc = ", ".join(f"{n} {h}+{b} bytes" for n, (h, b, _) in shapes.items())
            print(f"response shape, {w}: {desc} -> {'identical' if same else 'DIFFERENT'}")
            if not same:
                for n, (_, _, names) in shapes.items():
                    print(f"  {n} headers: {names}")
        samples = run(servers, args)
    finally:
        for server in servers.values():
            server.stop()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    seconds = time.perf_counter() - started
    stats, checks = summarise(samples, servers)
    steady = steadiness(samples, args.rounds)
    print_report(stats, checks, args, seconds, steady)
    if args.json:
        import openai

        doc = {
            "config": {
                "plain": args.plain,
                "streams": args.streams,
                "stream_chunks": STREAM_TOKENS,
                "rounds": args.rounds,
                "warmup": args.warmup,
                "python": platform.python_version(),
                "openai": openai.__version__,
                "cpus": os.cpu_count(),
                "seconds": round(seconds, 2),
                "loadavg": os.getloadavg(),
            },
            "results": stats,
            "steadiness": steady,
            "checks": [
                {
                    "workload": c.workload,
                    "ratio": c.label,
                    "value": c.value,
                    "target": c.limit,
                    "goal": c.goal,
                    "result": "PASS" if c.ok else "MISS",
                }
                for c in checks
            ],
        }
        text = json.dumps(doc, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
