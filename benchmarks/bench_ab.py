"""Compare versions of the fake against the bare engine in paired, interleaved runs.

    python benchmarks/bench_ab.py before=/path/to/old/checkout after=. [--rounds 150] [--calls 5]
    python benchmarks/bench_ab.py base=. variant=.:SOME_ENV=1

Each ``NAME=DIR[:VAR=VALUE;...]`` starts ``python -m fake_lms serve`` from the checkout ``DIR``
(put first on ``PYTHONPATH``, with the given environment), and the bare engine serving the first
version's answer canned. The servers are driven with the official ``openai`` client as
``bench_server.py`` drives them: in rounds, the order rotating, each round ``--calls`` plain chat
completions and ``--streams`` streams per server. It prints each version's plain-call median, its
ratio to the bare engine's, the median of the per-round ratios (robust to the machine slowing down
during the run) and server CPU per call. Differences of a percent need a few runs to trust: the
noise between runs is about that size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_server  # noqa: E402


def parse_version(spec: str) -> tuple[str, Path, dict[str, str]]:
    name, sep, rest = spec.partition("=")
    if not sep or not name or not rest:
        raise SystemExit(f"expected NAME=DIR[:VAR=VALUE;...], got {spec!r}")
    directory, _, env_part = rest.partition(":")
    env = {}
    for item in filter(None, env_part.split(";")):
        key, eq, value = item.partition("=")
        if not eq:
            raise SystemExit(f"expected VAR=VALUE in {spec!r}, got {item!r}")
        env[key] = value
    path = Path(directory).resolve()
    if not (path / "fake_lms").is_dir():
        raise SystemExit(f"{path} has no fake_lms package")
    return name, path, env


def start(
    name: str, argv: list[str], checkout: Path, env: dict[str, str], workdir: Path
) -> bench_server.Server:
    """``argv`` run in ``checkout`` (``python -m`` puts the working directory first on
    ``sys.path``) with ``checkout`` first on ``PYTHONPATH`` too."""
    path = os.pathsep.join(filter(None, [str(checkout), os.environ.get("PYTHONPATH", "")]))
    return bench_server.start_server(name, argv, workdir, cwd=checkout, extra_env={**env, "PYTHONPATH": path})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("versions", nargs="+", metavar="NAME=DIR[:VAR=VALUE;...]")
    parser.add_argument("--rounds", type=int, default=150)
    parser.add_argument("--calls", type=int, default=5, help="plain calls per server per round")
    parser.add_argument("--streams", type=int, default=1, help="streams per server per round")
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args(argv)
    versions = [parse_version(v) for v in args.versions]
    if len({name for name, _, _ in versions} | {"bare"}) != len(versions) + 1:
        raise SystemExit("version names must be distinct and not 'bare'")
    workdir = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    servers: dict[str, bench_server.Server] = {}
    try:
        for name, checkout, env in versions:
            serve = [sys.executable, "-m", "fake_lms", "serve", "--port", "0", "--home", str(workdir / name)]
            servers[name] = start(name, serve, checkout, env, workdir)
        canned = workdir / "canned.json"
        canned.write_text(json.dumps(bench_server.capture(servers[versions[0][0]].url)), encoding="utf-8")
        bare = [sys.executable, str(HERE / "bare_engine_server.py"), "--canned", str(canned)]
        servers["bare"] = bench_server.start_server("bare", bare, workdir)
        clients = {name: bench_server.make_clients(s.url) for name, s in servers.items()}
        names = list(servers)
        for name in names:
            for _ in range(args.warmup):
                bench_server.call_plain(clients[name]["plain"])
        samples: dict[str, list[float]] = {n: [] for n in names}
        per_round: dict[str, list[float]] = {n: [] for n in names}
        cpu = dict.fromkeys(names, 0.0)
        for rnd in range(args.rounds):
            order = names[rnd % len(names) :] + names[: rnd % len(names)]
            if rnd % 2:
                order.reverse()
            for name in order:
                server = servers[name]
                before = server.cpu_threads()
                latencies = [bench_server.call_plain(clients[name]["plain"]) for _ in range(args.calls)]
                cpu[name] += server.cpu_threads_spent(before, server.cpu_threads())
                samples[name].extend(latencies)
                per_round[name].append(statistics.median(latencies))
                for _ in range(args.streams):
                    bench_server.call_stream(clients[name]["stream"])
        bare_median = statistics.median(samples["bare"])
        print(f"{'version':12s} {'median ms':>10s} {'/bare':>7s} {'per-round':>10s} {'CPU us/call':>12s}")
        for name in names:
            median = statistics.median(samples[name])
            rounds = statistics.median(a / b for a, b in zip(per_round[name], per_round["bare"]))
            print(
                f"{name:12s} {median * 1000:10.3f} {median / bare_median:7.3f} {rounds:10.3f} "
                f"{cpu[name] / len(samples[name]) * 1e6:12.0f}"
            )
    finally:
        for server in servers.values():
            server.proc.terminate()
            try:
                server.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
