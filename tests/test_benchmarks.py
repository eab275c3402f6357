"""The benchmark scripts still run (their numbers are judged by people, never by tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_bench_server_quick_run_reports_every_server_and_workload(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = run("benchmarks/bench_server.py", "--quick", "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "fake/bare median" in result.stdout
    data = json.loads(out.read_text())
    for server in ("floor", "bare", "fake"):
        for workload in ("plain", "stream"):
            stats = data["results"][server][workload]
            assert stats["n"] > 0 and 0 < stats["median_ms"] <= stats["p99_ms"]
    steadiness = data["steadiness"]
    assert steadiness["floor_round_spread"] >= 1 and steadiness["paired_fake_bare"] > 0
    assert "host steadiness:" in result.stdout


def test_bench_ab_compares_a_checkout_with_itself() -> None:
    result = run("benchmarks/bench_ab.py", "a=.", "b=.", "--rounds", "3", "--calls", "2", "--warmup", "2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["version", "median", "ms", "/bare", "per-round", "CPU", "us/call"]
    assert [line.split()[0] for line in lines[1:]] == ["a", "b", "bare"]


def test_bench_ab_rejects_a_malformed_version() -> None:
    result = run("benchmarks/bench_ab.py", "no-directory-given")
    assert result.returncode != 0 and "NAME=DIR" in result.stderr


def test_bench_load_small_run_has_no_errors(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    result = run("benchmarks/bench_load.py", "--clients", "3", "--requests", "25", "--json", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(out.read_text())
    assert data["requests"] == 75 and data["kinds"]["all"]["errors"] == 0
    assert {"chat", "stream", "embed", "list", "bad", "lifecycle"} <= set(data["kinds"])


def test_bench_sdk_prints_the_ratio(tmp_path: Path) -> None:
    out = tmp_path / "sdk.json"
    result = run("benchmarks/bench_sdk.py", "--calls", "5", "--rounds", "2", "--json", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sdk/openai median" in result.stdout
    data = json.loads(out.read_text())
    assert data["sdk_over_openai"] > 0 and set(data["results"]) == {"sdk respond", "openai chat"}


def test_bench_suite_runs_every_variant_serially_and_under_xdist() -> None:
    result = run(
        "benchmarks/bench_suite.py", "--tests", "3", "--repeats", "1", "--no-concurrency", timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    names = ("ideal", "openai", "fake", "oa-ideal", "respx")
    rows = [row for row in map(str.split, result.stdout.splitlines()) if row and row[0] in names]
    variants = {row[0] for row in rows}
    assert {"ideal", "openai", "fake", "oa-ideal"} <= variants
    assert {(row[0], row[1]) for row in rows} >= {(v, m) for v in variants for m in ("serial", "-n")}
    ideal_rows = [row for row in rows if row[0] == "ideal"]
    assert ideal_rows and all(row[-2] == "1.00x" for row in ideal_rows)  # ratios are to the ideal
    verdicts = [line for line in result.stdout.splitlines() if "the ideal (target" in line]
    assert [line.split(" ", 2)[:2] for line in verdicts] == [
        ["serial:", "lmstudio_openai"],
        ["serial:", "lmstudio_fake"],
        ["-n", "2:"],
        ["-n", "2:"],
    ]
    assert all(("PASS" in line) != ("MISS" in line) for line in verdicts)
    assert "(oa-ideal)" in verdicts[0]


def test_bench_gc_reports_pauses_and_memory(tmp_path: Path) -> None:
    out = tmp_path / "gc.json"
    result = run("benchmarks/bench_gc.py", "--requests", "400", "--warmup", "50", "--json", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pauses over 20 ms:" in result.stdout and "server RSS:" in result.stdout
    data = json.loads(out.read_text())
    assert data["failed"] == 0 and set(data["generations"]) == {"0", "1", "2"}
    assert sum(g["count"] for g in data["generations"].values()) > 0  # the server logged its collections
    assert 0 < data["rss_mb"]["after_warmup"] <= data["rss_mb"]["max"]


def test_bench_suite_concurrency_table_compares_the_fake_with_the_floor() -> None:
    args = ("--no-suites", "--repeats", "1", "--clients", "1,2", "--requests-per-client", "5")
    for kind in ("openai", "raw"):
        result = run("benchmarks/bench_suite.py", *args, "--client-kind", kind, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        rows = [line.split() for line in result.stdout.splitlines() if line.split()[:1] in (["1"], ["2"])]
        assert [row[0] for row in rows] == ["1", "2"]
        for (
            row
        ) in rows:  # clients, floor req/s, fake req/s, ratio, floor p99, fake p99, ratio, bare req/s, ratio
            assert float(row[1]) > 0 and float(row[2]) > 0 and row[3].endswith("x") and row[6].endswith("x")
            assert float(row[7]) > 0 and row[8].endswith("x")
        assert "at 2 clients: throughput" in result.stdout and "the bare engine" in result.stdout
