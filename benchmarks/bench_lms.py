"""Benchmark the fake ``lms`` command as real processes, against a bare interpreter start.

    python benchmarks/bench_lms.py [-n RUNS] [--no-server] [--json [FILE]]

It installs the launcher (``fake_lms.cli.launcher.install_lms``) into a temporary directory, creates a
temporary fake home with two models loaded, and (unless ``--no-server``) starts ``python -m fake_lms
serve`` on it so that ``lms status`` sees the server ON. Then, in round-robin rounds (the order
rotates every round so machine noise hits every command alike), it runs ``-n`` times each of:

* ``python -c pass``  -- the floor: the same interpreter starting and exiting;
* ``lms ps --json``, ``lms ls --json``, ``lms status``  -- through the launcher found on PATH.

It prints median, p90 and max wall time per command (``time.perf_counter`` around
``subprocess.run``) and the ratio of each median to the floor's median, and marks ``lms ps --json``
PASS or MISS against the 150 ms target. It is a report: the exit code is 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from fake_lms.cli.launcher import install_lms  # noqa: E402
from fake_lms.model.home import Home  # noqa: E402

TARGET_MS = 150.0
COMMANDS: dict[str, list[str]] = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "lms ps --json": ["lms", "ps", "--json"],
    "lms ls --json": ["lms", "ls", "--json"],
    "lms status": ["lms", "status"],
}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = max(0, math.ceil(fraction * len(ordered)) - 1)
    return ordered[index]


def start_server(home: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fake_lms", "serve", "--home", str(home), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http://"):
        proc.kill()
        raise SystemExit(f"the fake server did not start (first line: {url!r})")
    return proc


def run_once(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True)
    elapsed = (time.perf_counter() - started) * 1000
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode()[:400]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=30, help="runs per command (default 30)")
    parser.add_argument("--no-server", action="store_true", help="measure `lms status` with the server off")
    parser.add_argument("--json", nargs="?", const="-", metavar="FILE", help="also write results as JSON")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="bench-lms-"))
    server = None
    try:
        home = Home(tmp / "home")
        home.load("qwen/qwen3-4b")
        home.load("text-embedding-nomic-embed-text-v1.5")
        bin_dir = install_lms(tmp / "bin").parent
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FORCE_COLOR")}
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
        env["LMS_FAKE_HOME"] = str(home.path)
        if not args.no_server:
            server = start_server(home.path, env)

        names = list(COMMANDS)
        for name in names:  # warm-up: page cache, .pyc files
            run_once(COMMANDS[name], env)
        times: dict[str, list[float]] = {name: [] for name in names}
        for round_ in range(args.runs):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                times[name].append(run_once(COMMANDS[name], env))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)

    floor = statistics.median(times["python -c pass"])
    rows = []
    for name in names:
        values = times[name]
        median = statistics.median(values)
        rows.append(
            {
                "command": name,
                "median_ms": round(median, 1),
                "p90_ms": round(percentile(values, 0.9), 1),
                "max_ms": round(max(values), 1),
                "ratio_to_floor": round(median / floor, 2),
            }
        )
    print(
        f"fake lms, {args.runs} runs per command; Python {platform.python_version()} on {platform.system()} "
        f"{platform.machine()}; server {'off' if args.no_server else 'on'}"
    )
    print(f"{'command':<16} {'median':>8} {'p90':>8} {'max':>8} {'x floor':>8}")
    for row in rows:
        cells = [f"{row[key]:>6.1f}ms" for key in ("median_ms", "p90_ms", "max_ms")]
        print(f"{row['command']:<16} {' '.join(cells)} {row['ratio_to_floor']:>7.2f}x")
    ps_median = next(r["median_ms"] for r in rows if r["command"] == "lms ps --json")
    verdict = "PASS" if ps_median < TARGET_MS else "MISS"
    print(f"target: `lms ps --json` median < {TARGET_MS:.0f} ms ... {verdict} ({ps_median:.1f} ms)")
    if args.json:
        data = json.dumps({"runs": args.runs, "server": not args.no_server, "results": rows}, indent=2)
        if args.json == "-":
            print(data)
        else:
            Path(args.json).write_text(data + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
