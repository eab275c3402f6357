"""The LM Studio Python SDK against the fake, beside the ``openai`` client against the same fake.

    python benchmarks/bench_sdk.py [--calls 300] [--rounds 5] [--json FILE]

It starts ``python -m fake_lms serve`` on a free port, then, in interleaved rounds (so machine noise
hits both alike), times ``--calls`` of each:

* ``sdk respond``  -- ``lmstudio.Client(...).llm.model(LLM).respond("hi")`` (websocket RPC);
* ``openai chat``  -- ``openai.OpenAI(...).chat.completions.create(...)`` (REST).

Each client is made once and reused, as an application would. It prints the median, p90 and p99
per call and the SDK/openai ratio of the medians. A report: the exit code is 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LLM = "qwen/qwen3-4b"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per client per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    try:
        import lmstudio
        import openai
    except ImportError as exc:
        print(f"needs the test extra (pip install -e '.[test]'): {exc}", file=sys.stderr)
        return 2
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
        host = url.split("://", 1)[1]
        oai = openai.OpenAI(base_url=url + "/v1", api_key="lm-studio", max_retries=0)
        messages = [{"role": "user", "content": "hi"}]
        with lmstudio.Client(host) as sdk:
            model = sdk.llm.model(LLM)
            model.respond("warm up")
            oai.chat.completions.create(model=LLM, messages=messages)  # type: ignore[arg-type]
            times: dict[str, list[float]] = {"sdk respond": [], "openai chat": []}
            for _ in range(args.rounds):
                for _ in range(args.calls):
                    started = time.perf_counter()
                    model.respond("hi")
                    times["sdk respond"].append((time.perf_counter() - started) * 1000)
                for _ in range(args.calls):
                    started = time.perf_counter()
                    oai.chat.completions.create(model=LLM, messages=messages)  # type: ignore[arg-type]
                    times["openai chat"].append((time.perf_counter() - started) * 1000)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"{args.rounds} rounds x {args.calls} calls against python -m fake_lms serve")
    print(f"{'client':<14} {'median ms':>10} {'p90 ms':>8} {'p99 ms':>8}")
    report: dict[str, dict[str, float]] = {}
    for name, values in times.items():
        row = {
            "median_ms": statistics.median(values),
            "p90_ms": percentile(values, 0.9),
            "p99_ms": percentile(values, 0.99),
        }
        report[name] = row
        print(f"{name:<14} {row['median_ms']:>10.3f} {row['p90_ms']:>8.3f} {row['p99_ms']:>8.3f}")
    ratio = report["sdk respond"]["median_ms"] / report["openai chat"]["median_ms"]
    print(f"sdk/openai median {ratio:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": report, "sdk_over_openai": ratio}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
