"""What a whole test suite pays per test, by how it gets its LM Studio.

Generates suites of N tests (default 1,000), each making one chat completion, and runs each with
pytest, serially and with ``-n 2``, the variants interleaved and repeated so machine noise hits all
alike:

- ``openai``: ``--lmstudio-mode=fake`` and the ``lmstudio_openai`` fixture (the shared fake process);
- ``fake``: the in-process ``lmstudio_fake`` fixture with a scripted reply, called with one
  session-shared httpx client;
- ``ideal``: a canned pytest-httpserver answer called with one session-shared httpx client (no
  LM Studio semantics at all: the floor this plugin is measured against);
- ``respx``: the same canned answer from a respx mock of httpx (when respx is installed).

"ms/test" is pytest's own session time (collection, fixtures, the calls, the fake's start) divided
by N; interpreter start-up, the same for every variant, is left out. Ratios are to ``ideal``.
Usage: python benchmarks/bench_suite.py [--tests N] [--repeats R] [--no-xdist] [--only openai,fake]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tests", type=int, default=1000, help="tests per suite (default 1000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each suite and mode (default 3)")
    parser.add_argument("--no-xdist", action="store_true", help="serial runs only")
    parser.add_argument("--only", help="comma-separated variants to run (ideal is always run)")
    args = parser.parse_args()
    variants = ["ideal", "openai", "fake"] + (["respx"] if importlib.util.find_spec("respx") else [])
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


if __name__ == "__main__":
    main()
