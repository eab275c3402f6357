"""How the fake ``lms`` writes: streams, chalk-like colours, lms's logger, and lms's number formats.

Real ``lms`` (spec §4.2) writes data (``--json``, tables) to stdout with ``console.info`` and every
message through a logger bound to stderr: info without a prefix, warnings prefixed ``W``, errors
prefixed ``Error:``. Colours follow chalk's rules: on when stdout is a terminal (or ``FORCE_COLOR``
says so), off otherwise. Output is always UTF-8, as Node writes it.
"""

from __future__ import annotations

import math
import os
import re
import sys
import unicodedata
from decimal import ROUND_HALF_UP, Decimal
from typing import BinaryIO

# -- colours -----------------------------------------------------------------------------------


def colour_enabled(stream: BinaryIO | None = None) -> bool:
    """chalk's auto-detection (supports-color): FORCE_COLOR wins, then "is it a terminal"."""
    force = os.environ.get("FORCE_COLOR")
    if force is not None:
        return force not in ("0", "false")
    stream = stream if stream is not None else sys.stdout.buffer
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return tty and os.environ.get("TERM") != "dumb"


class Style:
    """The few chalk styles lms uses; identity functions when colours are off."""

    _CODES = {
        "red": (31, 39),
        "green": (32, 39),
        "yellow": (33, 39),
        "blue": (34, 39),
        "cyan": (36, 39),
        "red_bright": (91, 39),
        "green_bright": (92, 39),
        "yellow_bright": (93, 39),
        "blue_bright": (94, 39),
        "dim": (2, 22),
        "bold": (1, 22),
    }

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __getattr__(self, name: str):
        codes = self._CODES.get(name)
        if codes is None:
            raise AttributeError(name)
        opening, closing = codes

        def paint(text: object) -> str:
            text = str(text)
            if not self.enabled or not text:
                return text
            return f"\x1b[{opening}m{text}\x1b[{closing}m"

        return paint


# -- streams -----------------------------------------------------------------------------------


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False


class Console:
    """stdout and stderr as UTF-8 byte streams (Node never transcodes), flushed after each write."""

    def __init__(self, stdout: BinaryIO | None = None, stderr: BinaryIO | None = None) -> None:
        self.stdout = stdout if stdout is not None else sys.stdout.buffer
        self.stderr = stderr if stderr is not None else sys.stderr.buffer
        self.stdout_tty = _isatty(self.stdout)
        self.stdin_tty = _isatty(sys.stdin)
        self.closed = False  # the reader of stdout went away (`lms log stream | head -1`)

    def _write(self, stream: BinaryIO, text: str) -> None:
        try:
            stream.write(text.encode("utf-8", "replace"))
            stream.flush()
        except BrokenPipeError:
            self.closed = True
            try:  # the Python docs' recipe: no "Exception ignored" noise when the interpreter exits
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
            except (OSError, ValueError, AttributeError):
                pass

    def write_out(self, text: str) -> None:
        self._write(self.stdout, text)

    def write_err(self, text: str) -> None:
        self._write(self.stderr, text)

    def out(self, *parts: object) -> None:
        """``console.info(...)``: the parts joined by spaces, then a newline, on stdout."""
        self.write_out(" ".join(str(p) for p in parts) + "\n")

    def err(self, *parts: object) -> None:
        self.write_err(" ".join(str(p) for p in parts) + "\n")

    def ask(self, prompt: str) -> str | None:
        """Prompt on stderr and read one line from stdin; None at end of input or on Ctrl-C."""
        self.write_err(prompt)
        try:
            line = sys.stdin.readline()
        except (KeyboardInterrupt, OSError, ValueError):
            return None
        return line.rstrip("\r\n") if line else None

    def choose(self, message: str, labels: list[str]) -> int | None:
        """A minimal stand-in for lms's interactive pickers: a numbered list, a number on stdin."""
        for number, label in enumerate(labels, 1):
            self.err(f"  {number}) {label}")
        answer = self.ask(f"{message} ")
        try:
            index = int((answer or "").strip()) - 1
        except ValueError:
            return None
        return index if 0 <= index < len(labels) else None


LOG_LEVELS = ("debug", "info", "warn", "error", "none")


class Logger:
    """lms's ``createLogger``: a SimpleLogger writing every level to stderr."""

    def __init__(self, console: Console, style: Style, level: str = "info", verbose: bool = False) -> None:
        self.console = console
        self.style = style
        rank = LOG_LEVELS.index(level)
        self.enabled = {name: rank <= LOG_LEVELS.index(name) for name in ("debug", "info", "warn", "error")}
        # --verbose / --log-level debug bring back the default "I" prefix on info lines
        self.info_prefix = [style.green_bright("I")] if verbose or level == "debug" else []

    def _emit(self, level: str, prefix: list[str], parts: tuple[object, ...]) -> None:
        if self.enabled[level]:
            self.console.err(*prefix, *parts)

    def debug(self, *parts: object) -> None:
        self._emit("debug", [self.style.blue_bright("D")], parts)

    def info(self, *parts: object) -> None:
        self._emit("info", self.info_prefix, parts)

    def info_without_prefix(self, *parts: object) -> None:
        self._emit("info", [], parts)

    def warn(self, *parts: object) -> None:
        self._emit("warn", [self.style.yellow_bright("W")], parts)

    def error(self, *parts: object) -> None:
        self._emit("error", [self.style.red_bright("Error:")], parts)

    def error_without_prefix(self, *parts: object) -> None:
        self._emit("error", [], parts)

    def titled_error(self, title: str, body: str) -> None:
        """``makeTitledPrettyError``: red title, blank line, body; no ``Error:`` prefix."""
        self.error_without_prefix(self.style.red_bright(title) + "\n\n" + body)


