"""Load on the fake from several clients at once: errors, throughput and latency percentiles.

    python benchmarks/bench_load.py [--clients 8] [--requests 1000] [--json FILE]

It starts ``python -m fake_lms serve`` on a free port, then ``--clients`` threads (each with its
own keep-alive ``httpx.Client``) send ``--requests`` requests each, a fixed mix: plain chat
completions, streamed ones (read to the end), embeddings, listings, a load/unload of an embedding
model, and bad requests (which must get a 4xx, never a 5xx). It prints, per kind and overall,
the count, errors (a 5xx, a wrong 4xx/2xx, a broken stream, a transport error), median, p99 and
max latency, the total throughput, and the server's RSS before and after. A report: the exit code
is 1 only if any request failed.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
LLM = "qwen/qwen3-4b"
EMBED = "text-embedding-nomic-embed-text-v1.5"
MIX = ["chat"] * 5 + ["stream"] * 2 + ["embed", "list", "bad", "lifecycle"]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def one(client: httpx.Client, kind: str, n: int) -> bool:
    """Send one request of ``kind``; whether it got what it should."""
    chat = {"model": LLM, "messages": [{"role": "user", "content": f"request {n}"}]}
    if kind == "chat":
        r = client.post("/v1/chat/completions", json=chat)
        return r.status_code == 200 and f"request {n}" in r.json()["choices"][0]["message"]["content"]
    if kind == "stream":
        with client.stream("POST", "/v1/chat/completions", json={**chat, "stream": True}) as r:
            text = "".join(r.iter_text())
        return r.status_code == 200 and text.rstrip().endswith("data: [DONE]")
    if kind == "embed":
        r = client.post("/v1/embeddings", json={"model": EMBED, "input": [f"text {n}", "more"]})
        return r.status_code == 200 and len(r.json()["data"]) == 2
    if kind == "list":
        return client.get("/api/v1/models").status_code == 200
    if kind == "bad":
        r = client.post("/v1/chat/completions", content=b'{"model": "' + LLM.encode() + b'", "messages": [')
        return r.status_code == 400 and "error" in r.json()
    # lifecycle: load a second instance with its own identifier, then unload it
    ident = f"load-{threading.get_ident()}-{n}"
    r = client.post("/api/v1/models/load", json={"model": EMBED, "identifier": ident})
    if r.status_code != 200:
        return False
    return client.post("/api/v1/models/unload", json={"instance_id": ident}).status_code == 200


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=1000, help="per client")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    proc = subprocess.Popen(
        [sys.executable, "-m", "fake_lms", "serve", "--port", "0"],
        cwd=HERE.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        with httpx.Client(base_url=url, timeout=60) as warm:
            one(warm, "chat", -1)  # JIT-load the LLM before timing
            one(warm, "embed", -1)
        rss_before = rss_mb(proc.pid)
        times: dict[str, list[float]] = {kind: [] for kind in set(MIX)}
        failures: dict[str, int] = {kind: 0 for kind in set(MIX)}
        lock = threading.Lock()

        def worker(index: int) -> None:
            with httpx.Client(base_url=url, timeout=60) as client:
                for n in range(args.requests):
                    kind = MIX[(n + index) % len(MIX)]
                    started = time.perf_counter()
                    try:
                        ok = one(client, kind, n)
                    except (httpx.HTTPError, ValueError, KeyError):
                        ok = False
                    elapsed = (time.perf_counter() - started) * 1000
                    with lock:
                        times[kind].append(elapsed)
                        failures[kind] += not ok

        started = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        rss_after = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    total = sum(len(v) for v in times.values())
    print(f"{args.clients} clients x {args.requests} requests against the fake ({total} in {wall:.1f} s)")
    print(f"{'kind':<10} {'n':>6} {'errors':>7} {'median ms':>10} {'p99 ms':>8} {'max ms':>8}")
    report: dict[str, Any] = {"clients": args.clients, "requests": total, "seconds": wall, "kinds": {}}
    every = [x for v in times.values() for x in v]
    for kind in [*sorted(times), "all"]:
        values = every if kind == "all" else times[kind]
        errors = sum(failures.values()) if kind == "all" else failures[kind]
        if not values:
            continue
        row = {
            "n": len(values),
            "errors": errors,
            "median_ms": statistics.median(values),
            "p99_ms": percentile(values, 0.99),
            "max_ms": max(values),
        }
        report["kinds"][kind] = row
        print(
            f"{kind:<10} {row['n']:>6} {errors:>7} {row['median_ms']:>10.2f} {row['p99_ms']:>8.2f} "
            f"{row['max_ms']:>8.1f}"
        )
    print(f"throughput {total / wall:.0f} requests/s; server RSS {rss_before} MB -> {rss_after} MB")
    report.update(rss_before_mb=rss_before, rss_after_mb=rss_after)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 1 if sum(failures.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
