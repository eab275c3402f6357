"""What the plugin costs.

1. A pytest run that does not use LM Studio, with the plugin loaded vs. ``-p no:lmstudio``
   (target: the plugin adds < 30 ms). Such a run prints nothing of the plugin's, probes nothing and
   makes no run directory: what is left is importing the plugin and resolving its settings.
2. Fake-mode session start: from asking for the server to a fake LM Studio answering
   (target: < 300 ms), measured in-process over several starts.

Runs are interleaved so machine noise hits both sides alike; medians and the ratio are reported.
Usage: python benchmarks/bench_plugin.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUITE = "\n".join(f"def test_{i}():\n    assert {i} == {i}\n" for i in range(50))


def time_pytest(directory: Path, *extra: str, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(
        # default verbosity: the header (where the plugin used to probe LM Studio) is printed
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *extra, str(directory)],
        check=True,
        capture_output=True,
        cwd=directory,
        env=env,
    )
    return time.perf_counter() - start


def bench_overhead(runs: int) -> tuple[list[float], list[float], list[float]]:
    """Interleaved: plugin loaded, ``-p no:lmstudio``, and plugin loaded with ``LMSTUDIO_URL`` at a
    socket that accepts but never answers (a remote LM Studio that is down: a probe would wait)."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    silent_env = {**os.environ, "LMSTUDIO_URL": f"http://127.0.0.1:{silent.getsockname()[1]}"}
    with silent, tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "test_plain.py").write_text(SUITE)
        (directory / "pytest.ini").write_text("[pytest]\n")
        time_pytest(directory)  # warm the file cache
        time_pytest(directory, "-p", "no:lmstudio")
        with_plugin, without, with_silent_url = [], [], []
        for _ in range(runs):
            with_plugin.append(time_pytest(directory))
            without.append(time_pytest(directory, "-p", "no:lmstudio"))
            with_silent_url.append(time_pytest(directory, env=silent_env))
    return with_plugin, without, with_silent_url


def bench_fake_start(runs: int) -> list[float]:
    from pytest_lmstudio.rundir import RunDir
    from pytest_lmstudio.server import release, start_fake

    times = []
    for _ in range(runs):
        run = RunDir.create()
        start = time.perf_counter()
        server = start_fake(run)
        times.append(time.perf_counter() - start)
        run.write("server.json", {"status": "ok", "server": server.__dict__})
        release(run)
        run.remove()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with_plugin, without, with_silent_url = bench_overhead(args.runs)
    starts = bench_fake_start(max(5, args.runs // 2))
    med_with, med_without = statistics.median(with_plugin), statistics.median(without)
    added_ms = (med_with - med_without) * 1000
    start_ms = statistics.median(starts) * 1000
    rows = [
        ("pytest run, 50 plain tests, plugin loaded", f"{med_with * 1000:.1f} ms", ""),
        ("pytest run, 50 plain tests, -p no:lmstudio", f"{med_without * 1000:.1f} ms", ""),
        (
            "added by the plugin (median difference)",
            f"{added_ms:.1f} ms",
            f"target < 30 ms: {'PASS' if added_ms < 30 else 'MISS'}; ratio {med_with / med_without:.3f}x",
        ),
        (
            "added, LMSTUDIO_URL at a silent host",
            f"{(statistics.median(with_silent_url) - med_without) * 1000:.1f} ms",
            "an unused plugin probes nothing, so a host that never answers costs nothing",
        ),
        (
            "fake-mode session start (median)",
            f"{start_ms:.1f} ms",
            f"target < 300 ms: {'PASS' if start_ms < 300 else 'MISS'}; max {max(starts) * 1000:.1f} ms",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width}}  {'value':>10}  note")
    print("-" * (width + 40))
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>10}  {note}")


if __name__ == "__main__":
    main()
