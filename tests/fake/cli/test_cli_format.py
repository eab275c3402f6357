"""The fake `lms`'s building blocks, in process: JavaScript number formats, lms's size and time formats,
columnify, the npm `fuzzy` matcher, commander's suggestions and number parsing."""

from __future__ import annotations

import math

import pytest

from fake_lms.cli.args import InvalidArgument, js_number, refined_number, suggest_similar
from fake_lms.cli.get import ProgressText, draw_bar
from fake_lms.cli.models import fuzzy_filter, fuzzy_match
from fake_lms.cli.output import (
    columnify,
    format_elapsed,
    format_remaining,
    format_size_1000,
    format_size_1024,
    format_time_lean,
    js_round,
    locale_key,
    to_fixed,
)


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [(0.125, 2, "0.13"), (2.5, 0, "3"), (1.005, 2, "1.00"), (12.109565632, 2, "12.11"), (0, 2, "0.00")],
)
def test_to_fixed_rounds_like_javascript(value: float, digits: int, expected: str) -> None:
    assert to_fixed(value, digits) == expected


def test_js_round() -> None:
    assert [js_round(x) for x in (0.5, 1.5, 2.5, -0.5, 2.4)] == [1, 2, 3, 0, 2]


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (999, "999 B"),
        (1000, "1.00 KB"),
        (84_106_624, "84.11 MB"),
        (2_497_280_256, "2.50 GB"),
        (2e12, "2.00 TB"),
    ],
)
def test_format_size_1000(size: float, expected: str) -> None:
    assert format_size_1000(size) == expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [(0, "0 Bytes"), (512, "512 Bytes"), (2_497_280_256, "2.33 GiB"), (12_109_565_632, "11.28 GiB")],
)
def test_format_size_1024(size: float, expected: str) -> None:
    assert format_size_1024(size) == expected


@pytest.mark.parametrize(
    ("ms", "expected"),
    [(850, "850.00ms"), (5230, "5.23s"), (65_000, "1m 5.00s"), (3_603_000, "1h 0m 3.00s"), (0, "0.00ms")],
)
def test_format_elapsed(ms: float, expected: str) -> None:
    assert format_elapsed(ms) == expected


def test_format_time_lean_and_remaining() -> None:
    assert [format_time_lean(ms) for ms in (3_540_000, 3_600_000, 29_500, 90_000)] == [
        "59m",
        "1h",
        "30s",
        "2m",
    ]
    assert format_remaining(121) == "02:01"
    assert format_remaining(3725) == "01:02:05"


def test_columnify_pads_every_cell_and_collapses_whitespace() -> None:
    rows = [{"a": "x", "b": "   indented", "c": ""}, {"a": "longer", "b": "y", "c": "✓ LOADED"}]
    assert columnify(rows, ["a", "b", "c"], {"a": "A", "b": "B", "c": ""}).split("\n") == [
        "A     " + "    " + "B        " + "    " + "        ",
        "x     " + "    " + " indented" + "    " + "        ",
        "longer" + "    " + "y        " + "    " + "✓ LOADED",
    ]


def test_columnify_ignores_colour_codes_when_measuring() -> None:
    rows = [{"a": "\x1b[32mok\x1b[39m", "b": "z"}]
    assert columnify(rows, ["a", "b"], {"a": "AA", "b": "B"}).split("\n")[1] == "\x1b[32mok\x1b[39m    z"


def test_locale_key_orders_like_locale_compare() -> None:
    keys = ["qwen/qwen3-4b", "Alpha", "google/gemma-3-1b", "alpha", "qwen/qwen2.5-vl-7b", "_x", "9lives"]
    assert sorted(keys, key=locale_key) == [
        "_x",
        "9lives",
        "alpha",
        "Alpha",
        "google/gemma-3-1b",
        "qwen/qwen2.5-vl-7b",
        "qwen/qwen3-4b",
    ]


def test_fuzzy_matches_subsequences_and_scores_runs() -> None:
    assert fuzzy_match("gma", "google/gemma-3-1b") is not None
    assert fuzzy_match("xyz", "google/gemma-3-1b") is None
    assert fuzzy_match("", "anything") == 0
    keys = ["qwen/qwen2.5-vl-7b", "qwen/qwen3-4b", "text-embedding-qwen3-embedding-0.6b"]
    # greedy like the npm package: "qwen3" runs unbroken in the embedding model's key, so it wins
    assert fuzzy_filter("qwen3", keys) == [2, 1]
    assert fuzzy_filter("", keys) == [0, 1, 2]


def test_commander_suggestions() -> None:
    assert suggest_similar("lss", ["ls", "ps", "get"]) == "\n(Did you mean ls?)"
    assert suggest_similar("--jsn", ["--json", "--llm"]) == "\n(Did you mean --json?)"
    assert suggest_similar("lod", ["load", "log"]) == "\n(Did you mean one of load, log?)"
    assert suggest_similar("zzzzzz", ["ls"]) == ""


def test_js_number_and_refined_parser() -> None:
    assert js_number("") == 0
    assert js_number(" 12 ") == 12
    assert js_number("0x10") == 16
    assert js_number("1e3") == 1000
    assert math.isnan(js_number("abc"))
    assert math.isnan(js_number("1_000"))
    port = refined_number(integer=True, minimum=0, maximum=65535)
    assert port("1234") == 1234
    for text, message in [
        ("x", "Not a number"),
        ("Infinity", "Not a finite number"),
        ("1.5", "Not an integer"),
        ("-1", "Number out of range, must be at least 0"),
        ("70000", "Number out of range, must be at most 65535"),
    ]:
        with pytest.raises(InvalidArgument, match=message):
            port(text)


def test_progress_bar_and_text() -> None:
    assert draw_bar(0) == "▏" + " " * 21
    assert draw_bar(0.284) == "██████▎" + " " * 15
    assert draw_bar(1) == "█" * 22
    text = ProgressText()
    assert text(1.2e9, 4.22e9, 25.3e6) == "1.20 GB / 4.22 GB | 25.30 MB/s | ETA 01:59"
    assert text(1.2e3, 4.22e9, 25.3e6).startswith("1.20 KB / 4.22 GB")
