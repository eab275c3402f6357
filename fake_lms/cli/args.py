"""Command-line parsing with the behaviour of commander.js v14, which real ``lms`` uses.

What matters for fidelity: options may come before or after arguments, ``--opt=value`` and
``-p1234`` forms, combined short flags (``-ya``), ``--`` ends options, and the error texts and
order of checks (invalid option values first, then the first unknown option, then missing or
excess arguments), each printed to stderr with exit status 1. ``-h/--help`` prints help to stdout
and exits 0; a command group called without a subcommand prints its help to stderr and exits 1.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


class UsageError(Exception):
    """A commander error: ``str()`` is the whole message (``error: ...``)."""


class HelpRequested(Exception):
    def __init__(self, text: str, *, to_stderr: bool = False, exit_code: int = 0) -> None:
        super().__init__(text)
        self.text = text
        self.to_stderr = to_stderr
        self.exit_code = exit_code


class InvalidArgument(ValueError):
    """Raised by value parsers; the message follows ``argument 'x' is invalid.``"""


# -- value parsers (lms's createRefinedNumberParser and friends) -----------------------------------

_DECIMAL = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_PREFIXED = re.compile(r"^0([xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)$")


def js_number(text: str) -> float:
    """JavaScript's ``+text``: NaN when it is not a number; the empty string is 0."""
    s = text.strip()
    if s == "":
        return 0.0
    if _DECIMAL.match(s):
        return float(s)
    if _PREFIXED.match(s):
        return float(int(s, 0))
    if s in ("Infinity", "+Infinity"):
        return math.inf
    if s == "-Infinity":
        return -math.inf
    return math.nan


def refined_number(
    *, integer: bool = False, minimum: float | None = None, maximum: float | None = None
) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        num = js_number(text)
        if math.isnan(num):
            raise InvalidArgument("Not a number")
        if not math.isfinite(num):
            raise InvalidArgument("Not a finite number")
        if integer and not num.is_integer():
            raise InvalidArgument("Not an integer")
        if minimum is not None and num < minimum:
            raise InvalidArgument(f"Number out of range, must be at least {_js_str(minimum)}")
        if maximum is not None and num > maximum:
            raise InvalidArgument(f"Number out of range, must be at most {_js_str(maximum)}")
        return int(num) if integer else num

    return parse


def _js_str(num: float) -> str:
    return str(int(num)) if float(num).is_integer() else repr(num)


PORT = refined_number(integer=True, minimum=0, maximum=65535)


# -- declarations ------------------------------------------------------------------------------


@dataclass
class Option:
    flags: str  # commander syntax: "-p, --port <port>", "--cors", "--gpu <ratio>"
    description: str = ""
    parse: Callable[[str], Any] | None = None
    choices: Sequence[str] | None = None
    hidden: bool = False
    default: Any = None
    short: str | None = field(init=False, default=None)
    long: str | None = field(init=False, default=None)
    value: str | None = field(init=False, default=None)  # "<port>" (required) or "[x]" (optional)
    attr: str = field(init=False, default="")
    negate: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        for token in re.split(r"[ ,|]+", self.flags.strip()):
            if token.startswith("--"):
                self.long = token
            elif token.startswith("-"):
                self.short = token
            elif token:
                self.value = token
        name = (self.long or self.short or "").lstrip("-")
        if self.long and name.startswith("no-"):
            self.negate = True
            name = name[3:]
        self.attr = name.replace("-", "_")

    @property
    def takes_value(self) -> bool:
        return self.value is not None

    @property
    def value_required(self) -> bool:
        return self.value is not None and self.value.startswith("<")


