"""A long run of the shared fake: garbage-collection pauses and memory after warm-up.

    python benchmarks/bench_gc.py [--requests 20000] [--warmup 2000] [--json FILE]

It starts ``python -m fake_lms serve --gc-log FILE`` (the serve process times each of its own
garbage collections with ``gc.callbacks``, fake_lms/server/gc_log.py) and sends ``--requests``
requests from one keep-alive client, a test suite's mix: chat completions, streamed ones read to
the end, embeddings, model listings. The first ``--warmup`` requests (JIT loads, caches, the
allocator's first rise) are left out of the figures. It prints, per generation, how many
collections ran and their longest and p99 pause; the client's latency (median, p99, max, and how
many requests took over 20 ms); and the server's RSS at the end of the warm-up, at its highest,
and at the end. A report: the exit code is 1 only if a request failed.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

LLM = "qwen/qwen3-4b"
EMBED = "text-embedding-nomic-embed-text-v1.5"
MIX = ["chat"] * 6 + ["stream", "embed", "list", "chat"]
VOCABULARY = 200  # distinct words in the embedded texts
PAUSE_LIMIT_MS = 20.0  # the target: no pause longer than this


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def one(client: httpx.Client, kind: str, n: int) -> bool:
    chat = {"model": LLM, "messages": [{"role": "user", "content": f"request {n}"}], "max_tokens": 16}
    if kind == "chat":
        r = client.post("/v1/chat/completions", json=chat)
        return r.status_code == 200 and bool(r.json()["choices"][0]["message"]["content"])
    if kind == "stream":
        with client.stream("POST", "/v1/chat/completions", json={**chat, "stream": True}) as r:
            text = "".join(r.iter_text())
        return r.status_code == 200 and text.rstrip().endswith("data: [DONE]")
    if kind == "embed":
        # a suite's vocabulary: the fake keeps the vectors of the last 2,048 words it saw
        r = client.post("/v1/embeddings", json={"model": EMBED, "input": f"text {n % VOCABULARY}"})
        return r.status_code == 200 and len(r.json()["data"]) == 1
    return client.get("/v1/models").status_code == 200


def read_gc_log(path: Path, skip: int) -> list[tuple[int, float, int]]:
    """The collections logged after the first ``skip`` lines: (generation, pause ms, collected)."""
    rows = []
    for line in path.read_text().splitlines()[skip:]:
        gen, pause, collected = line.split()
        rows.append((int(gen), float(pause), int(collected)))
    return rows


def run(requests: int, warmup: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        gc_file = Path(tmp, "gc.log")
        gc_file.touch()
        command = [sys.executable, "-m", "fake_lms", "serve", "--port", "0", "--gc-log", str(gc_file)]
        command += ["--home", str(Path(tmp, "home"))]
        server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            latencies: list[float] = []
            rss: list[tuple[int, float]] = []
            failed = 0
            skip = 0
            with httpx.Client(base_url=url, timeout=30, trust_env=False) as client:
                for n in range(warmup + requests):
                    if n == warmup:
                        skip = len(gc_file.read_text().splitlines())
                        rss.append((n, rss_mb(server.pid)))
                    started = time.perf_counter()
                    ok = one(client, MIX[n % len(MIX)], n)
                    elapsed = (time.perf_counter() - started) * 1000
                    failed += not ok
                    if n >= warmup:
                        latencies.append(elapsed)
                        if (n - warmup + 1) % max(1, requests // 10) == 0:
                            rss.append((n + 1, rss_mb(server.pid)))
            collections = read_gc_log(gc_file, skip)
        finally:
            server.terminate()
            server.wait(timeout=10)
    generations = {}
    for gen in (0, 1, 2):
        pauses = [p for g, p, _ in collections if g == gen]
        generations[gen] = {
            "count": len(pauses),
            "max_ms": max(pauses, default=0.0),
            "p99_ms": percentile(pauses, 0.99),
            "total_ms": sum(pauses),
        }
    return {
        "requests": requests,
        "warmup": warmup,
        "failed": failed,
        "generations": generations,
        "pauses_over_limit": sum(p > PAUSE_LIMIT_MS for _, p, _ in collections),
        "max_pause_ms": max((p for _, p, _ in collections), default=0.0),
        "latency": {
            "median_ms": statistics.median(latencies),
            "p99_ms": percentile(latencies, 0.99),
            "max_ms": max(latencies),
            "over_limit": sum(t > PAUSE_LIMIT_MS for t in latencies),
        },
        "rss_mb": {"after_warmup": rss[0][1], "max": max(r for _, r in rss), "end": rss[-1][1]},
        "rss_samples": rss,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000, help="measured requests (default 20000)")
    parser.add_argument("--warmup", type=int, default=2000, help="requests before measuring (default 2000)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    result = run(args.requests, args.warmup)
    print(f"{args.requests} requests after {args.warmup} of warm-up, one keep-alive client; the server's")
    print("own garbage collections (gc.callbacks in the serve process)")
    print(f"{'generation':<11} {'count':>6} {'max ms':>8} {'p99 ms':>8} {'total ms':>9}")
    print("-" * 46)
    for gen, stats in result["generations"].items():
        print(
            f"{gen:<11} {stats['count']:>6} {stats['max_ms']:>8.2f} {stats['p99_ms']:>8.2f} "
            f"{stats['total_ms']:>9.1f}"
        )
    over = result["pauses_over_limit"]
    verdict = "PASS" if over == 0 else "MISS"
    print(f"pauses over {PAUSE_LIMIT_MS:g} ms: {over}  (longest {result['max_pause_ms']:.2f} ms) {verdict}")
    lat = result["latency"]
    print(
        f"client latency: median {lat['median_ms']:.3f} ms, p99 {lat['p99_ms']:.3f} ms, max "
        f"{lat['max_ms']:.1f} ms; {lat['over_limit']} request(s) over {PAUSE_LIMIT_MS:g} ms"
    )
    rss = result["rss_mb"]
    samples = " ".join(f"{mb:.1f}" for _, mb in result["rss_samples"])
    print(
        f"server RSS: {rss['after_warmup']:.1f} MB after warm-up, {rss['max']:.1f} MB at most, "
        f"{rss['end']:.1f} MB at the end (+{rss['end'] - rss['after_warmup']:.1f} MB); samples: {samples}"
    )
    print(f"failed requests: {result['failed']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 1 if result["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