# -- JavaScript number formatting ----------------------------------------------------------------


def to_fixed(value: float, digits: int) -> str:
    """``Number.prototype.toFixed``: round half up on the exact binary value (Python rounds half-even)."""
    if math.isnan(value):
        return "NaN"
    quantum = Decimal(1).scaleb(-digits)
    return str(Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP))


def js_round(value: float) -> int:
    """``Math.round``: halves round towards +infinity."""
    return math.floor(value + 0.5)


def format_size_1000(size: float) -> str:
    """lms's ``formatSizeBytes1000`` (file and download sizes): ``2.50 GB``."""
    if size < 1e3:
        return f"{int(size)} B"
    if size < 1e6:
        return f"{to_fixed(size / 1e3, 2)} KB"
    if size < 1e9:
        return f"{to_fixed(size / 1e6, 2)} MB"
    if size < 1e12:
        return f"{to_fixed(size / 1e9, 2)} GB"
    return f"{to_fixed(size / 1e12, 2)} TB"


_UNITS_1024 = ("Bytes", "KiB", "MiB", "GiB", "TiB")


def format_size_1024(size: float) -> str:
    """lms's ``formatSizeBytes1024`` (memory sizes): ``4.37 GiB``."""
    if size == 0:
        return "0 Bytes"
    index = min(math.floor(math.log(size) / math.log(1024)), len(_UNITS_1024) - 1)
    value = size / 1024**index
    return f"{to_fixed(value, 0 if index == 0 else 2)} {_UNITS_1024[index]}"


def format_elapsed(ms: float) -> str:
    """lms's ``formatElapsedTime``: ``850.00ms``, ``5.23s``, ``1m 5.00s``, ``1h 0m 3.00s``."""
    segments: list[str] = []
    started = False
    if ms >= 3_600_000:
        hours = math.floor(ms / 3_600_000)
        segments.append(f"{hours}h")
        ms -= hours * 3_600_000
        started = True
    if ms >= 60_000 or started:
        minutes = math.floor(ms / 60_000)
        segments.append(f"{minutes}m")
        ms -= minutes * 60_000
        started = True
    if ms >= 1000 or started:
        segments.append(f"{to_fixed(ms / 1000, 2)}s")
        started = True
    if not started:
        segments.append(f"{to_fixed(ms, 2)}ms")
    return " ".join(segments)


def format_time_lean(ms: float) -> str:
    """lms's ``formatTimeLean`` (the TTL column of ``lms ps``): ``59m``, ``1h``, ``30s``."""
    if ms >= 3_600_000:
        return f"{js_round(ms / 3_600_000)}h"
    if ms >= 60_000:
        return f"{js_round(ms / 60_000)}m"
    return f"{js_round(ms / 1000)}s"


def format_remaining(seconds: int) -> str:
    """The ETA of ``lms get``'s progress bar: ``MM:SS`` or ``HH:MM:SS``."""
    secs, minutes, hours = seconds % 60, (seconds // 60) % 60, seconds // 3600
    if hours > 0:
        return f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{minutes:02d}:{secs:02d}"


# -- tables ------------------------------------------------------------------------------------


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_SPACES = re.compile(r"\s+")


def display_width(text: str) -> int:
    """Terminal columns of ``text``: colour codes count zero, wide East Asian characters two."""
    width = 0
    for ch in _ANSI.sub("", text):
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def columnify(rows: list[dict[str, str]], columns: list[str], headings: dict[str, str]) -> str:
    """The npm ``columnify`` layout lms uses: a heading row, runs of whitespace in a cell collapsed to
    one space, every cell (the last one too) padded right to its column's width, columns joined by
    four spaces."""
    table = [dict(headings), *rows]
    cells = [[_SPACES.sub(" ", str(row.get(col) or "")) for col in columns] for row in table]
    widths = [max(display_width(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join(
        "    ".join(cell + " " * (widths[i] - display_width(cell)) for i, cell in enumerate(line))
        for line in cells
    )


# -- String.prototype.localeCompare, approximately -------------------------------------------------

# ICU's root collation orders punctuation before digits before letters, case-insensitively first
_PUNCTUATION = "_-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$"


def locale_key(text: str) -> tuple[tuple[tuple[int, int], ...], tuple[int, ...]]:
    """A sort key approximating ``a.localeCompare(b)`` in an English locale."""
    primary = []
    tertiary = []
    for ch in text:
        low = ch.lower()
        if ch.isspace():
            primary.append((0, 0))
        elif low in _PUNCTUATION:
            primary.append((1, _PUNCTUATION.index(low)))
        elif ch.isdigit():
            primary.append((3, ord(ch)))
        elif ch.isalpha():
            primary.append((4, ord(low)))
        else:
            primary.append((2, ord(ch)))
        tertiary.append(1 if ch.isupper() else 0)
    return tuple(primary), tuple(tertiary)