@dataclass
class Command:
    name: str
    description: str = ""
    arguments: Sequence[str] = ()  # "[model-key]", "<name>"
    options: Sequence[Option] = ()
    subcommands: Sequence[Command] = ()
    handler: str | None = None  # "module:function", imported only when this command runs
    hidden: bool = False
    group: str | None = None
    passthrough: bool = False  # accept any arguments unparsed (commands the fake does not implement)
    argument_help: dict[str, str] = field(default_factory=dict)
    parent: Command | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for sub in self.subcommands:
            sub.parent = self

    @property
    def path(self) -> str:
        names = []
        node: Command | None = self
        while node is not None:
            names.append(node.name)
            node = node.parent
        return " ".join(reversed(names))

    def find(self, name: str) -> Command | None:
        return next((c for c in self.subcommands if c.name == name), None)


@dataclass
class Parsed:
    command: Command
    options: dict[str, Any]
    arguments: list[str]

    @property
    def name(self) -> str:
        """The command path without the program name, e.g. ``server start``."""
        return self.command.path.split(" ", 1)[1] if " " in self.command.path else ""


HELP_OPTION = Option("-h, --help", "display help for command")


# -- commander's suggestions ---------------------------------------------------------------------


def _edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance (commander's ``editDistance``)."""
    if abs(len(a) - len(b)) > 3:
        return max(len(a), len(b))
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for j in range(1, len(b) + 1):
        for i in range(1, len(a) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def suggest_similar(word: str, candidates: Sequence[str]) -> str:
    """commander's ``suggestSimilar``: ``\\n(Did you mean x?)`` or empty."""
    cands = list(dict.fromkeys(candidates))
    options = word.startswith("--")
    if options:
        word = word[2:]
        cands = [c[2:] for c in cands]
    similar: list[str] = []
    best = 3
    for cand in cands:
        if len(cand) <= 1:
            continue
        distance = _edit_distance(word, cand)
        length = max(len(word), len(cand))
        if (length - distance) / length > 0.4:
            if distance < best:
                best, similar = distance, [cand]
            elif distance == best:
                similar.append(cand)
    similar.sort()
    if options:
        similar = [f"--{c}" for c in similar]
    if len(similar) > 1:
        return f"\n(Did you mean one of {', '.join(similar)}?)"
    if len(similar) == 1:
        return f"\n(Did you mean {similar[0]}?)"
    return ""


# -- parsing -----------------------------------------------------------------------------------


def parse(program: Command, argv: Sequence[str]) -> Parsed:
    command = program
    args = list(argv)
    while command.subcommands:
        if not args:
            raise HelpRequested(help_text(command), to_stderr=True, exit_code=1)
        first = args[0]
        if first in ("-h", "--help"):
            raise HelpRequested(help_text(command))
        if first.startswith("-") and len(first) > 1:
            raise UsageError(f"error: unknown option '{first}'")
        if first == "help":
            target = command.find(args[1]) if len(args) > 1 else None
            raise HelpRequested(help_text(target or command))
        sub = command.find(first)
        if sub is None:
            visible = [c.name for c in command.subcommands if not c.hidden] + ["help"]
            raise UsageError(f"error: unknown command '{first}'{suggest_similar(first, visible)}")
        command, args = sub, args[1:]
    if command.passthrough:
        return Parsed(command, {}, args)
    return _parse_leaf(command, args)


def _set(command: Command, opt: Option, raw: str | bool, values: dict[str, Any]) -> None:
    if isinstance(raw, bool):
        values[opt.attr] = raw
        return
    if opt.choices is not None and raw not in opt.choices:
        raise UsageError(
            f"error: option '{opt.flags}' argument '{raw}' is invalid. "
            f"Allowed choices are {', '.join(opt.choices)}."
        )
    if opt.parse is not None:
        try:
            values[opt.attr] = opt.parse(raw)
        except InvalidArgument as exc:
            raise UsageError(f"error: option '{opt.flags}' argument '{raw}' is invalid. {exc}") from None
    else:
        values[opt.attr] = raw


def _parse_leaf(command: Command, args: list[str]) -> Parsed:
    options = [*command.options, HELP_OPTION]
    by_long = {o.long: o for o in options if o.long}
    by_short = {o.short: o for o in options if o.short}
    values: dict[str, Any] = {o.attr: o.default for o in command.options}
    positional: list[str] = []
    unknown: str | None = None
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            positional.extend(args[i:])
            break
        if arg.startswith("--"):
            name, eq, inline = arg.partition("=")
            opt = by_long.get(name)
            if opt is None or (eq and not opt.takes_value):
                unknown = arg
                break
            if opt is HELP_OPTION:
                raise HelpRequested(help_text(command))
            if not opt.takes_value:
                _set(command, opt, not opt.negate, values)
            elif eq:
                _set(command, opt, inline, values)
            elif opt.value_required:
                if i >= len(args):
                    raise UsageError(f"error: option '{opt.flags}' argument missing")
                _set(command, opt, args[i], values)
                i += 1
            elif i < len(args) and not args[i].startswith("-"):
                _set(command, opt, args[i], values)
                i += 1
            else:
                _set(command, opt, True, values)
        elif arg.startswith("-") and len(arg) > 1:
            opt = by_short.get(arg[:2])
            if opt is None:
                unknown = arg
                break
            if opt is HELP_OPTION:
                raise HelpRequested(help_text(command))
            if opt.takes_value:
                if len(arg) > 2:
                    _set(command, opt, arg[2:], values)
                elif opt.value_required:
                    if i >= len(args):
                        raise UsageError(f"error: option '{opt.flags}' argument missing")
                    _set(command, opt, args[i], values)
                    i += 1
                else:
                    _set(command, opt, True, values)
            else:
                _set(command, opt, True, values)
                if len(arg) > 2:  # combined short flags: -ya -> -y -a
                    args.insert(i, "-" + arg[2:])
        else:
            positional.append(arg)
    if unknown is not None:
        candidates = [o.long for o in command.options if o.long and not o.hidden]  # lms hides --help
        raise UsageError(f"error: unknown option '{unknown}'{suggest_similar(unknown, candidates)}")
    required = [a for a in command.arguments if a.startswith("<")]
    if len(positional) < len(required):
        name = required[len(positional)].strip("<>")
        raise UsageError(f"error: missing required argument '{name}'")
    if len(positional) > len(command.arguments):
        expected = len(command.arguments)
        raise UsageError(
            f"error: too many arguments for '{command.name}'. Expected {expected} "
            f"argument{'' if expected == 1 else 's'} but got {len(positional)}."
        )
    return Parsed(command, values, positional)


# -- help --------------------------------------------------------------------------------------


def _rows(pairs: list[tuple[str, str]]) -> list[str]:
    width = max((len(term) for term, _ in pairs), default=0)
    return [f"  {term.ljust(width)}  {desc}".rstrip() for term, desc in pairs]


def help_text(command: Command) -> str:
    """Help in commander's layout (usage, description, arguments, options, commands)."""
    usage = command.path
    if command.subcommands:
        usage += " [options] [command]"
    else:
        usage += " [options]" + "".join(f" {a}" for a in command.arguments)
    lines = [f"Usage: {usage}", ""]
    if command.description:
        lines += [command.description, ""]
    if command.arguments:
        lines.append("Arguments:")
        lines += _rows([(a.strip("<>[]"), command.argument_help.get(a, "")) for a in command.arguments])
        lines.append("")
    lines.append("Options:")
    lines += _rows(
        [(o.flags, o.description) for o in command.options if not o.hidden]
        + [(HELP_OPTION.flags, HELP_OPTION.description)]
    )
    if command.subcommands:
        groups: dict[str, list[Command]] = {}
        for sub in command.subcommands:
            if not sub.hidden:
                groups.setdefault(sub.group or "Commands:", []).append(sub)
        titles = list(groups)
        for title in titles:
            pairs = [(sub.name, sub.description) for sub in groups[title]]
            if title == titles[-1]:
                pairs.append(("help [command]", "display help for command"))
            lines += ["", title, *_rows(pairs)]
    return "\n".join(lines) + "\n"
